"""Open in-situ TEM videos lazily, with their pixel size in nm.

Multi-page and BigTIFF stacks, folders of frames, the TEM formats rosettasciio
reads lazily (.dm3/.dm4, .ser, .emd Velox and NCEM, .mrc, ...) and movies
(.mp4, .avi, ...: `movies`) become (T, Y, X) dask arrays: no pixel is read until
a frame is asked for.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..errors import TemsegError, short_reason
from ..units import SECONDS_PER_UNIT, as_read, to_nm, unit_key
from .images import IMAGE_SUFFIXES, frame_files, lazy_stack, read_stack
from .movies import MOVIE_SUFFIXES, MovieFrames, movie_header

#: File suffix -> rosettasciio plugin module.
TEM_FORMATS = {
    ".dm3": "digitalmicrograph",
    ".dm4": "digitalmicrograph",
    ".ser": "tia",
    ".emd": "emd",
    ".mrc": "mrc",
    ".blo": "blockfile",
    ".tvips": "tvips",
    ".hspy": "hspy",
}

@dataclass
class Video:
    """data: (T, Y, X) dask array; pixel_size_nm and frame_interval_s: None when the file
    does not say. A file whose pixels are not square has no one pixel size (sizes stay in
    px): `pixel_yx_nm` keeps its two, for the layer's scale, and `pixel_note` says why."""

    data: object
    pixel_size_nm: float | None = None
    source: str = ""
    metadata: dict = field(default_factory=dict)
    frame_interval_s: float | None = None
    pixel_yx_nm: tuple[float, float] | None = None
    pixel_note: str = ""

    @property
    def scale(self) -> tuple[float, float, float]:
        """napari layer scale (t, y, x): nm per pixel where known, else 1."""
        return (1.0, *layer_scale(self.pixel_size_nm, self.pixel_yx_nm))

    @property
    def calibration(self) -> Calibration:
        """The pixel size this video's file gave (or the one set since)."""
        return Calibration(self.pixel_size_nm, self.pixel_yx_nm, self.pixel_note)


def layer_scale(pixel_size_nm: float | None, pixel_yx_nm: tuple[float, float] | None = None) -> tuple[float, float]:
    """A layer's (Y, X) scale: the pixel size in nm, else the sides of pixels that are not
    square, else 1 (pixels)."""
    if pixel_size_nm is None and pixel_yx_nm is not None:
        return tuple(pixel_yx_nm)
    return (pixel_size_nm or 1.0,) * 2


class Calibration(NamedTuple):
    """A file's pixel size: `nm` where its pixels are square (None where unknown or not
    square), both sides (`yx_nm`) where known, and a sentence where they are not square."""

    nm: float | None = None
    yx_nm: tuple[float, float] | None = None
    note: str = ""


def calibration(y_nm: float | None, x_nm: float | None) -> Calibration:
    """The Calibration of pixels y_nm tall and x_nm wide (one of them may be unknown: the
    other stands for both). Sizes in nm need square pixels: a file whose pixels are not
    gives none, and says so, rather than sizes taken along one axis. A side that is not a
    positive number (NaN, 0, negative: a damaged header) is unknown."""
    y_nm, x_nm = (as_read(v) if v is not None and np.isfinite(v) and v > 0 else None for v in (y_nm, x_nm))
    if y_nm is None or x_nm is None:
        return Calibration(x_nm if y_nm is None else y_nm)
    if np.isclose(y_nm, x_nm, rtol=1e-3):
        return Calibration(x_nm, (x_nm, x_nm))
    return Calibration(None, (y_nm, x_nm), f"the file's pixels are not square ({y_nm:.4g} nm tall, {x_nm:.4g} nm "
                                          "wide): sizes in px; resample to square pixels or give --pixel-size")


class Micrograph(NamedTuple):
    """One image as stored and its file's Calibration."""

    image: np.ndarray
    calibration: Calibration

    @property
    def pixel_size_nm(self) -> float | None:
        return self.calibration.nm


def pixel_size_from_scale(scale, recorded: float | None = None, unit=None) -> float | None:
    """The pixel size (nm) a napari layer's scale gives, in its `unit` where that is a length
    (µm, Å, m: pint units as napari keeps them, or their names) and as nm otherwise (napari's
    default unit, pixels); a scale of 1 in pixels counts only where a reader recorded 1 nm/px
    (our reader sets the scale in nm/px; a scale the user corrects wins). None where unknown
    or where pixels are not square, so that no size is given in nm that is not one."""
    y, x = (float(v) for v in tuple(scale)[-2:])
    if x != y:
        return None
    to_nm = _nm_per(unit)
    if to_nm is not None:
        return x * to_nm
    return x if x != 1.0 or recorded == 1.0 else None


