"""What each model is, in one place: how to build it, its options, whether it takes prompts,
how it is trained, the input size it was made for.

The CLI, the widgets, bench, evaluate, tracking and training read these specs; nothing
else spells out a model's name or options. Adding a model means one module with a
`build(name, weights, device, **options)` function and one `ModelSpec` here (or `register`). This module
imports nothing heavy, so listing models stays instant.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .options import Option, anything, array, boolean, boxes, check_options, choice, either, number
from .weights import WeightSpec

#: The model used where none is named: no weights, no GPU.
DEFAULT_MODEL = "classical"


@dataclass(frozen=True)
class ArticleRow:
    """The model's row in the article's table (Duan et al. 2024, its GPU and test set)."""

    resolution: int
    images_per_s: float
    gpu_mb: float
    iou: float
    dice: float


@dataclass(frozen=True)
class ModelSpec:
    """name: the registry name; builder: "module:function" under napari_temseg.models (imported
    when a model is built) or the function itself, called as build(name, weights, device,
    **build_options); options: what `predict` takes; build_options:
    what the builder takes besides weights and device; prompted: takes point/box prompts (and
    can propagate them through time); trainer: "module:function" under napari_temseg.train
    for `temseg train` (`cli.train_model` calls it), or None; resolution: the
    network's input size (None: any); weights: where its weights come from (None: it has
    none); network: "module:Class" of a semantic network (`models.semantic`); fixed_input:
    the network is built for one input size and segments only at the size it was trained at;
    article: its row in the article's table, for `temseg bench`."""

    name: str
    builder: str | Callable[..., Any]
    options: tuple[Option, ...]
    build_options: tuple[Option, ...] = ()
    prompted: bool = False
    trainer: str | None = None
    resolution: int | None = None
    weights: WeightSpec | None = None
    network: str | None = None
    fixed_input: bool = False
    article: ArticleRow | None = None

    def builder_function(self) -> Callable[..., Any]:
        if callable(self.builder):
            return self.builder
        return _model_object(self.builder)

    def network_class(self) -> type:
        from ..errors import TemsegError

        if self.network is None:
            semantic = ", ".join(n for n, s in SPECS.items() if s.network)
            raise TemsegError(f"{self.name} is not a semantic network; those are: {semantic}")
        return _model_object(self.network)

    def defaults(self) -> dict[str, Any]:
        return {option.name: option.default for option in self.options}

    def check(self, options: dict[str, Any], extra: tuple[Option, ...] = ()) -> dict[str, Any]:
        """`options` checked against this model's options (and `extra` ones read elsewhere)."""
        return check_options(options, (*self.options, *extra), f"the {self.name} model")


def _model_object(where: str) -> Any:
    """The object "module:name" names under napari_temseg.models (imported now)."""
    module, name = where.split(":")
    return getattr(importlib.import_module(f"napari_temseg.models.{module}"), name)


def _model_name(value: Any) -> str:
    if value in SPECS and not SPECS[value].prompted:
        return value
    raise ValueError("an unprompted model: " + ", ".join(prompted_models(False)))


_model_name.describe = "an unprompted model name"

fraction = number(0.0, 1.0)
pixels = number(0, None, integer=True)
refine = either(boolean, choice("always"))

MIN_SIZE = Option("min_size", 30, pixels, "objects smaller than this many pixels are dropped")
#: "auto" (the default): decided by whether the image is a frame of a time stack
#: (`segmentation.resolve_single_image_rules`), or on/off as given.
corner_switch = either(choice("auto"), boolean)
corner_switch.choices = ("auto", True, False)
CORNER_CUTS = Option("corner_cuts", "auto", corner_switch, "as part of the split, cut objects that are convex "
                     "particles joined along a face (auto: in single images, not in time stacks, where a neck is "
                     "sintering; EfficientSAM: its detector's)")
REFINE_EDGES = Option("refine_edges", True, refine, "redraw edges at full resolution (edge refiner); 'always' skips "
                      "its check that the image is like its training images")

FLATTEN = Option("flatten", "auto", either(boolean, choice("auto", "never", "plane", "always")),
                 "remove uneven illumination (plane) and support thickness (always); auto: what the image needs "
                 "(a time stack decides once)")

CLASSICAL_OPTIONS = (
    Option("sigma", "auto", either(choice("auto"), number(0, 50)), "Gaussian smoothing in px, or auto"),
    Option("threshold_offset", 0.0, number(-1, 1), "added to the Otsu threshold (normalised intensity)"),
    MIN_SIZE,
    Option("split", True, boolean, "split touching particles (watershed)"),
    Option("split_depth", 0.3, number(0.01, 5), "how deep a neck must be to split two particles"),
    Option("split_darkness", 1.0, number(0, 10), "weight of particle darkness in the split (0: outline only)"),
    Option("grain_guard", "auto", corner_switch, "the darkness weighs less where the support's grains rival the "
           "particles (auto: in time stacks, not in single images)"),
    CORNER_CUTS,
    Option("seed_depth", 4.0, number(0, 50), "keep only objects that reach this many support-noise spreads below "
           "the support (0: keep all)"),
    FLATTEN,
)

