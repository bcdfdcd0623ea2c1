"""Image/label folder datasets: the article's layout and plain TIFF pairs.

    DIR/images/image_N.png  <->  DIR/labels/label_N.png   (the article; RGBA PNGs)
    DIR/images/NAME.tif     <->  DIR/labels/NAME.tif      (any image suffix, same stem)
    DIR/images/NAME.dm4     <->  DIR/labels/NAME.tif      (a TEM file holding one image)

Binary labels become instances by connected components; instance labels are kept.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from .errors import TemsegError
from .instances import border_labels
from .io import IMAGE_SUFFIXES, TEM_FORMATS, read_image, read_micrograph
from .preprocess import as_2d_gray


@dataclass
class Sample:
    """name: image file stem; image: as stored; labels: uint32 (Y, X) instances;
    pixel_size_nm: the image file's calibration (None: unknown)."""

    name: str
    image: np.ndarray
    labels: np.ndarray
    pixel_size_nm: float | None = None


def _label_stem(image_stem: str) -> str:
    return "label_" + image_stem[len("image_"):] if image_stem.startswith("image_") else image_stem


def pair_files(root: str | Path) -> list[tuple[Path, Path]]:
    """(image, label) file pairs of a dataset folder; every image needs a label and vice versa."""
    root = Path(root)
    images_dir, labels_dir = root / "images", root / "labels"
    if not images_dir.is_dir() or not labels_dir.is_dir():
        raise TemsegError(f"{root}: expected sub-folders images/ and labels/ (image_N.png <-> label_N.png)")
    images = {p.stem: p for p in images_dir.iterdir() if p.suffix.lower() in (*IMAGE_SUFFIXES, *TEM_FORMATS)}
    labels = {p.stem: p for p in labels_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    if not images:
        raise TemsegError(f"{images_dir}: no image files")
    missing = sorted(s for s in images if _label_stem(s) not in labels)
    if missing:
        raise TemsegError(f"{labels_dir}: no label file for image(s) {', '.join(missing[:5])}")
    orphans = sorted(set(labels) - {_label_stem(s) for s in images})
    if orphans:
        raise TemsegError(f"{images_dir}: no image for label file(s) {', '.join(orphans[:5])}")
    return [(images[s], labels[_label_stem(s)]) for s in sorted(images, key=lambda s: (len(s), s))]  # 2 before 10


def to_instances(label_image: np.ndarray, source: str = "the labels") -> np.ndarray:
    """Binary (any two values, RGB(A) allowed) -> connected components; instance IDs kept.
    Float label images keep one ID per distinct value (0 stays background), whatever the
    scale they were saved at (1.0, 2.0, ... or 1/255, 2/255, ...); colour-coded labels (one
    colour per particle) one ID per colour, black the background. Negative or NaN labels
    are refused: no ID could be read from them. `source`: what a warning names."""
    colours = _colour_ids(np.asarray(label_image))
    if colours is not None:
        return colours
    gray = as_2d_gray(label_image)
    if np.issubdtype(gray.dtype, np.floating) and not np.isfinite(gray).all():
        raise TemsegError("the labels hold NaN or infinite values: save 0 for background and 1, 2, ... for particles")
    if gray.min() < 0:
        raise TemsegError(f"the labels hold negative values ({gray.min()}): save 0 for background and 1, 2, ... "
                          "for particles")
    values = np.unique(gray)
    if _soft_binary(gray, values):
        raise TemsegError(f"the labels look like a binary mask with soft edges ({len(values)} grey levels, almost every "
                          f"pixel near {values.min()} or {values.max()}, the levels between only along edges: anti-aliased "
                          "or saved as JPEG), whose every edge level would read as a particle; save the mask without smoothing, as PNG or TIFF (0 and one value), "
                          "or as instance labels 0, 1, 2, ...")
    if len(values) <= 2:
        components, _ = ndi.label(gray > values.min() if len(values) == 2 else gray > 0)
        _warn_if_inverted(components, gray, source)
        return components.astype(np.uint32)
    if np.issubdtype(gray.dtype, np.floating):
        ids = np.searchsorted(values[values != 0], gray) + 1
        return np.where(gray == 0, 0, ids).astype(np.uint32)
    return gray.astype(np.uint32)


#: A binary mask's "particle" covering more than this share of the image and touching all
#: four of its edges, with holes, may be the background saved as the mask's bright value
#: (an inverted mask: white support, black particles) or a dense agglomerate with gaps.
BACKGROUND_SHARE = 0.5


def _warn_if_inverted(components: np.ndarray, saved: np.ndarray, source: str) -> None:
    """Say where a binary mask may be inverted: trained or scored on, every image would teach
    that the support is one huge particle. Only said, not refused: a dense agglomerate's
    mask looks the same (one particle over most of the field, its gaps as holes), and a large
    particle filling the field leaves the corners, not holes. `saved`: the values as stored."""
    counts = np.bincount(components.ravel())
    counts[0] = 0
    largest = int(np.argmax(counts))
    share = counts[largest] / components.size
    edges = (components[0], components[-1], components[:, 0], components[:, -1])
    if not largest or share <= BACKGROUND_SHARE or not all((edge == largest).any() for edge in edges):
        return
    holes, n = ndi.label(components == 0)
    if n - np.count_nonzero(border_labels(holes)) < 2:
        return
    value = saved[components == largest].flat[0]
    print(f"warning: {source} may be inverted: one particle (saved as {value:g}) covers {share:.0%} of the image and "
          "touches all four edges, with holes in it; if those holes are the particles, save the background as 0 "
          "(black) and the particles as a brighter value (read as they are)", file=sys.stderr)


#: A label image is a soft-edged binary mask when it has more than SOFT_LEVELS levels, at
#: least SOFT_SHARE of its pixels lie within SOFT_TOLERANCE of its lowest or its highest
#: level (of 200 or more: an 8- or 16-bit mask's white), and its other levels are edges:
#: fewer than SOFT_INTERIOR of their pixels have four neighbours of their own level (an
#: anti-aliased or JPEG mask: none; instance labels, whose particles are regions: 0.65-0.85,
#: however sparse the particles or high their IDs).
SOFT_SHARE, SOFT_TOLERANCE, SOFT_LEVELS, SOFT_INTERIOR = 0.9, 0.08, 8, 0.1


def _soft_binary(gray: np.ndarray, values: np.ndarray) -> bool:
    """Whether integer labels are a binary mask whose edges were smoothed (anti-aliasing, JPEG)."""
    if np.issubdtype(gray.dtype, np.floating) or len(values) <= SOFT_LEVELS or values.max() < 200:
        return False
    low, high = float(values.min()), float(values.max())
    margin = SOFT_TOLERANCE * (high - low)
    near = (gray <= low + margin) | (gray >= high - margin)
    if float(near.mean()) < SOFT_SHARE:
        return False
    between = (gray != low) & (gray != high)
    inner = gray[1:-1, 1:-1]
    same = ((inner == gray[:-2, 1:-1]) & (inner == gray[2:, 1:-1]) & (inner == gray[1:-1, :-2]) &
            (inner == gray[1:-1, 2:]))
    counted = between[1:-1, 1:-1]
    return bool(counted.any()) and float(same[counted].mean()) < SOFT_INTERIOR


def _colour_ids(image: np.ndarray) -> np.ndarray | None:
    """One ID per colour of an RGB(A) label image with more than two colours whose channels
    differ (the background: black, else the commonest colour); None for anything else (grey
    or binary labels)."""
    if not (image.ndim == 3 and image.shape[-1] in (3, 4)):
        return None
    rgb = image[..., :3]
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return None
    colours, ids, counts = np.unique(rgb.reshape(-1, 3), axis=0, return_inverse=True, return_counts=True)
    if len(colours) <= 2:
        return None
    black = np.flatnonzero(~colours.any(axis=1))
    background = int(black[0]) if len(black) else int(np.argmax(counts))
    order = np.arange(len(colours))  # colour index -> ID: the background 0, the others 1..N
    order[order > background] -= 1
    lut = (order + 1).astype(np.uint32)
    lut[background] = 0
    return lut[ids.reshape(rgb.shape[:2])]


def load_sample(image_path: Path, label_path: Path) -> Sample:
    image, found = read_micrograph(image_path)
    try:
        labels = to_instances(read_image(label_path), f"{label_path.parent.name}/{label_path.name}")
    except TemsegError as err:
        raise TemsegError(f"{label_path.parent.name}/{label_path.name}: {err}") from None
    if as_2d_gray(image).shape != labels.shape:
        image_name, label_name = (f"{p.parent.name}/{p.name}" for p in (image_path, label_path))
        raise TemsegError(
            f"{image_name} has shape {as_2d_gray(image).shape} but its labels {label_name} have {labels.shape}"
        )
    return Sample(image_path.stem, image, labels, found.nm)


def iter_dataset(root: str | Path) -> Iterator[Sample]:
    """Samples of a dataset folder, read one at a time."""
    for image_path, label_path in pair_files(root):
        yield load_sample(image_path, label_path)