def _nm_per(unit) -> float | None:
    """nm per `unit` when it is a length, else None."""
    return _per(unit, "nm")


def _per(unit, target: str) -> float | None:
    """`target` units per `unit` (a pint unit or its name) where the two measure the same
    thing (a length, a time), else None."""
    if unit is None:
        return None
    try:
        import pint

        quantity = 1 * (pint.get_application_registry()(str(unit)) if isinstance(unit, str) else unit)
        return float(quantity.to(target).magnitude)
    except Exception:  # noqa: BLE001 - pixels, another dimension, unknown names: not convertible
        return None


def to_seconds(value: float, unit: str | None) -> float | None:
    """A time in `unit` (a name as files write them, or a pint unit as napari keeps them) as
    seconds, or None for an unknown unit or a value that is no interval."""
    factor = SECONDS_PER_UNIT.get(unit_key(unit), None if isinstance(unit, str) else _per(unit, "s"))
    try:
        seconds = float(value) * factor if factor is not None else None
    except (TypeError, ValueError):
        return None
    return seconds if seconds is not None and np.isfinite(seconds) and seconds > 0 else None


def open_video(path: str | Path) -> Video:
    """Open a video file or frame folder lazily; raise TemsegError naming the problem otherwise."""
    path = Path(path)
    if not path.exists():
        raise TemsegError(f"{path}: no such file or folder")
    if path.is_dir():
        if (path / "run.json").is_file() and (path / "labels.zarr").exists():
            raise TemsegError(f"{path}: is a `temseg track` results folder, not a video; give the video it was "
                              "tracked from (or open the folder in napari to review it)")
        files = frame_files(path)
        if len(files) == 1:  # a folder holding the stack file: its one page would be the video
            raise TemsegError(f"{path}: holds one image file; give the file itself ({files[0]}) to track a stack, "
                              "or a folder of one file per frame")
        return _calibrated(Video(read_stack(path), source=str(path)), _folder_calibration(files))
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        return _open_tiff(path)
    if suffix in TEM_FORMATS:
        return _open_rsciio(path, TEM_FORMATS[suffix])
    if suffix in MOVIE_SUFFIXES:
        return _open_movie(path)
    if suffix in IMAGE_SUFFIXES:
        return Video(read_stack(path), None, str(path))
    raise TemsegError(
        f"{path}: unknown video format {suffix!r}; supported: TIFF, a folder of frames, "
        f"{', '.join(sorted([*TEM_FORMATS, *MOVIE_SUFFIXES]))}"
    )


def _open_movie(path: Path) -> Video:
    """A movie's frames as grey (16-bit grey kept), lazily; no pixel size or frame interval
    (`movies`): the rate it plays at is kept as `movie_fps` in the metadata, and `note` says
    where frames are missing from a cut movie or its codec is lossy; `lossy_codec` names a
    lossy codec, whose frayed marks a time stack looks for by their staying still
    (`segmentation.stack_marks`)."""
    count, shape, dtype, fps, note, raw, lossy = movie_header(path)
    metadata = {**({"movie_fps": fps} if fps else {}), **({"note": note} if note else {}),
                **({"lossy_codec": lossy} if lossy else {})}
    return Video(lazy_stack(MovieFrames(path, raw), count, shape, dtype), source=str(path), metadata=metadata)


#: Largest frame of a stack that is read (pixels): cameras give up to 8k x 8k; the tracking
#: pipeline holds several float copies of a frame, so a header that declares far more (a
#: damaged one) would exhaust the memory before any error could be raised.
MAX_FRAME_PIXELS = 2**28


