"""YOLOv8n-seg: dataset conversion, tiled stitching, offline safety and the shipped weights."""

import subprocess
import sys
import textwrap

import imageio.v3 as iio
import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_temseg import TemsegError, load_model
from napari_temseg.datasets import Sample
from napari_temseg.instances import join_convex_pieces
from napari_temseg.metrics import instance_scores
from napari_temseg.models import weights
from napari_temseg.models.yolo import YoloSegmenter, network_gray, saw_dark_field
from napari_temseg.preprocess import normalize
from napari_temseg.train.yolo_data import instance_polygons, write_dataset


def test_polygons_are_normalised_outlines_without_fragments():
    labels = np.zeros((100, 200), np.uint16)
    labels[10:30, 20:60] = 3
    labels[15:20, 30:40] = 0  # a hole: still one particle, outer outline only
    labels[50:90, 100:140] = 7
    labels[95, 195] = 9  # a 1-pixel fragment is left out
    polys = instance_polygons(labels)
    assert len(polys) == 2
    for p in polys:
        assert p.shape[1] == 2 and p.min() >= 0 and p[:, 0].max() <= 1 and p[:, 1].max() <= 1
    xs = sorted(round(p[:, 0].min(), 2) for p in polys)
    assert xs == [0.1, 0.5]


def test_dataset_folder_and_yaml(tmp_path, touching_images):
    samples = [Sample(f"s{i}", s.image, s.labels) for i, s in enumerate(touching_images[:2])]
    yaml = write_dataset(samples[:1], samples[1:], tmp_path, input_mode="anchored", denoise=1.0)
    written = iio.imread(tmp_path / "images" / "train" / "s0.png")
    assert np.array_equal(written, network_gray(normalize(samples[0].image), "anchored", 1.0))  # as inference sees it
    text = yaml.read_text()
    assert "train: images/train" in text and "0: particle" in text
    lines = (tmp_path / "labels" / "train" / "s0.txt").read_text().splitlines()
    assert len(lines) == len(np.unique(touching_images[0].labels)) - 1
    assert all(line.startswith("0 ") for line in lines)


class DiscTiles(YoloSegmenter):
    """A stand-in network that 'detects' the true particles inside each tile it is given."""

    def __init__(self, truth):
        self.truth = truth
        self.input_mode, self.denoise, self.device = "stretch", 0.0, "cpu"
        self.calls = []

    def predict_tile(self, rgb, conf, iou, max_det):
        # find which part of the full image this tile is (tiles are taken in order)
        y0, x0 = self.offsets.pop(0)
        h, w = rgb.shape[:2]
        crop = self.truth[y0 : y0 + h, x0 : x0 + w]
        ids = [i for i in np.unique(crop) if i]
        self.calls.append((y0, x0))
        return np.array([crop == i for i in ids]).reshape(-1, h, w), np.linspace(0.5, 0.9, len(ids))


def test_tiles_stitch_each_particle_once(touching_images):
    truth = np.tile(touching_images[1].labels, (2, 3))  # 1024 x 1536
    truth = np.where(truth > 0, truth + np.repeat(np.repeat(np.arange(6).reshape(2, 3) * 1000, 512, 0), 512, 1), 0)
    model = DiscTiles(truth)
    tile, overlap = 512, 128
    step = tile - overlap
    model.offsets = [(y, x) for y in range(0, truth.shape[0] - overlap, step) for x in range(0, truth.shape[1] - overlap, step)]
    image = (truth == 0).astype(np.float32)
    labels = model.predict(image, tile=tile, overlap=overlap, refine_edges=False)  # the stitching alone
    s = instance_scores(labels, truth)
    assert s.f1 > 0.97, s
    assert labels.shape == truth.shape


class DuplicateTiles(DiscTiles):
    """DiscTiles that also 'detects' every pair of neighbours as one, less confidently:
    masks a real network gives beside the particles' own."""

    def predict_tile(self, rgb, conf, iou, max_det):
        masks, scores = super().predict_tile(rgb, conf, iou, max_det)
        pairs = [ndi.binary_dilation(masks[i] | masks[i + 1], iterations=2) for i in range(len(masks) - 1)]
        return np.concatenate([masks, np.array(pairs).reshape(-1, *masks.shape[1:])]), np.r_[scores, np.full(len(pairs), 0.3)]