def _semantic(name: str, network: str, resolution: int, article: ArticleRow, fixed_input: bool,
              variants: dict[str, str] | None = None) -> ModelSpec:
    """Swin-UNet and VM-UNet share one inference path (`models.semantic`) and its options;
    their weights file is named after the network's module."""
    shipped = f"{network.split(':')[0]}_temseg.pt"
    return ModelSpec(
        name, "semantic:build", trainer="semantic:train_semantic", resolution=resolution, network=network,
        fixed_input=fixed_input, article=article,
        weights=WeightSpec(filename=shipped, url=None, bundled=shipped, variants=variants or {}),
        options=(
            Option("threshold", 0.5, number(0.01, 0.99), "foreground probability threshold"),
            Option("split_by", "outline", choice("outline", "centre"), "split touching particles at necks of the "
                   "foreground's outline (and the image's darkness), or by the centre map of instance-aware weights"),
            Option("split_depth", 0.1, number(0.01, 5), "outline split: neck depth that splits"),
            Option("split_darkness", 0.5, number(0, 10), "outline split: weight of particle darkness "
                   "in the split (0: the network's outline alone)"),
            CORNER_CUTS,
            Option("centre_depth", 0.2, fraction, "centre split: how deep a centre-map valley "
                   "must be to split two particles"),
            MIN_SIZE,
            Option("overlap", 64, number(0, 1024, integer=True), "tile overlap in px"),
            Option("batch", 1, number(1, 256, integer=True), "tiles per network call"),
            Option("precision", "fp32", choice("fp32", "bf16"), "bf16: faster on CPUs with bf16 units"),
            FLATTEN,
            REFINE_EDGES,
        ),
    )


SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        # its build options become the defaults of its options
        ModelSpec("classical", "classical:build", CLASSICAL_OPTIONS, CLASSICAL_OPTIONS),
        ModelSpec(
            "yolov8n-seg", "yolo:build", trainer="yolo:train_yolo", resolution=512,
            # the official yolov8n-seg.pt is an 80-class COCO model: pass it with weights=
            weights=WeightSpec(filename="yolov8n_seg_temseg.pt", url=None, bundled="yolov8n_seg_temseg.pt",
                               # retrained with the simulator: better on unseen kinds of image, 0.02
                               # lower IoU on the article's (docs/yolo.md, docs/robustness.md)
                               variants={"sim": "yolov8n_seg_temseg_sim.pt"}),
            article=ArticleRow(512, 80.19, 1513, 0.93324, 0.96546),
            options=(
                Option("conf", 0.15, fraction, "confidence a detection needs"),
                Option("iou", 0.7, fraction, "overlap at which non-maximum suppression drops a detection"),
                Option("duplicate_share", 0.5, fraction,
                       "a mask keeping less than this share of its pixels under more confident ones is a duplicate (0: keep all)"),
                Option("join_solidity", 0.93, fraction,
                       "adjacent masks whose union is at least this convex are one particle drawn in pieces (0: off)"),
                CORNER_CUTS,
                Option("denoise", None, either(choice(None), number(0, 20)),
                       "Gaussian smoothing of the input in px (default: as the weights were trained; 1 helps at low dose)"),
                Option("max_det", 1000, number(1, 100000, integer=True), "most particles per tile"),
                Option("tile", 1024, number(64, 8192, integer=True), "images larger than this are tiled"),
                Option("overlap", 128, number(0, 4096, integer=True), "tile overlap in px"),
                Option("min_size", 0, pixels, MIN_SIZE.help),
                FLATTEN,
                REFINE_EDGES,
            ),
        ),
        ModelSpec(
            "efficientsam-tiny", "efficient_sam.segmenter:build", prompted=True, trainer="sam:train_efficientsam",
            resolution=1024, build_options=(Option("batch", 64, number(1, 4096, integer=True), "prompts per call"),),
            weights=WeightSpec(
                filename="efficient_sam_vitt.pt",
                url="https://github.com/yformer/EfficientSAM/raw/main/weights/efficient_sam_vitt.pt",
                sha256=None,  # this machine cannot reach the file to hash it; see docs/weights.md
                bundled="efficientsam_tiny_temseg.pt",
                # sharp: the first stage, unsmoothed input, edges where the image has them (particles
                # under ~40 px, cleaner images); article: the default before the simulator was added
                # to its training (docs/efficientsam.md)
                variants={"sharp": "efficientsam_tiny_temseg_sharp.pt", "article": "efficientsam_tiny_temseg_article.pt"},
            ),
            article=ArticleRow(1024, 17.94, 1827, 0.99672, 0.99836),
            options=(
                Option("mode", None, either(choice(None), choice("auto", "grid", "prompt", "refine")),
                       "prompt (points/boxes), auto (one prompt per detected particle), grid, refine"),
                Option("points", None, either(choice(None), array), "(N, 3|4) y, x, label[, object]"),
                Option("boxes", None, either(choice(None), array), "(M, 4) y0, x0, y1, x1"),
                Option("points_per_side", 20, number(1, 64, integer=True), "grid mode: points per side"),
                Option("iou_threshold", 0.6, fraction, "auto/grid: predicted IoU a mask needs"),
                Option("stability_threshold", 0.8, fraction, "auto/grid: stability a mask needs"),
                Option("agreement", 0.5, fraction,
                       "auto: IoU a mask needs with the particle it was prompted from (0: any)"),
                Option("nms_threshold", 0.5, fraction, "auto/grid: mask overlap that makes a duplicate"),
                MIN_SIZE,
                Option("box_source", DEFAULT_MODEL, _model_name, "auto/refine: the model that finds particles"),
                CORNER_CUTS,
                REFINE_EDGES,
            ),
        ),
        # `--weights sim`: retrained with the simulator, better on unseen kinds of image, 0.006
        # lower IoU on the article's (docs/semantic-models.md).
        _semantic("swin-unet", "swin_unet:SwinUNet", 448, ArticleRow(448, 64.89, 1793, 0.96495, 0.98216),
                  fixed_input=True, variants={"sim": "swin_unet_temseg_sim.pt"}),
        # Trained on the article's images and the simulator (docs/semantic-models.md);
        # `--weights article`: the article's images only, 0.0015 higher IoU on them.
        _semantic("vmamba", "vmamba:VMUNet", 512, ArticleRow(512, 16.41, 1823, 0.99449, 0.99723),
                  fixed_input=False, variants={"article": "vmamba_temseg_article.pt"}),
    )
}

