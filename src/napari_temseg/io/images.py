"""Image files in, label files out, with errors that name the file and the problem."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from ..errors import TemsegError, short_reason
from ..preprocess import whole_labels

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp")
#: Largest image (bytes of pixels, as the file's header declares them) read without a question:
#: a small file may claim a huge image, and allocating it would take the machine's memory.
MAX_IMAGE_BYTES = 4 * 2**30
#: Largest image (pixels) read: segmentation holds several float copies of it, so a 40192²
#: uint8 image (1.5 GiB as stored) took 17 GB before it ran out (16384², as for a video's frames).
MAX_IMAGE_PIXELS = 2**28


def natural_key(path: Path) -> tuple:
    """Sort key that orders f2 before f10 (numbers compared as numbers)."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name))


def _check_declared_size(path: Path) -> None:
    """Refuse a TIFF whose header declares more pixel bytes than MAX_IMAGE_BYTES, or an image
    of more than MAX_IMAGE_PIXELS pixels."""
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            declared = int(np.prod(series.shape)) * np.dtype(series.dtype).itemsize
            plane = int(np.prod([n for n, axis in zip(series.shape, series.axes, strict=True) if axis in "YX"]))
    except Exception:  # noqa: BLE001 - unreadable headers are reported by the read itself
        return
    if plane > MAX_IMAGE_PIXELS:
        raise TemsegError(
            f"{path}: a {' x '.join(map(str, series.shape))} image ({plane / 2**20:.0f} Mpx); above "
            f"{MAX_IMAGE_PIXELS // 2**20} Mpx (16384²) it is not read: bin or crop it first"
        )
    if declared > MAX_IMAGE_BYTES:
        raise TemsegError(
            f"{path}: its header declares a {' x '.join(map(str, series.shape))} {series.dtype} image "
            f"({declared / 2**30:.1f} GiB); larger than {MAX_IMAGE_BYTES / 2**30:.0f} GiB, it is not read "
            "(a damaged header, or crop the image first)"
        )


def read_image(path: str | Path) -> np.ndarray:
    """Read one image file (TIFF, PNG, JPEG, BMP) as an array, as stored (no conversion)."""
    path = Path(path)
    if not path.exists():
        raise TemsegError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise TemsegError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(IMAGE_SUFFIXES)}")
    if suffix in (".tif", ".tiff"):
        _check_declared_size(path)
    try:
        if suffix in (".tif", ".tiff"):
            data = tifffile.imread(path)
        else:
            import imageio.v3 as iio

            data = iio.imread(path)
    except (IsADirectoryError, PermissionError) as err:  # not the file's content: say what the system said
        raise TemsegError(f"{path}: cannot read image ({err.strerror or type(err).__name__})") from None
    except Exception as err:  # noqa: BLE001 - corrupt or truncated files raise many different types
        raise TemsegError(f"{path}: cannot read image: empty, damaged or not the {suffix.lstrip('.').upper()} "
                          f"file its name says ({short_reason(err)}); re-copy or re-export it") from None
    if data.size == 0:
        raise TemsegError(f"{path}: cannot read image (no pixels: the file is truncated or corrupt)")
    return data


def frame_files(folder: Path) -> list[Path]:
    """The image files of a frame folder in frame order: f2 before f10. Hidden files (macOS's
    `._frame_0.tif` beside each frame copied from its disks) are no frames."""
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")),
                   key=natural_key)
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
        files = frame_files(path)
        first_at, first = _first_readable(files)
        for f in files[first_at + 1:]:
            with_shape, dtype = peek(f)
            if with_shape is not None and with_shape != first.shape:
                raise TemsegError(
                    f"{f}: frame shape {with_shape} differs from {files[first_at].name}'s {first.shape}; "
                    "all frames of a video must have one shape"
                )
            if dtype is not None and dtype != first.dtype:
                raise TemsegError(
                    f"{f}: its pixels are {dtype}, those of {files[first_at].name} {first.dtype}; "
                    "all frames of a video must have one pixel type (convert them, e.g. all to uint16)"
                )
        return lazy_stack(lambda t: _read_frame(files[t], first.shape, first.dtype), len(files), first.shape,
                          first.dtype)
    stack = read_image(path)
    if stack.ndim == 2:
        stack = stack[None]
    if stack.ndim == 4 and stack.shape[-1] in (3, 4):
        return stack
    if stack.ndim != 3:
        raise TemsegError(f"{path}: expected a (T, Y, X) stack, got shape {stack.shape}")
    return stack


def lazy_stack(read: Callable[[int], np.ndarray], count: int, shape: tuple[int, ...], dtype: Any):
    """A (count, *shape) dask array whose frame t is `read(t)`, read only when asked for.
    One blockwise layer, so reading a frame costs the same at frame 10 as in a video of
    10,000 (a stack of one delayed task per frame made dask optimise the whole graph on
    every read: 1.5 s per frame at 10,000 frames)."""
    import dask.array as da

    def block(block_info=None) -> np.ndarray:
        return read(block_info[None]["chunk-location"][0])[None]

    chunks = ((1,) * count, *((n,) for n in shape))
    return da.map_blocks(block, chunks=chunks, dtype=dtype, meta=np.empty((0,) * (len(shape) + 1), dtype))


