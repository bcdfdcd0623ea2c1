"""Edge refinement: training from degraded masks, seamless tiles, instance identity kept,
the shipped refiner's gain, and the switch every deep model takes."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import interrupt_on_call

from napari_temseg import load_model, segment
from napari_temseg.errors import TemsegError
from napari_temseg.metrics import foreground_iou
from napari_temseg.models import edge_refiner
from napari_temseg.models.edge_refiner import edge_band, load_edge_refiner, read_refiner
from napari_temseg.preprocess import normalize
from napari_temseg.train.edge_refiner import degrade_mask, train_edge_refiner


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return foreground_iou(a.astype(np.uint32), b.astype(np.uint32))


def test_degraded_masks_move_edges_but_keep_the_particles(touching_images):
    truth = touching_images[0].labels > 0
    rng = np.random.default_rng(0)
    masks = [degrade_mask(truth, rng) for _ in range(6)]
    scores = [_iou(m, truth) for m in masks]
    assert all(0.6 < s < 1.0 for s in scores), scores  # wrong edges, same particles
    assert not (masks[0] ^ truth)[~edge_band(truth, 8)].any()  # errors stay near the true edge
    again = degrade_mask(truth, np.random.default_rng(0))
    assert np.array_equal(again, masks[0])  # seeded


def test_train_resume_and_load(tmp_path, monkeypatch):
    import napari_temseg.train.edge_refiner as training

    monkeypatch.setattr(training, "STEPS_PER_EPOCH", 3)
    kwargs = dict(epochs=2, crop=64, batch=2, synth=3)
    out = train_edge_refiner([], tmp_path / "a" / "r.pt", **kwargs)
    real_validate = interrupt_on_call(monkeypatch, training, "_validate", 2)  # in the second epoch
    with pytest.raises(KeyboardInterrupt):
        train_edge_refiner([], tmp_path / "b" / "r.pt", **kwargs)
    monkeypatch.setattr(training, "_validate", real_validate)
    with pytest.raises(TemsegError, match="same settings"):
        train_edge_refiner([], tmp_path / "b" / "r.pt", resume=True, **dict(kwargs, crop=32))
    with pytest.raises(TemsegError, match="started with batch 2 \\(now 4\\)"):
        train_edge_refiner([], tmp_path / "b" / "r.pt", resume=True, **dict(kwargs, batch=4))
    log = tmp_path / "b" / "r.csv"  # as if stopped after logging epoch 2 but before its state was saved
    log.write_text(log.read_text() + "2,9,9,9,9,9,9\n")
    train_edge_refiner([], tmp_path / "b" / "r.pt", resume=True, **kwargs)
    assert (tmp_path / "a" / "r.csv").read_text() == log.read_text()  # epoch 2 logged once
    assert len((tmp_path / "a" / "r.csv").read_text().splitlines()) == 3
    assert read_refiner(out).band == 4


def test_foreign_checkpoints_are_refused(tmp_path):
    from napari_temseg.models.weights import find

    with pytest.raises(TemsegError, match="not an edge-refiner checkpoint"):
        read_refiner(find("swin-unet"))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(TemsegError, match="not an edge-refiner checkpoint"):
        read_refiner(junk)


def test_tiles_join_without_seams(touching_images, monkeypatch):
    sample = touching_images[1]
    image = normalize(sample.image)
    coarse = degrade_mask(sample.labels > 0, np.random.default_rng(1))
    refiner = load_edge_refiner()
    whole = refiner.refine_mask(image, coarse)
    monkeypatch.setattr(edge_refiner, "TILE", 100)
    assert np.array_equal(refiner.refine_mask(image, coarse), whole)
    with pytest.raises(TemsegError, match="one shape"):
        refiner.refine_mask(image, coarse[:-1])


def test_refined_labels_keep_every_particle_and_its_id(two_discs, monkeypatch):
    image = np.where(two_discs > 0, 0.2, 0.8).astype(np.float32)
    labels = two_discs.copy()
    labels[44, 44 - 9] = 2  # a stray pixel outside disc 2
    labels[2, 2] = 3  # a one-pixel "particle" the band would erase
    monkeypatch.setattr(load_edge_refiner(), "noise_range", None)  # act on this noiseless image too
    refined = load_edge_refiner().refine_labels(image, labels)
    assert set(np.unique(refined)) == {0, 1, 2, 3}
    assert refined[20, 20] == 1 and refined[44, 44] == 2 and refined[2, 2] == 3
    assert refined.dtype == labels.dtype


def test_shipped_refiner_restores_coarse_edges(paper_data):
    """Masks decoded at 1/4 resolution, as YOLO's and EfficientSAM's are, on the article's
    held-out images (not trained on): the refiner brings their edges back."""
    from napari_temseg.datasets import iter_dataset

    refiner = load_edge_refiner()
    rng = np.random.default_rng(5)
    before, after = [], []
    for sample in iter_dataset(str(paper_data)):
        if sample.name not in ("image_2", "image_4", "image_6", "image_19"):
            continue
        truth = sample.labels > 0
        small = truth.reshape(128, 4, 128, 4).mean((1, 3))
        coarse = np.kron(small, np.ones((4, 4))) > 0.5
        coarse = np.roll(coarse, int(rng.integers(-1, 2)), axis=0)
        before.append(_iou(coarse, truth))
        after.append(_iou(refiner.refine_mask(normalize(sample.image), coarse), truth))
    assert np.mean(after) > np.mean(before) + 0.02 and np.mean(after) > 0.98, (before, after)


def test_only_images_like_the_training_images_are_refined(touching_images, paper_data):
    """The shipped refiner learnt the article's edges; synthetic images at dose 40 are four
    times cleaner than those and keep the model's own edges."""
    from napari_temseg.datasets import iter_dataset

    refiner = load_edge_refiner()
    assert refiner.noise_range == pytest.approx([0.1246, 0.174])
    assert all(refiner.applies_to(normalize(s.image)) for s in iter_dataset(str(paper_data)))
    sample = touching_images[0]
    assert not refiner.applies_to(normalize(sample.image))
    coarse = degrade_mask(sample.labels > 0, np.random.default_rng(2)).astype(np.uint32)
    assert np.array_equal(refiner.refine_labels(normalize(sample.image), coarse), coarse)