def test_masks_mostly_under_more_confident_ones_are_duplicates(touching_images):
    """A pair's joint mask (a little wider than the two), painted first, keeps only a rim
    around its own particles' masks: a duplicate, dropped, and its pixels go to the
    particles (the foreground is kept). Without the rule (duplicate_share=0) the slivers count as particles."""
    truth = np.tile(touching_images[1].labels, (2, 3))
    truth = np.where(truth > 0, truth + np.repeat(np.repeat(np.arange(6).reshape(2, 3) * 1000, 512, 0), 512, 1), 0)
    step = 512 - 128
    offsets = [(y, x) for y in range(0, truth.shape[0] - 128, step) for x in range(0, truth.shape[1] - 128, step)]
    image = (truth == 0).astype(np.float32)
    results = {}
    for share in (0.0, 0.5):
        model = DuplicateTiles(truth)
        model.offsets = list(offsets)
        results[share] = model.predict(image, tile=512, overlap=128, refine_edges=False, duplicate_share=share)
    assert instance_scores(results[0.5], truth).f1 > 0.97
    assert np.array_equal(results[0.5] > 0, results[0.0] > 0)
    assert results[0.5].max() < results[0.0].max()


def test_a_particle_drawn_in_pieces_is_joined_and_touching_particles_are_not():
    yy, xx = np.mgrid[:100, :120]
    rod = ((yy - 50) / 8.0) ** 2 + ((xx - 60) / 40.0) ** 2 < 1
    halves = np.where(rod, np.where(xx < 60, 1, 2), 0).astype(np.uint32)  # YOLO cuts rods across
    assert join_convex_pieces(halves).max() == 1
    assert join_convex_pieces(halves, 0.0).max() == 2  # off
    discs = np.zeros((100, 120), np.uint32)  # two round particles pressed together: a waist
    discs[(yy - 50) ** 2 + (xx - 40) ** 2 < 15**2] = 1
    discs[((yy - 50) ** 2 + (xx - 68) ** 2 < 15**2) & (discs == 0)] = 2
    assert join_convex_pieces(discs).max() == 2
    three = np.where(rod, np.digitize(xx, [47, 74]) + 1, 0).astype(np.uint32)  # three pieces: one rod
    assert np.array_equal(np.unique(join_convex_pieces(three)), [0, 1])
    assert join_convex_pieces(np.zeros((8, 8), np.uint32)).max() == 0


def test_denoise_option_smooths_the_network_input(monkeypatch, touching_images):
    """`-o denoise=S` smooths what the network sees by S px; by default, as the weights were trained."""
    import napari_temseg.models.yolo as yolo

    seen = []
    monkeypatch.setattr(yolo, "network_gray", lambda image, mode, denoise: seen.append(denoise) or image)
    truth = touching_images[1].labels
    for options in ({}, {"denoise": 1.5}):
        model = DiscTiles(truth)
        model._instances = lambda gray, *args: np.zeros(gray.shape, np.uint32)  # the network itself is not needed
        model.predict((truth == 0).astype(np.float32), refine_edges=False, **options)
    assert seen == [0.0, 1.5]


def test_missing_weights_file_is_clear():
    with pytest.raises(TemsegError, match="no such weights file"):
        load_model("yolov8n-seg", weights="yolov8n-seg.pt")  # a bare name must not trigger a download


OFFLINE_SCRIPT = textwrap.dedent(
    """
    import socket, sys
    attempts = []
    def refuse(self, address, *a, **k):
        attempts.append(address)
        raise OSError("network blocked by the test")
    def refuse_dns(host, *a, **k):
        attempts.append(host)
        raise socket.gaierror("dns blocked by the test")
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.getaddrinfo = refuse_dns
    from napari_temseg.datasets import Sample
    from napari_temseg.synth import synth_image
    from napari_temseg.train.yolo import train_yolo
    from napari_temseg import load_model, segment
    import napari_temseg.train.data as data
    data.iter_dataset = lambda d: [Sample(f"t{i}", *vars(synth_image((128, 128), 6, radius=(5, 10), seed=i)).values()) for i in range(4)]
    out = train_yolo(["unused"], sys.argv[1], epochs=1, imgsz=128, batch=2, synth=0, input_mode="anchored", denoise=1.5)
    model = load_model("yolov8n-seg", weights=out)
    labels = segment(synth_image((128, 128), 6, radius=(5, 10), seed=9).image, model, conf=0.001)
    print("ATTEMPTS", attempts)
    print("SHAPE", labels.shape)
    print("DARK FIELD", model.df_absorption)
    print("INPUT", model.input_mode, model.denoise)
    from napari_temseg import TemsegError
    for again in ({"resume": True}, {}):  # a finished run: nothing to resume, and not started over
        try:
            train_yolo(["unused"], sys.argv[1], epochs=1, imgsz=128, batch=2, synth=0, **again)
        except TemsegError as err:
            print("REFUSED", str(err).split(":")[0], "finished" if "has finished" in str(err) else "state")
    """
)


