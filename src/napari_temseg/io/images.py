"""Image files in, label files out, with errors that name the file and the problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from ..errors import TemsegError

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp")


def read_image(path: str | Path) -> np.ndarray:
    """Read one image file (TIFF, PNG, JPEG, BMP) as an array, as stored (no conversion)."""
    path = Path(path)
    if not path.exists():
        raise TemsegError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise TemsegError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(IMAGE_SUFFIXES)}")
    try:
        if suffix in (".tif", ".tiff"):
            data = tifffile.imread(path)
        else:
            import imageio.v3 as iio

            data = iio.imread(path)
    except Exception as err:  # corrupt or truncated files raise many different types
        raise TemsegError(f"{path}: cannot read image ({type(err).__name__}: {err})") from None
    if data.size == 0:
        raise TemsegError(f"{path}: cannot read image (no pixels: the file is truncated or corrupt)")
    return data


def _frame_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise TemsegError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    return files


def read_stack(path: str | Path):
    """Open a (T, Y, X) time stack: a multi-page TIFF, or a folder of frame images.

    A folder becomes a lazy dask array (one frame read at a time); every frame
    must have the first frame's shape and dtype.
    """
    path = Path(path)
    if path.is_dir():
        import dask
        import dask.array as da

        files = _frame_files(path)
        first = read_image(files[0])
        for f in files[1:]:
            with_shape = _peek_shape(f)
            if with_shape is not None and with_shape != first.shape:
                raise TemsegError(
                    f"{f}: frame shape {with_shape} differs from {files[0].name}'s {first.shape}; "
                    "all frames of a video must have one shape"
                )
        frames = [
            da.from_delayed(dask.delayed(_read_frame)(f, first.shape), first.shape, first.dtype)
            for f in files
        ]
        return da.stack(frames)
    stack = read_image(path)
    if stack.ndim == 2:
        stack = stack[None]
    if stack.ndim == 4 and stack.shape[-1] in (3, 4):
        return stack
    if stack.ndim != 3:
        raise TemsegError(f"{path}: expected a (T, Y, X) stack, got shape {stack.shape}")
    return stack


def _peek_shape(path: Path) -> tuple[int, ...] | None:
    """Shape from the file header where that is cheap (TIFF), else None."""
    if path.suffix.lower() in (".tif", ".tiff"):
        try:
            with tifffile.TiffFile(path) as tif:
                return tuple(tif.series[0].shape)
        except Exception as err:
            raise TemsegError(f"{path}: cannot read TIFF header ({err})") from None
    return None


def _read_frame(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    frame = read_image(path)
    if frame.shape != shape:
        raise TemsegError(f"{path}: frame shape {frame.shape} differs from the first frame's {shape}")
    return frame


def write_labels_tiff(path: str | Path, labels: np.ndarray) -> Path:
    """Write uint32 instance labels as a compressed TIFF; returns the path."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(path, np.asarray(labels, dtype=np.uint32), compression="zlib")
    except OSError as err:
        raise TemsegError(f"{path}: cannot write labels ({err.strerror or err})") from None
    return path
