"""Movie files (.mp4, .avi, .mov, ...): in-situ videos as acquisition software and screen
recorders export them, read lazily through the FFmpeg that OpenCV's wheels carry.

A movie holds no calibration, and its frame rate is the rate it plays at, which an export
may have sped up: both are left unknown (--pixel-size, --frame-interval), and the rate is
kept in the video's metadata and said. Frames shown in colour are read as grey: their one
channel where the three are equal (a grey micrograph), else the luminance.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import numpy as np

from ..errors import TemsegError
from ..opencv import opencv

#: Movie containers read (what FFmpeg decodes in them: H.264, MJPEG, raw, ...).
MOVIE_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".wmv")

#: Codecs (FourCC, lower case) that code every pixel exactly: FFV1, HuffYUV, PNG, Lagarith,
#: Ut Video, MagicYUV (as OpenCV and FFmpeg tag them), LOCO, MSZH, ZLIB, run-length
#: (Microsoft, QuickTime Animation, TechSmith) and raw grey, colour or YUV frames. (A colour
#: conversion on the way may still merge neighbouring grey levels; one level stays one.) The
#: others spread a burned-in mark's one grey level over several, and `annotations`, which
#: finds marks by that one level, finds none there; in them marks are found by staying still.
LOSSLESS_CODECS = {"ffv1", "hfyu", "ffvh", "png ", "mpng", "lags", "zlib", "mszh", "loco", "mrle", "rle ", "tscc",
                   "uly0", "uly2", "uly4", "ulh0", "ulh2", "ulh4", "ulrg", "ulra", "uqy0", "uqy2", "uqrg", "uqra",
                   "umy2", "umy4", "umh2", "umh4", "magy", "m8rg", "m8ra", "m8y0", "m8y2", "m8y4", "m8ya", "m8g0",
                   "y800", "y8  ", "y16 ", "b16g", "grey", "gray", "rgba", "bgra", "dib ", "raw ", "yuy2", "yuyv",
                   "uyvy", "i420", "iyuv", "yv12", "nv12", "v210", "2vuy", "\0\0\0\0"}


class MovieFrames:
    """Frame t of a movie, decoded on demand. Reading on from the last frame read costs one
    decode; another frame, a seek first. One open decoder per process (it is reopened after
    pickling, for worker processes), used by one thread at a time."""

    def __init__(self, path: Path, raw: bool = False) -> None:
        self.path = path
        self.raw = raw  # decoded frames as stored (16-bit grey), not converted to 8-bit colour
        self._capture = None
        self._next = 0
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {"path": self.path, "raw": self.raw}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"], state["raw"])

    def _open(self):
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's own lines: our errors say what matters
        cv2 = opencv()
        capture = _as_stored(self.path) if self.raw else cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            raise TemsegError(f"{self.path}: cannot open this movie (damaged, or a codec FFmpeg does not decode); "
                              "export its frames as a TIFF stack or a folder of TIFF or PNG files")
        return capture

    def __call__(self, t: int) -> np.ndarray:
        with self._lock:
            ok, frame = self._read(t)
            self._next = t + 1 if ok else -1  # after a failed read, seek again
        if not ok or frame is None:
            raise TemsegError(f"{self.path}: frame {t} cannot be decoded (a damaged or cut movie)")
        return grey(frame)

    def _read(self, t: int):
        """(ok, frame t): on from the last frame read, else by a seek; where the seek fails (a
        movie of one frame, or an image, cannot seek back to its start) from a fresh decoder,
        frame by frame."""
        if self._capture is None:
            self._capture = self._open()
        if t == self._next:
            return self._capture.read()
        if self._capture.set(opencv().CAP_PROP_POS_FRAMES, t):
            ok, frame = self._capture.read()
            if ok:
                return ok, frame
        self._capture.release()
        self._capture = self._open()
        for _ in range(t):
            if not self._capture.grab():
                return False, None
        return self._capture.read()

    def close(self) -> None:
        with self._lock:
            if self._capture is not None:
                self._capture.release()
            self._capture, self._next = None, 0


def grey(frame: np.ndarray) -> np.ndarray:
    """A decoded (Y, X[, 3|4]) BGR frame as (Y, X) grey: the one channel of a grey picture
    stored in colour, else the luminance (ITU-R 601, as the codecs' own)."""
    if frame.ndim == 2:
        return frame
    colour = frame[..., :3]
    if np.array_equal(colour[..., 0], colour[..., 1]) and np.array_equal(colour[..., 1], colour[..., 2]):
        return np.ascontiguousarray(colour[..., 0])
    luminance = colour[..., 2] * 0.299 + colour[..., 1] * 0.587 + colour[..., 0] * 0.114
    return np.round(luminance).astype(frame.dtype)


def is_16_bit(path: Path) -> bool:
    """Whether a movie's frames are 16-bit grey (FFV1 can hold them): OpenCV converts every
    frame to 8-bit colour unless asked not to, and such a movie lost its low 8 bits silently.
    Read as stored, other formats come in shapes of their own, so only this one is."""
    with _quiet():
        capture = _as_stored(path)
        ok, frame = capture.read() if capture.isOpened() else (False, None)
        capture.release()
    return bool(ok) and frame is not None and frame.ndim == 2 and frame.dtype == np.uint16


def _as_stored(path: Path):
    """A decoder of `path` that leaves frames as stored (no conversion to 8-bit colour),
    without OpenCV's warning that it does so."""
    cv2 = opencv()
    with _quiet():
        return cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_CONVERT_RGB, 0])