@pytest.mark.slow
def test_no_network_train_and_predict(tmp_path):
    env = {"TEMSEG_CACHE": str(tmp_path / "cache"), "HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    (tmp_path / "here").mkdir()
    run = subprocess.run(  # a relative --out: ultralytics put such a run under its own runs folder, then lost it
        [sys.executable, "-c", OFFLINE_SCRIPT, "../yolo.pt"],
        capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path / "here",
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert "REFUSED nothing to resume finished" in run.stdout and run.stdout.count("REFUSED") == 2
    assert "epoch 1/1: val loss" in run.stderr and "epoch 2/1" not in run.stderr  # one line per epoch (said nothing)
    assert "ATTEMPTS []" in run.stdout, run.stdout
    assert "SHAPE (128, 128)" in run.stdout
    assert "INPUT anchored 1.5" in run.stdout  # how images were prepared travels in the checkpoint
    assert "DARK FIELD 2.0" in run.stdout  # no simulated (dark-field) images: dark field gets a bright-field look
    assert (tmp_path / "yolo.pt").stat().st_size < 8_000_000
    assert not (tmp_path / "home" / ".config" / "Ultralytics").exists()  # settings stay in our cache


def test_shipped_weights_segment_article_data(paper_data):
    if weights.find("yolov8n-seg") is None:
        pytest.skip("no shipped YOLO weights in this checkout")
    from napari_temseg.evaluation import evaluate_dataset

    summary = evaluate_dataset(str(paper_data), "yolov8n-seg")
    # measured 0.924 (docs/yolo.md); the issue asks for 0.95, not reached yet: guard against regressions
    assert summary["iou"] >= 0.91, summary
    assert summary["f1"] >= 0.9, summary


def test_cli_segment_with_shipped_weights_offline(tmp_path, touching_images):
    if weights.find("yolov8n-seg") is None:
        pytest.skip("no shipped YOLO weights in this checkout")
    import tifffile

    image = tmp_path / "micrograph.tif"
    tifffile.imwrite(image, touching_images[0].image)
    script = textwrap.dedent(
        """
        import socket, sys
        def refuse(*a, **k):
            raise OSError("network blocked by the test")
        socket.socket.connect = refuse
        socket.getaddrinfo = refuse
        from napari_temseg.cli import main
        sys.exit(main(["segment", sys.argv[1], "--model", "yolov8n-seg", "--out", sys.argv[2]]))
        """
    )
    env = {"TEMSEG_CACHE": str(tmp_path / "cache"), "HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-c", script, str(image), str(tmp_path / "out")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    import tifffile as tf

    labels = tf.imread(tmp_path / "out" / "micrograph_labels.tif")
    assert labels.max() >= 10
    s = instance_scores(labels, touching_images[0].labels)
    assert s.f1 > 0.8


def test_simulator_variant_finds_dark_field_particles():
    """`weights="sim"` (retrained with the simulator) ships beside the default, and both
    segment a dark-field image of the simulator's held-out regime (docs/yolo.md). The default
    scored 0.630 here before duplicate masks were dropped (`instances.DUPLICATE_SHARE`)."""
    from napari_temseg.segmentation import segment_image
    from napari_temseg.simulator import random_image

    sample = random_image(5, "heldout", mode="df", radius_span=(10.0, 25.0), shape=(384, 384), contrast=0.8)
    results = {w: segment_image(sample.image, load_model("yolov8n-seg", weights=w)) for w in (None, "sim")}
    scores = {w: instance_scores(r.labels, sample.labels).f1 for w, r in results.items()}
    assert min(scores.values()) >= 0.9, scores  # measured 1.0 and 1.0
    # trained on bright-field images only, the default sees them with a bright-field look; `sim` saw dark field
    assert results[None].absorption == 2.0 and "bright-field look" in results[None].describe()
    assert results["sim"].absorption == 0.0


def test_dark_field_is_known_from_the_weights_settings():
    assert not saw_dark_field({})  # the shipped default: article images and the older synth only
    assert saw_dark_field({"radius_range": [6.0, 40.0]})  # the shipped sim variant, from before the record
    assert not saw_dark_field({"radius_range": [6.0, 40.0], "dark_field": False})
    assert saw_dark_field({"dark_field": True})


def test_yolo_training_without_a_validation_image_is_refused_before_anything_is_written(tmp_path):
    from napari_temseg.train.yolo import train_yolo

    with pytest.raises(TemsegError, match="needs a validation image"):
        train_yolo([], tmp_path / "run" / "yolo.pt", epochs=1, imgsz=64, synth=1)
    assert not (tmp_path / "run").exists()