def _first_readable(files: list[Path]) -> tuple[int, np.ndarray]:
    """(index, frame) of the first frame file that reads: the frames' shape and pixel type.
    Damaged ones before it are skipped by the tracking, as any unreadable frame is."""
    errors = []
    for i, f in enumerate(files):
        try:
            return i, read_image(f)
        except TemsegError as err:
            errors.append(str(err))
    raise TemsegError(f"no frame of {files[0].parent} can be read ({len(files)} files; the first: {errors[0]})")


def peek(path: Path) -> tuple[tuple[int, ...] | None, np.dtype | None]:
    """(shape, dtype) from the file header where that is cheap (TIFF), else (None, None), as
    for a damaged header: reading that frame reports it (tracking skips it; a folder of
    frames was refused whole for one damaged TIFF while a damaged PNG was skipped)."""
    if path.suffix.lower() in (".tif", ".tiff"):
        try:
            with tifffile.TiffFile(path) as tif:
                return tuple(tif.series[0].shape), np.dtype(tif.series[0].dtype)
        except Exception:  # noqa: BLE001 - tifffile raises several types for damaged headers
            return None, None
    return None, None


def _read_frame(path: Path, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    frame = read_image(path)
    if frame.shape != shape:
        raise TemsegError(f"{path}: frame shape {frame.shape} differs from the first frame's {shape}")
    if frame.dtype != dtype:
        raise TemsegError(f"{path}: its pixels are {frame.dtype}, the first frame's {dtype}; "
                          "all frames of a video must have one pixel type")
    return frame


#: What the TIFF description of a labels file written here says (its readers open it as labels).
LABELS_MARK = {"temseg": "labels"}


def write_labels_tiff(path: str | Path, labels: np.ndarray,
                      pixel_size_nm: float | tuple[float, float] | None = None) -> Path:
    """Write uint32 instance labels as a compressed TIFF marked as labels (`LABELS_MARK`), with
    the pixel size (nm, or (Y, X) nm for pixels that are not square) in its resolution tags
    where given and a TIFF rational holds it (ImageJ has no uint32: centimetres, as Fiji,
    tifffile and our reader read them); returns the path. Written under a temporary name and
    renamed, so a full disk never leaves a truncated file behind."""
    path = Path(path)
    labels = np.asarray(labels)
    if not whole_labels(labels):
        raise TemsegError(f"{path.name}: labels must be whole numbers (0 background, 1..N particles), not "
                          f"{labels.dtype} values such as an image's (written as uint32 they were all 0)")
    if labels.size and labels.min() < 0:
        raise TemsegError(f"{path.name}: labels must not be negative (down to {labels.min()})")
    temporary = path.with_name(f".{path.name}.writing")
    y_nm, x_nm = pixel_size_nm if isinstance(pixel_size_nm, tuple) else (pixel_size_nm, pixel_size_nm)
    per_cm = (1e7 / x_nm, 1e7 / y_nm) if x_nm and y_nm else (0.0, 0.0)
    calibration = ({"resolution": per_cm, "resolutionunit": "CENTIMETER"}
                   if all(0 < v < 2**32 - 1 for v in per_cm) else {})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(temporary, np.asarray(labels, dtype=np.uint32), compression="zlib", metadata=LABELS_MARK,
                         photometric="minisblack", **calibration)  # a stack of 3 or 4 frames is not colour
        os.replace(temporary, path)
    except OSError as err:
        with contextlib.suppress(OSError):  # a read-only folder refuses the clean-up too
            temporary.unlink(missing_ok=True)
        raise TemsegError(f"{path}: cannot write labels ({err.strerror or err})") from None
    return path


def write_stack_tiff(path: str | Path, frames: np.ndarray, pixel_size_nm: float | None = None) -> Path:
    """Write a (T, Y, X) stack as an ImageJ TIFF whose pixel size (nm, where given) our reader,
    napari's and Fiji read back; float pixels as float32 (what ImageJ stores)."""
    frames = np.asarray(frames)
    if np.issubdtype(frames.dtype, np.floating):
        frames = frames.astype(np.float32)
    extra = {"resolution": (1 / pixel_size_nm, 1 / pixel_size_nm)} if pixel_size_nm else {}
    metadata = {"axes": "TYX", **({"unit": "nm"} if pixel_size_nm else {})}
    tifffile.imwrite(path, frames, imagej=True, metadata=metadata, **extra)
    return Path(path)


def is_labels_tiff(path: str | Path) -> bool:
    """Whether a TIFF holds instance labels: written here (`LABELS_MARK`), or an integer image
    named as `temseg segment` names its labels (``<stem>_labels.tif``)."""
    try:
        with tifffile.TiffFile(path) as tif:
            marked = any((meta or {}).get("temseg") == "labels" for meta in (tif.shaped_metadata or ()))
            integer = np.issubdtype(tif.series[0].dtype, np.integer)
    except Exception:  # noqa: BLE001 - an unreadable file is reported by the image reader
        return False
    return marked or (integer and Path(path).stem.endswith("_labels"))