def _open_tiff(path: Path) -> Video:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series, page_per_frame = _video_series(path, tif)
            shape, dtype, axes = tuple(series.shape), series.dtype, str(series.axes)
            n_pages = len(series.pages)
            end = _data_end(tif, series)
            if page_per_frame:
                shape, n_pages, end = (len(tif.series), *shape), len(tif.series), _data_end(tif, tif.series[-1])
            imagej = tif.imagej_metadata or {}
            promised = int(imagej.get("images", 0))
            interval = to_seconds(imagej.get("finterval", 0), imagej.get("tunit", "sec"))
            if interval is None and tif.is_ome and tif.ome_metadata:
                interval = _ome_interval(tif.ome_metadata)
    except TemsegError:
        raise
    except Exception as err:  # noqa: BLE001 - tifffile raises many kinds for damaged files
        raise TemsegError(f"{path}: cannot read TIFF ({type(err).__name__}: {err})") from None
    size = path.stat().st_size
    colour = shape[-1] in (3, 4) and axes.endswith("S")  # RGB(A) frames: (Y, X, S) per page
    plane = 3 if colour else 2
    if len(shape) > plane + 1:
        raise TemsegError(f"{path}: a {len(shape)}-D stack (axes {axes}, shape {shape}); tracking takes one "
                          "(T, Y, X) series: save a single Z plane or channel of it first")
    frames = shape[0] if len(shape) == plane + 1 else 1
    if promised > frames:
        raise TemsegError(f"{path}: the file is truncated or corrupt: it promises {promised} frames, {frames} can be read")
    if end is not None and end > size:
        raise TemsegError(f"{path}: the file is truncated ({size} bytes, its frames need {end}); re-copy it")
    if len(shape) == plane:
        shape = (1, *shape)
    pixels = int(np.prod(shape[1:3], dtype=np.int64))
    if pixels > MAX_FRAME_PIXELS:
        raise TemsegError(
            f"{path}: its header declares {' x '.join(map(str, shape[1:3]))} frames ({pixels / 2**20:.0f} Mpx each); "
            f"above {MAX_FRAME_PIXELS // 2**20} Mpx (16384²) they are not read (a damaged header, or bin or crop the "
            "frames first)"
        )
    if n_pages != shape[0]:
        raise TemsegError(
            f"{path}: expected a (T, Y, X) stack of one page per frame, got shape {shape} in {n_pages} "
            f"page(s) (a first axis of 3 or 4 may have been stored as colour samples: write the stack "
            f"with tifffile.imwrite(..., imagej=True, metadata={{'axes': 'TYX'}}))"
        )

    def page(i: int) -> np.ndarray:
        try:
            frame = tifffile.imread(path, key=i)
        except Exception as err:  # noqa: BLE001 - tifffile raises many kinds for a truncated page
            raise TemsegError(f"{path}: frame {i} cannot be read ({type(err).__name__}: {err}); the file may be truncated") from None
        if frame.shape != shape[1:] or frame.dtype != dtype:
            raise TemsegError(f"{path}: frame {i} is {' x '.join(map(str, frame.shape))} {frame.dtype}, the "
                              f"video's frames {' x '.join(map(str, shape[1:]))} {dtype}")
        return frame

    return _calibrated(Video(lazy_stack(page, shape[0], shape[1:], dtype), source=str(path), frame_interval_s=interval),
                       tiff_calibration(path))


def _video_series(path: Path, tif) -> tuple[Any, bool]:
    """(The series a video is read from, whether its frames are series of one page each).
    Writing a stack page by page (`TiffWriter.write` per frame, without ImageJ metadata)
    stores each page as its own series; read as its first series alone, such a video was
    one frame long. There, the frames are the pages of the shape and type most share (an odd
    one, the first included, is skipped as a bad frame), where at least two and half the
    pages share it (a micrograph with a thumbnail page is no video). Else the first series,
    where every later series holds fewer pages (a thumbnail or an odd page after the stack
    is left out, as before); refused where one holds as many or more (a preview page before
    the stack was tracked as a one-frame video)."""
    series = tif.series
    if len(series) == 1:
        return series[0], False
    if all(len(s.pages) == 1 for s in series):
        kind, alike = Counter((s.shape, s.dtype) for s in series).most_common(1)[0]  # ties: the first seen
        if alike >= 2 and 2 * alike >= len(series):
            return next(s for s in series if (s.shape, s.dtype) == kind), True
        return series[0], False
    if len(series[0].pages) > max(len(s.pages) for s in series[1:]):  # two alike: which is the video?
        return series[0], False
    shown = "; ".join(f"{len(s.pages)} page(s) of {' x '.join(map(str, s.shape[-2:]))}" for s in series[:4])
    raise TemsegError(f"{path}: holds {len(series)} image series ({shown}{'; ...' if len(series) > 4 else ''}), "
                      "not one video: save the frames alone as one stack (tifffile.imwrite(path, frames))")