@pytest.mark.parametrize("name", ["yolov8n-seg", "swin-unet"])
def test_deep_models_refine_edges_unless_told_not_to(touching_images, name, monkeypatch):
    image = touching_images[2].image
    monkeypatch.setattr(load_edge_refiner(), "noise_range", None)  # refine these synthetic images too
    model = load_model(name)
    raw = segment(image, model, refine_edges=False)
    refined = segment(image, model)
    assert raw.max() == refined.max()  # same particles
    assert (raw != refined).any()  # other edges
    assert _iou(refined, raw) > 0.85


def test_a_refiner_trained_elsewhere_is_imported_and_used(tmp_path, monkeypatch):
    """`temseg weights import edge-refiner FILE` puts a user's refiner (e.g. trained on their
    own labels) in the cache, where every deep model then finds it; other files are refused."""
    from napari_temseg.cli import main
    from napari_temseg.models.weights import PACKAGE_WEIGHTS, find

    monkeypatch.setenv("TEMSEG_CACHE", str(tmp_path / "cache"))
    assert main(["weights", "import", "edge-refiner", str(PACKAGE_WEIGHTS / "swin_unet_temseg.pt")]) == 2
    assert find("edge-refiner").parent == PACKAGE_WEIGHTS
    assert main(["weights", "import", "edge-refiner", str(PACKAGE_WEIGHTS / "edge_refiner_temseg.pt")]) == 0
    assert find("edge-refiner") == tmp_path / "cache" / "edge_refiner_temseg.pt"


def test_refine_edges_takes_true_false_or_always(touching_images):
    """True refines images like the refiner's training images, "always" any image, False none."""
    from napari_temseg.models.edge_refiner import finish_edges

    sample = touching_images[0]  # synthetic: outside the shipped refiner's range
    image = normalize(sample.image)
    coarse = degrade_mask(sample.labels > 0, np.random.default_rng(3)).astype(np.uint32)
    assert np.array_equal(finish_edges(image, coarse, True), coarse)
    assert np.array_equal(finish_edges(image, coarse, False), coarse)
    assert (finish_edges(image, coarse, "always") != coarse).any()
    with pytest.raises(TemsegError, match="refine_edges must be true, false or 'always'"):
        finish_edges(image, coarse, "maybe")


class _CoarseModel:
    """A deep model's contract with a known answer: degraded true masks, then the refiner."""

    name = "coarse"
    refines_edges = True

    def __init__(self, samples) -> None:
        rng = np.random.default_rng(4)
        self.answers = [(normalize(s.image), degrade_mask(s.labels > 0, rng).astype(np.uint32)) for s in samples]

    def raw(self, image: np.ndarray) -> np.ndarray:
        return next(mask for known, mask in self.answers if np.array_equal(known, image))

    def predict(self, image, refine_edges=True):
        from napari_temseg.models.edge_refiner import finish_edges

        return finish_edges(image, self.raw(image), refine_edges)


def test_a_stack_gets_one_refinement_decision(touching_images, monkeypatch):
    """Frames that straddle an end of the refiner's range are all refined (or none), so that
    particle sizes follow one edge rule through a video; frame by frame they would not be."""
    from napari_temseg.instances import one_piece_per_particle
    from napari_temseg.preprocess import noise_to_contrast
    from napari_temseg.segmentation import iter_segment_frames

    stack = np.stack([s.image for s in touching_images[:3]])
    ratios = [noise_to_contrast(normalize(f)) for f in stack]
    low, mid, high = sorted(ratios)
    refiner = load_edge_refiner()
    monkeypatch.setattr(refiner, "noise_range", [low, (mid + high) / 2 / edge_refiner.NOISE_MARGIN])
    outside = int(np.argmax(ratios))
    assert [refiner.applies_to(normalize(f)) for f in stack] == [t != outside for t in range(3)]
    assert edge_refiner.refine_edges_for_stack(stack) == "always"  # the median frame is in range
    assert edge_refiner.refine_edges_for_stack(stack, False) is False

    model = _CoarseModel(touching_images[:3])
    # as drawn, kept to one piece per ID (every segmentation does that): the coarse model's
    # masks give every particle ID 1
    drawn = [one_piece_per_particle(model.raw(normalize(f))) for f in stack]
    assert np.array_equal(segment(stack[outside], model), drawn[outside])  # alone: left as drawn
    refined = dict(iter_segment_frames(stack, model))
    assert all((refined[t] != drawn[t]).any() for t in range(3))  # in the stack: all refined
    kept = dict(iter_segment_frames(stack, model, refine_edges=False))
    assert all(np.array_equal(kept[t], drawn[t]) for t in range(3))
