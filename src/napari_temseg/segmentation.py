"""The one segmentation entry point every front end (API, CLI, widgets, tracking) calls.

Before a model sees an image, two things are decided here, the same way for every
model: the particles' contrast polarity (models take dark particles; dark-field images
are inverted) and their size (the image is resampled so that particles fall in the
model's `radius_range`, and the labels are mapped back). Both are measured from the image
(`appearance`) unless the options `polarity` and `diameter` say otherwise; a time stack
decides once for all its frames (`stack_options`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .annotations import (
    Box,
    annotation_mask,
    coloured_pixels,
    describe_annotations,
    drop_annotated_particles,
    fill_annotations,
    find_annotations,
    merged_marks,
    overlap,
    still_marks,
)
from .appearance import POLARITIES, measure_appearance
from .errors import TemsegError
from .flattening import BOOLEAN_MODES, stack_flatten_mode, taken_off
from .instances import one_piece_per_particle, remove_small_and_relabel
from .local_edges import (
    redraw_faint_particles,
    redraw_small_particles,
    redraws_at_own_contrast,
    redraws_small_particles,
)
from .models import Segmenter, load_model
from .models.classical import drop_shallow_particles
from .models.options import check_options
from .models.specs import APPEARANCE, DEFAULT_MODEL, has_option, spec, spec_of
from .padding import edge_padding
from .preprocess import as_2d_gray, normalize, read_frame, without_non_finite
from .rescale import DEFAULT_RADIUS_RANGE, resample, run_at_scale, scale_area, scale_factor
from .rims import absorption_look, absorption_strength, edge_level, grow_rims
from .significance import MIN_SIGNIFICANCE, drop_noise_objects
from .small_detection import drawn_radius, find_missed_particles
from .units import NM_PER_UNIT, TYPED_UNITS, typed_length
from .vacuum import drop_particles_in_vacuum, fill_vacuum, find_vacuum

#: Options read here rather than by the models.
APPEARANCE_OPTIONS = tuple(option.name for option in APPEARANCE)
#: What `Segmentation.describe` says of the support's unevenness taken off (`flattening`).
FLATTENED = {"plane": ", an illumination ramp taken off", "always": ", an illumination ramp and uneven support taken off"}
#: Model options that are areas in pixels of the image (rescaled with it).
AREA_OPTIONS = ("min_size",)
#: How far below the support (in support spreads) a particle any model draws must reach
#: somewhere (`drop_shallow_particles`): a network draws a grainy support's grains too.
#: Less than the classical model's own SEED_DEPTH (4), which is applied to its smoothed
#: threshold pieces: chosen between 3 and 4 on the development set, where small faint
#: particles drawn by the networks reach 2.6-4 spreads and the grains rarely 3.
MIN_DEPTH = 3.0
#: Options that prompt a model at given pixels: the image is then segmented at its own scale.
PROMPT_OPTIONS = ("points", "boxes")


@dataclass(frozen=True)
class Segmentation:
    """labels: uint32 (Y, X), 0 background, 1..N particles; polarity: "dark" or "bright"
    (how particles appeared, decided or given); radius: typical particle radius in px of
    the image (NaN unknown); scale: the factor the model saw the image resampled by;
    decided: which of polarity/diameter were measured rather than given; edge_level: where
    edges were drawn (`rims`: 0.5 the model's own, lower further out into the rims);
    absorption: the strength of the bright-field look the model saw (`rims.absorption_look`;
    0: the image as it is); redrawn: whether small particles were drawn again at their own
    contrast (`local_edges`); found: how many particles the model had missed were added
    (`small_detection`: where small particles were redrawn, and after the faint ones);
    faint: how many particles much fainter than the others were drawn out to their own
    contrast (`local_edges`); blank: the image was one grey level (nothing decided);
    annotations: boxes (y0, x0, y1, x1) of burned-in marks (scale bar, text, data bar)
    that were left out (`annotations`); vacuum: the share of the image that was vacuum (a
    hole in the support film, `vacuum`), left out; no_data: how many NaN or infinite pixels
    were read as the others' median (no data, as a drift-corrected float export pads its
    border); flattened: what `flattening` took off the image before the model ("never",
    "plane": an illumination ramp, "always": the ramp and the support's thickness patches;
    the classical model flattens its own and says "never")."""

    labels: np.ndarray
    polarity: str
    radius: float
    scale: float
    decided: tuple[str, ...] = ()
    edge_level: float = 0.5
    absorption: float = 0.0
    redrawn: bool = False
    found: int = 0
    faint: int = 0
    blank: bool = False
    annotations: tuple[Box, ...] = ()
    vacuum: float = 0.0
    no_data: int = 0
    flattened: str = "never"

    @property
    def count(self) -> int:
        return int(self.labels.max(initial=0))

    def describe(self) -> str:
        """One line for a status bar or a log: what was found and what was decided."""
        if self.blank:
            return "0 particles; a blank image (one grey level): nothing to segment"
        how = lambda key: "auto" if key in self.decided else "given"  # noqa: E731
        unsure = "rough size only" if self.scale != 1 else "size not measured"
        size = f"diameter {2 * self.radius:.1f} px ({how('diameter')})" if math.isfinite(self.radius) else unsure
        scaled = f", segmented at x{self.scale:.2g}" if self.scale != 1 else ""
        rims = f", edges at level {self.edge_level:g} (outer rim)" if self.edge_level < 0.5 else ""
        look = f", shown with a bright-field look ({self.absorption:g})" if self.absorption > 0 else ""
        own = ", small particles at their own contrast" if self.redrawn else ""
        if self.found:  # among the small particles redrawn, or after a stack's faint ones
            own += f" ({self.found} found beyond the model's)" if self.redrawn else f", {self.found} found beyond the model's"
        own += f", {self.faint} faint particle{'' if self.faint == 1 else 's'} at {'its' if self.faint == 1 else 'their'} own contrast" if self.faint else ""
        hole = f", vacuum (a hole in the film) left out: {self.vacuum:.0%} of the field" if self.vacuum else ""
        return (f"{self.count} particle{'' if self.count == 1 else 's'}; {self.polarity} particles ({how('polarity')}), "
                f"{size}{scaled}{FLATTENED.get(self.flattened, '')}{rims}{look}{own}{hole}{describe_annotations(self.annotations)}{self._no_data_note()}")

    def _no_data_note(self) -> str:
        """Why a region of no data is left out (it is also named as a flat region, a mark)."""
        return f"; {self.no_data} NaN or infinite pixels read as the others' median (no data)" if self.no_data else ""


@dataclass(frozen=True)
class Look:
    """The polarity and radius (px) a segmentation uses, and which were measured;
    rough_radius: where the radius could not be trusted, a rough measured size
    (`appearance`) that single images are still sized by (NaN: none)."""

    polarity: str
    radius: float
    decided: tuple[str, ...]
    rough_radius: float = float("nan")


def parse_polarity(value: Any) -> str:
    if value not in ("auto", *POLARITIES):
        raise TemsegError(f"polarity must be dark, bright or auto, not {value!r}")
    return value


def in_nm(diameter: Any) -> bool:
    """Whether a diameter option is typed as a length ("12nm", "12 NM", "0.012um", "120Å"),
    which needs the pixel size, rather than in px."""
    typed = typed_length(diameter) if isinstance(diameter, str) else None
    return typed is not None and typed[1] in NM_PER_UNIT


def with_nm_pixel_size(options: dict[str, Any], pixel_size_nm: float | None) -> dict[str, Any]:
    """`options`, with `pixel_size_nm` added where the diameter is typed in nm and none is given
    (the image's own: a file's calibration, a napari layer's scale)."""
    if pixel_size_nm and "pixel_size_nm" not in options and in_nm(options.get("diameter")):
        return {**options, "pixel_size_nm": pixel_size_nm}
    return options


#: The least particle diameter (px) a diameter option may give: below, no particle is drawn
#: (a unit or pixel size gone wrong: "diameter 0.0 px" was reported and segmented at x4).
MIN_DIAMETER = 1.0


def parse_diameter(value: Any, pixel_size_nm: float | None = None, least: float = MIN_DIAMETER) -> float | str:
    """"auto", "none" (keep the image's scale), or a diameter in px: a positive number, or a
    string with a unit ("12nm", "12 px"; nm needs the pixel size); at least `least` px (0:
    the form alone, where the pixel size is not known yet)."""
    wanted = f"auto, none, a number of pixels or a length (e.g. '12nm'; units px, {TYPED_UNITS})"
    if isinstance(value, bool):
        raise TemsegError(f"diameter must be {wanted}, not {value!r}")
    if isinstance(value, str) and value.strip().lower() in ("auto", "none"):
        return value.strip().lower()  # "Auto" as typed
    if value is None:
        return "auto"
    try:
        number, unit = (float(value), "px") if not isinstance(value, str) else typed_length(value) or (None, None)
    except (TypeError, ValueError):
        number, unit = None, None
    if number is None or (unit not in ("", "px") and unit not in NM_PER_UNIT):
        raise TemsegError(f"diameter must be {wanted}, not {value!r}")
    if not (math.isfinite(number) and number > 0):
        raise TemsegError(f"diameter must be a positive number of pixels (or auto/none), not {value!r}")
    if unit not in ("", "px"):
        nm = number * NM_PER_UNIT[unit]
        if not math.isfinite(nm):  # finite, but not as nm (1e308 m)
            raise TemsegError(f"diameter must be {wanted}, not {value!r}")
        if not pixel_size_nm:
            raise TemsegError(f"diameter {value!r} is a length but the image's pixel size is unknown: give the pixel "
                              "size (pixel_size_nm; --pixel-size on the command line; in napari, the image layer's "
                              "scale in nm/px) or a diameter in px")
        number = nm / pixel_size_nm
    if number < least:
        raise TemsegError(f"diameter {value!r} is {number:.2g} px: a particle must span at least {least:g} "
                          "px to be segmented (check the unit and the pixel size)")
    return number


def fitting_diameter(value: Any, pixel_size_nm: float | None, shape: tuple[int, ...]) -> float | str:
    """`parse_diameter`, refusing a diameter wider than an image (or frame) of `shape`."""
    diameter = parse_diameter(value, pixel_size_nm)
    if isinstance(diameter, float) and diameter > max(shape[:2]):
        typed = f"{value!r} = " if in_nm(value) else ""
        raise TemsegError(f"diameter {typed}{diameter:g} px is wider than the image ({shape[1]} x {shape[0]} px): "
                          "give the particles' typical diameter (or auto)")
    return diameter


def decide_look(image: np.ndarray, polarity: Any = "auto", diameter: Any = "auto",
                pixel_size_nm: float | None = None) -> Look:
    """The polarity and radius to segment a normalised image with: given ones are checked and
    kept, "auto" ones measured (`appearance.measure_appearance`); diameter "none" = NaN."""
    polarity, diameter = parse_polarity(polarity), fitting_diameter(diameter, pixel_size_nm, image.shape)
    decided = tuple(k for k, v in (("polarity", polarity), ("diameter", diameter)) if v == "auto")
    if decided:
        measured = measure_appearance(image, polarity if polarity != "auto" else "auto")
        polarity = measured.polarity
        if diameter == "auto":
            return Look(polarity, measured.radius, decided, measured.rough_radius)
    return Look(polarity, float("nan") if diameter == "none" else diameter / 2, decided)


def segment_image(image: Any, model: str | Segmenter = DEFAULT_MODEL, *, add_missed: bool = True,
                  **options: Any) -> Segmentation:
    """Segment one 2-D micrograph and say how (see `Segmentation`).

    image: (Y, X) grayscale or (Y, X, 3|4) RGB/RGBA, any integer or float dtype.
    model: a registry name (see `available_models()`) or a model from `load_model`.
    add_missed: where faint particles are grown (`local_edges` "faint", a stack's frames),
    also add those the model missed (`small_detection`); prompt propagation's seed model
    does without, since prompts would carry a false one on from frame to frame.
    options: polarity ("auto", "dark", "bright"), diameter ("auto", "none", px, or "12nm"
    with pixel_size_nm), edge_level (`rims`: dark-field edges drawn further out), and the
    model's own options (see `models.specs`).
    """
    segmenter = load_model(model)
    options = resolve_single_image_rules(segmenter, check_model_options(segmenter, options), in_stack=False)
    appearance = {key: options.pop(key) for key in APPEARANCE_OPTIONS if key in options}
    normalised, marks, no_data = normalize_without_marks(image, appearance.get("marks", ()))
    if float(normalised.max()) <= float(normalised.min()):  # a blank frame: nothing to find, whatever the model
        parse_diameter(appearance.get("diameter", "auto"), appearance.get("pixel_size_nm"))
        polarity = parse_polarity(appearance.get("polarity", "auto"))
        return Segmentation(np.zeros(normalised.shape, np.uint32), "dark" if polarity == "auto" else polarity,
                            float("nan"), 1.0, blank=True, annotations=marks)
    look = decide_look(normalised, appearance.get("polarity", "auto"), appearance.get("diameter", "auto"),
                       appearance.get("pixel_size_nm"))
    if look.polarity == "bright":
        normalised = 1.0 - normalised
    vacuum = find_vacuum(normalised)
    if vacuum.any():  # a hole in the film: its edge and levels misled the size, as they would the model
        normalised = normalize(fill_vacuum(normalised, vacuum))
        sized = decide_look(normalised, "dark", appearance.get("diameter", "auto"), appearance.get("pixel_size_nm"))
        look = replace(sized, polarity=look.polarity, decided=look.decided)
    flat, depth_flatten = "never", options.get("flatten", "auto")
    if flattens_for(segmenter):  # the depth check then reads the image as flattened, as the model saw it
        normalised, flat = flattened(normalised, options.pop("flatten", "auto"))
        depth_flatten = "never"
    sizing = look.radius if math.isfinite(look.radius) else look.rough_radius
    factor = model_scale(segmenter, sizing)
    min_size = options.get("min_size")  # as given, in the image's pixels: every particle kept, added ones too
    prompted = any(options.get(key) is not None for key in PROMPT_OPTIONS)
    if prompted:
        factor = 1.0  # prompts name the particles, in the image's own pixels
    if factor != 1.0:
        options.update({k: scale_area(options[k], factor) for k in AREA_OPTIONS if k in options})
    if getattr(segmenter, "takes_particle_radius", False):
        options["particle_radius"] = sizing * factor  # in the pixels the model is given
    level = edge_level(appearance.get("edge_level", "auto"), look.polarity)
    absorption = absorption_strength(appearance.get("df_absorption", "auto"), look.polarity, segmenter)
    own = options.get("seed_depth", getattr(segmenter, "seed_depth", None)) if absorption > 0 else None
    depth = min_depth(segmenter, appearance.get("min_depth", "auto"), prompted, own)

    def predict(img: np.ndarray) -> np.ndarray:
        found = segmenter.predict(absorption_look(img, absorption), **options)
        found = drop_shallow_particles(found, img, depth, sizing * factor, depth_flatten, options.get("sigma", "auto"))
        return grow_rims(remove_small_and_relabel(found, 1), img, level)

    labels = run_at_scale(predict, normalised, factor)
    local = appearance["local_edges"]  # True, False, "small" or "faint" (`resolve_single_image_rules`)
    redrawn = local in (True, "small") and redraws_small_particles(sizing, level, prompted)
    found = faint = 0
    if redrawn:
        labels, found = find_missed_particles(redraw_small_particles(labels, normalised), normalised, sizing,
                                              int(min_size or 0))
    elif local in (True, "faint") and redraws_at_own_contrast(level, prompted):
        labels = drop_annotated_particles(labels, marks)  # what was drawn on a mark: not grown out of its box
        labels, faint = redraw_faint_particles(labels, normalised,
                                               annotation_mask(labels.shape, marks) if marks else None)
        if add_missed:
            labels, found = find_missed_particles(labels, normalised, drawn_radius(labels), int(min_size or 0))
    if not prompted:  # a prompted mask in pieces is still the particle the user named
        labels = drop_noise_objects(one_piece_per_particle(labels), normalised,
                                    significance(appearance.get("min_significance", "auto")))
    labels = drop_annotated_particles(drop_particles_in_vacuum(labels, vacuum), marks)
    if min_size or marks or vacuum.any():
        labels = remove_small_and_relabel(labels, int(min_size or 1))
    return Segmentation(np.asarray(labels, dtype=np.uint32), look.polarity, look.radius, factor, look.decided, level,
                        absorption, redrawn, found, faint, annotations=marks, vacuum=float(vacuum.mean()),
                        no_data=no_data, flattened=flat)


def without_vacuum(image: np.ndarray) -> np.ndarray:
    """A normalised image (particles dark) with its vacuum, a hole in the film, filled and
    normalised again (`vacuum`), as a frame is before the model and its decisions see it."""
    vacuum = find_vacuum(image)
    return normalize(fill_vacuum(image, vacuum)) if vacuum.any() else image


def flattens_for(segmenter: Segmenter) -> bool:
    """Whether `segmentation` flattens the image for the model: for every model whose spec
    takes `flatten` (the networks), except the classical one, which flattens what it smooths
    itself. EfficientSAM does not take it: its prompted masks spread over a flattened
    support (one point per particle: foreground IoU 0.80 -> 0.785 on a test image;
    propagated masks 0.80 -> 0.75), and its automatic mode's boxes come from a model that
    flattens."""
    return has_option(segmenter, "flatten") and not getattr(segmenter, "flattens", False)


def flattened(image: np.ndarray, flatten: bool | str) -> tuple[np.ndarray, str]:
    """A normalised image (particles dark) with the support's uneven brightness taken off as
    `flatten` says (`flattening`), normalised again, and what was taken off; `image` itself
    where nothing was. Networks learnt evenly lit images: on the development set's images with an
    illumination ramp of 0.3 (training regime) Swin-UNet's F1 was 0.56 unflattened, 0.87
    flattened (docs/robustness.md)."""
    flat, mode = taken_off(image, flatten)
    return (image, mode) if mode == "never" else (normalize(flat), mode)


def normalize_without_marks(image: Any, given: tuple[Box, ...] = ()) -> tuple[np.ndarray, tuple[Box, ...], int]:
    """`normalize(image)` with burned-in marks (scale bar, text, data bar) and a
    drift-corrected export's padding painted over by the support around them, their boxes
    (`annotations`, `padding`, and the boxes `given`: a user's
    `marks`, a lossy movie's still ones from `stack_marks`), and how many NaN or infinite
    pixels were read as the others' median (`without_non_finite`)."""
    image = _micrograph(image)
    gray, no_data = without_non_finite(as_2d_gray(image))  # a NaN border: no data, the marks are still found
    marks = find_annotations(gray, coloured_pixels(image)) if min(gray.shape) >= 2 else ()
    extra = [*edge_padding(gray), *within(given, gray.shape)]
    if extra:
        marks = tuple(sorted(merged_marks([*marks, *extra])))
    return normalize(fill_annotations(gray, marks) if marks else gray), marks, no_data


def normalize_with_marks(image: Any, marks: tuple[Box, ...]) -> np.ndarray:
    """`normalize_without_marks(image)`'s image where its marks are known already (the
    `marks` it returned for this image, `Segmentation.annotations`): not searched again."""
    gray = without_non_finite(as_2d_gray(_micrograph(image)))[0]
    return normalize(fill_annotations(gray, marks) if marks else gray)


def _micrograph(image: Any) -> Any:
    """`image` read into memory once (a dask frame was computed for the grey levels and again
    for colour); a boolean mask refused."""
    if np.dtype(getattr(image, "dtype", object)) == np.bool_:  # read as dark field, its particles grown by "rims"
        raise TemsegError("a boolean mask is no micrograph to segment: measure(mask) measures its connected pieces, "
                          "napari_temseg.instances.mask_to_instances(mask) also splits touching ones")
    if hasattr(image, "__array__") and not isinstance(image, np.ndarray):
        image = np.asarray(image)
    return image


def within(boxes: tuple[Box, ...], shape: tuple[int, ...]) -> list[Box]:
    """`boxes` clipped to an image of `shape`; those left empty dropped."""
    clipped = [(max(y0, 0), max(x0, 0), min(y1, shape[0]), min(x1, shape[1])) for y0, x0, y1, x1 in boxes]
    return [box for box in clipped if box[2] > box[0] and box[3] > box[1]]


def min_depth(segmenter: Segmenter, value: Any, prompted: bool, looked_depth: float | None = None) -> float:
    """How deep below the support a particle must reach to be kept (`drop_shallow_particles`):
    the `min_depth` option, "auto" = MIN_DEPTH, except for prompts, where the user named the
    particles, and for models that check it themselves (the classical model's `seed_depth`),
    unless they were given the bright-field look: its support is clipped on the bright side,
    where its spread is measured, and on noise alone hundreds of specks passed. Then their
    own depth (`looked_depth`) is checked again on the image itself."""
    if value != "auto":
        return float(value)
    if prompted:
        return 0.0
    if getattr(segmenter, "checks_depth", False):
        return float(looked_depth) if looked_depth is not None else 0.0
    return MIN_DEPTH


def significance(value: Any) -> float:
    """How many standard errors of the pixel noise an object must stand out from the support
    around it (`drop_noise_objects`): the `min_significance` option, "auto" = MIN_SIGNIFICANCE."""
    return MIN_SIGNIFICANCE if value == "auto" else float(value)


def model_scale(segmenter: Segmenter, radius: float) -> float:
    """The factor an image with particles of `radius` px is resampled by for this model."""
    return scale_factor(radius, getattr(segmenter, "radius_range", DEFAULT_RADIUS_RANGE))


def model_options(model: str) -> dict[str, tuple[Any, str]]:
    """{option: (default, what it does)} of the options `segment(image, model, **options)`
    takes: the model's own and the appearance options every model takes (polarity, diameter,
    ...); `track` takes these and the linking options (`tracking.LINK_OPTIONS`)."""
    return {option.name: (option.default, option.help) for option in (*spec(model).options, *APPEARANCE)}


def check_model_options(segmenter: Segmenter, options: dict[str, Any]) -> dict[str, Any]:
    """`options` checked against the model's spec and the appearance options (a model that
    no spec describes, e.g. a user's own object, checks its own; the appearance options
    are checked for it all the same)."""
    model_spec = spec_of(segmenter)
    if model_spec is not None:
        return model_spec.check(options, APPEARANCE)
    appearance = {key: value for key, value in options.items() if key in APPEARANCE_OPTIONS}
    return {**options, **check_options(appearance, APPEARANCE, "segmentation")}


def resolve_single_image_rules(segmenter: Segmenter, options: dict[str, Any], in_stack: bool) -> dict[str, Any]:
    """A copy of `options` with the rules meant for single images decided: the model's
    `corner_cuts` (`cuts`; "auto" given, or the value the model was built with) and the
    redraw of small particles (`local_edges`). "auto" applies them to a single image and
    not to the frames of a time stack, where a neck between sintering particles is what the
    video shows and whether they fused is the linker's call; True or False stand. A time
    stack's faint particles are drawn at their own contrast instead (`local_edges` "auto":
    "small" in a single image, "faint" in a stack; `local_edges.redraw_faint_particles` says
    why single images are not), and the classical split's darkness gives way to a grainy
    support (`grain_guard`, the other way round: a split that follows grains changes from
    frame to frame, while in a single image it still separates more particles than it cuts)."""
    options = dict(options)
    if has_option(segmenter, "corner_cuts"):
        options["corner_cuts"] = _unless_in_stack(options.get("corner_cuts", getattr(segmenter, "corner_cuts", "auto")),
                                                  in_stack)
    if has_option(segmenter, "grain_guard"):
        guard = options.get("grain_guard", getattr(segmenter, "grain_guard", "auto"))
        options["grain_guard"] = in_stack if guard == "auto" else guard
    local = options.get("local_edges", "auto")
    options["local_edges"] = ("faint" if in_stack else "small") if local == "auto" else local
    return options


def _unless_in_stack(value: Any, in_stack: bool) -> bool:
    return (not in_stack) if value == "auto" else bool(value)


def segment(image: Any, model: str | Segmenter = DEFAULT_MODEL, **options: Any) -> np.ndarray:
    """Segment one 2-D micrograph into particles: uint32 (Y, X) labels, 0 background,
    1..N one ID per particle.

    image: (Y, X) grayscale or (Y, X, 3|4) RGB/RGBA, any integer or float dtype (NaN pixels:
    no data); numpy, dask or anything array-like.
    model: a name of `available_models()` or a model from `load_model` (weights go there).
    options: `model_options(model)` lists them with their defaults, e.g. polarity="bright",
    diameter=24 (px) or diameter="12nm" with pixel_size_nm=0.5; prompted models take
    points=(N, 3) y, x, label (1 particle, 0 background) or boxes=(M, 4).
    `napari_temseg.segmentation.segment_image` takes the same and also says what it decided
    (polarity, size, scale, burned-in marks: `.describe()`, `.annotations`)."""
    return segment_image(image, model, **options).labels


def iter_segment_frames(
    frames: Any, model: str | Segmenter = DEFAULT_MODEL, **options: Any
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (t, labels) for each frame of a (T, Y, X) stack, reading frames one at a time.

    Works lazily on dask arrays: only the frame in hand is computed. Consumers
    (widgets, tracking, video) use it so that progress and cancel come for free.
    """
    frames = as_stack(frames)
    segmenter = load_model(model)
    options = stack_options(frames, segmenter, check_model_options(segmenter, options))
    for t in range(frames.shape[0]):
        frame = np.asarray(frames[t])
        yield t, segment(frame, segmenter, **options)


def as_stack(frames: Any) -> Any:
    """A (T, Y, X[, C]) array or dask array from `frames` (a list of frames is stacked), or a
    clear error saying what it got instead."""
    if isinstance(frames, list | tuple):
        shapes = sorted({tuple(np.shape(f)) for f in frames})
        if len(shapes) > 1:
            raise TemsegError(f"the frames differ in shape ({', '.join(map(str, shapes[:4]))}); "
                              "a time stack needs frames of one shape")
        frames = np.stack([np.asarray(f) for f in frames]) if frames else np.zeros((0, 0, 0))
    ndim = getattr(frames, "ndim", None)
    if ndim not in (3, 4) or (ndim == 4 and frames.shape[-1] not in (3, 4)):
        got = f"shape {frames.shape}" if ndim is not None else f"a {type(frames).__name__}"
        raise TemsegError(f"expected a time stack (T, Y, X), got {got}")
    if frames.shape[0] == 0:
        raise TemsegError("the time stack has no frames")
    return frames


#: Frames a time stack's decisions are taken from (evenly spaced).
STACK_SAMPLES = 8


def describe_stack_options(options: dict[str, Any], asked: dict[str, Any]) -> str:
    """The polarity and size `stack_options` settled for every frame of a stack (from the
    options `asked` for), for a status or log line: each marked auto (measured once for the
    stack) or given, a diameter given in nm with what it came to in px; and the support's
    unevenness taken off every frame, if any."""
    def how(key: str) -> str:
        value = str(asked.get(key, "auto")).strip().lower()
        return "auto" if value == "auto" else f"given as {value}" if in_nm(value) else "given"

    diameter = options.get("diameter")
    size = f"diameter {diameter:.1f} px ({how('diameter')})" if isinstance(diameter, float) else "size not measured"
    mode = options.get("flatten")
    flat = FLATTENED.get(BOOLEAN_MODES.get(mode, mode), "")
    return f"{options.get('polarity')} particles ({how('polarity')}), {size}{flat}; the same for every frame"


def stack_marks(frames: Any, still: bool = False) -> tuple[Box, ...]:
    """The burned-in marks of a time stack (`annotations`): the boxes found alike (IoU 0.8:
    noise may clip a pixel of text more or less) in at least half of up to STACK_SAMPLES
    evenly spaced readable frames (a mark burned into a video is in every frame), merged;
    each frame's segmentation leaves out its own. With `still` (a lossy movie, whose codec
    frays a mark out of its one grey level) also the marks that stay still over those
    frames (`annotations.still_marks`), which the frames are then given as `marks`: not for
    other stacks, where a dark particle's shot noise can be as still (a review)."""
    sampled = sampled_frames(frames)
    found = common_marks([find_annotations(as_2d_gray(frame), coloured_pixels(frame)) for frame in sampled])
    if not still:
        return found
    return tuple(sorted(merged_marks([*found, *still_marks([as_2d_gray(frame) for frame in sampled])])))


def with_stack_marks(frames: Any, options: dict[str, Any], lossy: bool) -> tuple[dict[str, Any], tuple[Box, ...]]:
    """(`options`, the stack's marks: `stack_marks`). For a movie in a lossy codec its still
    marks are added to the `marks` every frame is given: each frame's own search cannot find
    what the codec frayed (`temseg track`, the Track and Segment docks alike)."""
    found = stack_marks(frames, still=lossy)
    if lossy and found:
        options = {**options, "marks": (*options.get("marks", ()), *found)}
    return options, found


def sampled_frames(frames: Any) -> list[np.ndarray]:
    """Up to STACK_SAMPLES evenly spaced readable frames of a time stack, what its
    decisions are taken on."""
    picks = np.unique(np.linspace(0, frames.shape[0] - 1, min(STACK_SAMPLES, frames.shape[0])).round().astype(int))
    return [np.asarray(frame) for frame, problem in (read_frame(frames, t) for t in picks) if problem is None]


def common_marks(found: list[tuple[Box, ...]]) -> tuple[Box, ...]:
    """The boxes among frames' `found` marks that at least half of the frames share (IoU
    0.8), merged: a video's burned-in marks, not a box one frame's noise made."""
    kept = [box for boxes in found for box in boxes
            if 2 * sum(any(overlap(box, other) >= 0.8 for other in others) for others in found) >= len(found)]
    return tuple(sorted(merged_marks(kept)))


def stack_options(frames: Any, segmenter: Segmenter, options: dict[str, Any]) -> dict[str, Any]:
    """`options` for every frame of a time stack, with what must hold for all frames decided
    once: polarity (the majority of up to 8 evenly spaced frames), diameter (their median;
    "none" when no frame could measure it), for a model that refines edges whether it
    does (`edge_refiner.refine_edges_for_stack`), and the model's own stack decisions
    (`decide_for_stack`, from the sampled frames as the model would see them), so that all
    frames follow one rule; corner cuts and the redraw of small particles off unless asked
    for (`resolve_single_image_rules`); the sampled frames without the `marks` given."""
    options = resolve_single_image_rules(segmenter, options, in_stack=True)  # a copy
    polarity = parse_polarity(options.get("polarity", "auto"))
    options["diameter"] = diameter = parse_diameter(options.get("diameter", "auto"), options.get("pixel_size_nm"))
    decide_for_stack = getattr(segmenter, "decide_for_stack", None)
    flatten_once = flattens_for(segmenter) and options.get("flatten", "auto") == "auto"
    sampled = []  # read only where something is decided on them
    if "auto" in (polarity, diameter) or decide_for_stack is not None or flatten_once:
        sampled = [normalize_without_marks(frame, options.get("marks", ()))[0] for frame in sampled_frames(frames)]
    if "auto" in (polarity, diameter):
        looks = [decide_look(frame, polarity, diameter) for frame in sampled] or [Look("dark", np.nan, ())]
        if polarity == "auto":
            votes = [look.polarity for look in looks]
            options["polarity"] = polarity = max(POLARITIES, key=votes.count)
        if diameter == "auto":
            radii = [look.radius for look in looks if math.isfinite(look.radius)]
            options["diameter"] = diameter = 2 * float(np.median(radii)) if radii else "none"
    if flatten_once or decide_for_stack is not None:  # the frames as each is seen: vacuum filled
        views = [without_vacuum(1.0 - frame if polarity == "bright" else frame) for frame in sampled]
    if flatten_once:
        options["flatten"] = stack_flatten_mode(views) if views else "never"
    if decide_for_stack is not None:
        radius = diameter / 2 if isinstance(diameter, float) else float("nan")
        factor = model_scale(segmenter, radius)
        options.update(decide_for_stack([resample(view, factor) if factor != 1 else view for view in views], options,
                                        particle_radius=radius * factor))
    if getattr(segmenter, "refines_edges", False):
        from .models.edge_refiner import refine_edges_for_stack  # torch: imported only for the deep models that need it

        options["refine_edges"] = refine_edges_for_stack(frames, options.get("refine_edges", True))
    return options