def _folder_calibration(files: list[Path]) -> Calibration:
    """The calibration of a frame folder's TIFF frames: their one pixel size, or none where
    they differ, with a note naming where (frames of two magnifications, or some exported
    without calibration, were all sized by the first frame's, without a word)."""
    if files[0].suffix.lower() not in (".tif", ".tiff"):
        return Calibration()
    found = [tiff_calibration(f) for f in files]
    said = [(c.nm and round(c.nm, 4), c.yx_nm and tuple(round(v, 4) for v in c.yx_nm)) for c in found]
    if len(set(said)) == 1:
        return found[0]
    def told(c: Calibration) -> str:
        if c.yx_nm and not np.isclose(*c.yx_nm, rtol=1e-3):
            return f"{c.yx_nm[0]:.4g} x {c.yx_nm[1]:.4g} nm"
        return f"{c.nm:.4g} nm" if c.nm else "no pixel size"

    runs = [(files[i].name, told(found[i])) for i in range(len(files)) if i == 0 or said[i] != said[i - 1]]
    listed = ", ".join(f"{what} from {name}" for name, what in runs[:4]) + (" ..." if len(runs) > 4 else "")
    return Calibration(None, None, f"the frames' pixel sizes differ ({listed}): sizes in px; track frames of one "
                                   "magnification together, or give --pixel-size")


def _calibrated(video: Video, found: Calibration) -> Video:
    """`video` with the pixel size its file gives (`found`)."""
    video.pixel_size_nm, video.pixel_yx_nm, video.pixel_note = found
    return video


def _data_end(tif, series) -> int | None:
    """Byte offset where the last frame's pixels end, from the headers (no pixel is read)."""
    if series.dataoffset is not None:
        return int(series.dataoffset + series.size * series.dtype.itemsize)
    last = tif.pages[len(tif.pages) - 1]
    offsets, counts = getattr(last, "dataoffsets", ()), getattr(last, "databytecounts", ())
    return int(offsets[-1] + counts[-1]) if len(offsets) else None


#: The units ImageJ writes for an image without a calibration: sizes in px, nothing to say.
UNCALIBRATED_UNITS = {"pixel", "pixels", "px", ""}

#: A pixel size from the TIFF resolution tags above this (10 um) is a print resolution that
#: image software writes by default (72 dpi: 353 um per pixel), not a microscope's calibration.
MAX_CALIBRATED_PIXEL_NM = 1e4