#: Options every model takes, read by `segmentation` before the model runs.
APPEARANCE = (
    Option("polarity", "auto", choice("auto", "dark", "bright"), "particles darker (bright-field) or brighter"),
    Option("diameter", "auto", anything, "typical particle diameter: auto, none, px, or e.g. 12nm"),
    Option("pixel_size_nm", None, either(choice(None), number(1e-6, None)), "nm per pixel"),
    Option("edge_level", "auto", either(choice("auto"), number(0.05, 0.5)),
           "where edges are drawn between support (0) and the midpoint (0.5); auto: 0.2 for bright particles"),
    Option("df_absorption", "auto", either(choice("auto"), number(0, 10)),
           "bright particles: how strongly their brightness is mapped to a bright-field look before the "
           "model (0: as it is); auto: 2 for the classical model and yolov8n-seg weights trained without "
           "dark-field images, 0 otherwise"),
    Option("min_depth", "auto", either(choice("auto"), number(0, None)),
           "drop particles not this many support spreads darker than the support (0: keep all); "
           "auto: 3 (the classical model checks its own seed_depth)"),
    Option("min_significance", "auto", either(choice("auto"), number(0, None)),
           "drop objects whose contrast against the support around them is fewer than this many "
           "standard errors of the pixel noise (0: keep all); auto: 3.5, none for prompts"),
    Option("marks", (), boxes, "boxes y0, x0, y1, x1 (px) of burned-in marks to leave out, besides those found "
           "(a time stack adds the marks that stay still from frame to frame, as in a lossy movie)"),
    Option("local_edges", "auto", either(choice("auto", "small", "faint"), boolean),
           "draw particles at their own contrast against the support around them. small: in an image of "
           "small particles (radius up to 12 px) every one, adding faint ones the model missed; faint: "
           "elsewhere, particles much fainter than the others grown out to it, and faint ones the model "
           "missed added; true: both; auto: small in single images, faint in the frames of a time stack"),
)


def spec(name: str) -> ModelSpec:
    from ..errors import TemsegError

    try:
        return SPECS[name]
    except KeyError:
        raise TemsegError(f"unknown model {name!r}; known: {', '.join(SPECS)}") from None


def register(model_spec: ModelSpec) -> None:
    """Add a model (a plug-in, or a test's toy model) to every front end."""
    SPECS[model_spec.name] = model_spec


def prompted_models(prompted: bool = True) -> list[str]:
    """The names of the models that take prompts (or, with `prompted=False`, of those that do not)."""
    return [name for name, model_spec in SPECS.items() if model_spec.prompted == prompted]


def spec_of(model: Any) -> ModelSpec | None:
    """The spec of a built model, None for one no spec describes (e.g. a user's own object)."""
    return SPECS.get(getattr(model, "name", None))


def has_option(model: Any, name: str) -> bool:
    """Whether the spec of `model` (a built model; one no spec describes has none) lists option `name`."""
    model_spec = spec_of(model)
    return model_spec is not None and any(option.name == name for option in model_spec.options)