@contextlib.contextmanager
def _quiet():
    """OpenCV's own warnings off (frames read as stored: 'conversion turned off', 'unsupported
    picture format'): what matters is said by our errors and notes."""
    logging = opencv().utils.logging
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        logging.setLogLevel(level)


def movie_header(path: Path) -> tuple[int, tuple[int, int], np.dtype, float | None, str, bool, str | None]:
    """(frame count, (Y, X), dtype, frames per second or None, note, 16-bit grey, its codec
    where that is lossy else None) of a movie, checked: the count its container declares
    where its last frame decodes, else the frames counted by decoding them all (a container
    without an index, or a cut one: the note says so)."""
    raw = is_16_bit(path)
    frames = MovieFrames(path, raw)
    try:
        first = frames(0)
    except TemsegError:
        raise TemsegError(f"{path}: no frame of this movie can be decoded (damaged, or a codec FFmpeg does not "
                          "decode); export its frames as a TIFF stack") from None
    cv2 = opencv()
    capture = frames._capture
    declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0)
    code = int(capture.get(cv2.CAP_PROP_FOURCC) or 0)
    codec = "".join(chr((code >> 8 * i) & 0xFF) for i in range(4))
    count = declared if declared > 0 and _decodes(frames, declared - 1) else _count_by_decoding(path, raw)
    frames.close()
    notes = []
    if 0 < count < declared:
        notes.append(f"the movie declares {declared} frames but only its first {count} decode (cut or damaged): "
                     "those are read")
    lossy = codec.lower() not in LOSSLESS_CODECS
    if lossy:
        notes.append(f"its codec ({codec.strip() or 'unknown'}) is lossy: burned-in marks are found only by staying "
                     "still from frame to frame with a bar or box of their own (bare text, or a mark on one frame "
                     "segmented alone, is taken for particles); crop such marks away, or export the frames "
                     "losslessly (TIFF)")
    fps = fps if np.isfinite(fps) and fps > 0 else None
    return count, first.shape, first.dtype, fps, "; ".join(notes), raw, (codec.strip() or "unknown") if lossy else None


def _decodes(frames: MovieFrames, t: int) -> bool:
    try:
        frames(t)
    except TemsegError:
        return False
    return True


def _count_by_decoding(path: Path, raw: bool) -> int:
    """Frames that decode, from the first on, until the first that does not (`raw`: read as
    stored, `MovieFrames`)."""
    capture = MovieFrames(path, raw)._open()
    count = 0
    while capture.grab():
        count += 1
    capture.release()
    return count