def tiff_calibration(path: Path) -> Calibration:
    """The pixel size from OME metadata (PhysicalSizeX/Y), ImageJ metadata (unit +
    X/YResolution) or the TIFF resolution tags (not a print resolution:
    MAX_CALIBRATED_PIXEL_NM); an empty Calibration where the file gives none."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            if tif.is_ome and tif.ome_metadata:
                ome = _ome_calibration(tif.ome_metadata)
                if ome.nm is not None or ome.note:
                    return ome
            tags = tif.pages[0].tags
            ij = tif.imagej_metadata or {}
            res, res_y = tags.get("XResolution"), tags.get("YResolution")
            if res is None:
                return Calibration()
            x_units, y_units = _units_per_pixel(res), _units_per_pixel(res_y)
            if x_units is None:
                return Calibration()
            if ij.get("unit"):
                x_nm = to_nm(x_units, ij["unit"])
                if x_nm is not None and x_nm > MAX_CALIBRATED_PIXEL_NM:  # ImageJ's inch of a print resolution
                    return Calibration()
                found = calibration(to_nm(y_units, ij["unit"]) if y_units else None, x_nm)
                return found if found.yx_nm or found.nm or unit_key(ij["unit"]) in UNCALIBRATED_UNITS else \
                    Calibration(note=f"the file's unit {ij['unit']!r} is no length temseg knows (nm, µm, Å, ...): "
                                     "sizes in px; give --pixel-size")
            unit = tags.get("ResolutionUnit")
            code = int(unit.value) if unit is not None else 1
            factor = {3: 1e7, 2: 2.54e7, 4: 1e6, 5: 1e3}.get(code)  # cm, inch; tifffile's millimetre, micrometre
            if factor is None or x_units * factor > MAX_CALIBRATED_PIXEL_NM:
                return Calibration()
            return calibration(y_units * factor if y_units else None, x_units * factor)
    except Exception:  # noqa: BLE001 - calibration is optional: odd tags mean none
        return Calibration()


def _units_per_pixel(tag) -> float | None:
    """Units per pixel from a TIFF resolution tag (pixels per unit, as a fraction)."""
    if tag is None:
        return None
    num, den = tag.value
    return den / num if num else None


def _ome_calibration(xml: str) -> Calibration:
    """PhysicalSizeX/Y (in their units, µm by OME's default) of OME-XML. Read with a pattern,
    not an XML parser: a calibration is two attributes, and a file's XML is not to be trusted."""
    sizes = []
    for axis in ("Y", "X"):
        value = re.search(rf"""PhysicalSize{axis}\s*=\s*(["'])(.*?)\1""", xml)
        unit = re.search(rf"""PhysicalSize{axis}Unit\s*=\s*(["'])(.*?)\1""", xml)
        try:
            sizes.append(to_nm(float(value.group(2)), html.unescape(unit.group(2)) if unit else "µm") if value else None)
        except ValueError:
            sizes.append(None)
    return calibration(*sizes)


def _ome_interval(xml: str) -> float | None:
    """TimeIncrement (in its unit, s by OME's default) of OME-XML, in s; read as
    `_ome_calibration` reads sizes (it was not read: no per-second columns)."""
    value = re.search(r"""TimeIncrement\s*=\s*(["'])(.*?)\1""", xml)
    unit = re.search(r"""TimeIncrementUnit\s*=\s*(["'])(.*?)\1""", xml)
    return to_seconds(value.group(2), html.unescape(unit.group(2)) if unit else "s") if value else None


def _open_rsciio(path: Path, plugin: str) -> Video:
    import importlib

    import dask.array as da

    try:
        reader = importlib.import_module(f"rsciio.{plugin}").file_reader
    except ImportError as err:
        raise TemsegError(f"{path}: reading {path.suffix} needs an optional package ({err.name}); pip install it") from None
    try:
        signals = reader(str(path), lazy=True)
    except Exception as err:  # noqa: BLE001 - truncated or foreign files raise many kinds
        raise TemsegError(f"{path}: cannot read this {path.suffix} file: damaged, truncated or not a {plugin} "
                          f"file ({short_reason(err)}); re-copy or re-export it") from None
    images = [s for s in signals if np.ndim(s["data"]) in (2, 3)]
    if not images:
        raise TemsegError(f"{path}: no image or image stack inside (found {len(signals)} signal(s))")
    signal = images[0]
    data = signal["data"]
    data = data if isinstance(data, da.Array) else da.from_array(data, chunks=(1, *data.shape[-2:]) if data.ndim == 3 else data.shape)
    if data.ndim == 2:
        data = data[None]
    y_axis, x_axis, t_axis = signal["axes"][-2], signal["axes"][-1], signal["axes"][0]
    interval = to_seconds(t_axis.get("scale", 0), t_axis.get("units")) if len(signal["axes"]) == 3 else None
    title = signal.get("metadata", {}).get("General", {}).get("title", "")
    found = calibration(*(to_nm(axis.get("scale", 0), axis.get("units")) for axis in (y_axis, x_axis)))
    return _calibrated(Video(data, source=str(path), metadata={"title": title, "format": plugin},
                             frame_interval_s=interval), found)


def read_micrograph(path: str | Path) -> Micrograph:
    """One image as stored and its file's Calibration (`.pixel_size_nm`: nm per pixel or None)
    from an image file or a TEM file holding a single image (.dm3/.dm4, .emd, .ser, .mrc,
    ...); the pixel size from TIFF resolution tags, ImageJ or OME metadata, or the TEM
    file's calibration."""
    from .images import read_image

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in MOVIE_SUFFIXES:
        raise TemsegError(f"{path}: a movie; track it (temseg track), or export the frame to segment as an image")
    if suffix in TEM_FORMATS:
        video = open_video(path)
        if video.data.shape[0] != 1:
            raise TemsegError(f"{path}: holds {video.data.shape[0]} frames; track it (temseg track) or save one frame")
        return Micrograph(np.asarray(video.data[0]), video.calibration)
    if suffix not in IMAGE_SUFFIXES and path.exists():  # read_image knows only image files
        raise TemsegError(f"{path}: unsupported file type {suffix!r}; use one of "
                          f"{', '.join((*IMAGE_SUFFIXES, *TEM_FORMATS))}")
    image = read_image(path)
    return Micrograph(image, tiff_calibration(path) if suffix in (".tif", ".tiff") else Calibration())
