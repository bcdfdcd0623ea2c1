"""Shared fixtures: small synthetic data built once per session, and the article's data if present."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_temseg.synth import synth_image, synth_video

SHARED = Path(__file__).resolve().parents[2] / "shared"
PAPER_DATA = SHARED / "data" / "paper-tem" / "train"
ESAM_FIXTURE = SHARED / "fixtures" / "efficientsam-vitt"


def interrupt_on_call(monkeypatch, owner, name: str, call: int):
    """Patch `owner.name` to raise KeyboardInterrupt (a Ctrl-C) on its `call`-th call, as
    interrupted runs are tested; returns the real function, to put back before resuming."""
    real, calls = getattr(owner, name), []

    def interrupting(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, interrupting)
    return real


@pytest.fixture(scope="session")
def paper_data() -> Path:
    if not (PAPER_DATA / "images").is_dir():
        pytest.skip(f"the article's data is not at {PAPER_DATA}")
    return PAPER_DATA


@pytest.fixture(scope="session")
def esam_fixture() -> Path:
    """The EfficientSAM-vitt parity fixture: a random official-format checkpoint and golden outputs."""
    if not (ESAM_FIXTURE / "efficient_sam_vitt_random_fp16.pt").is_file():
        pytest.skip(f"the EfficientSAM parity fixture is not at {ESAM_FIXTURE}")
    return ESAM_FIXTURE


@pytest.fixture(scope="session")
def touching_images():
    """Synthetic micrographs with about 40 % of particles in touching pairs."""
    return [synth_image(seed=seed) for seed in range(4)]


@pytest.fixture(scope="session")
def small_video():
    """40 frames, 4 fusions (one three-way), one touch-and-part pair, drift and noise."""
    return synth_video(n_frames=40, shape=(320, 320), seed=0)


@pytest.fixture
def tracked_viewer(make_napari_viewer):
    """A real viewer with a synthetic sintering video and its tracked layers ("video tracked",
    "video lineage"), as the Track widget shows them."""
    from napari_temseg._widgets.track import show_tracks
    from napari_temseg.tracking import track

    viewer = make_napari_viewer()
    video = synth_video(n_frames=30, shape=(320, 320), n_single=4, n_pairs=2, n_triples=0, n_touching=1, seed=1)
    image = viewer.add_image(video.frames, name="video")
    result = track(video.frames)
    show_tracks(viewer, result.labels, result.events, image.scale, image.translate, "video")
    return viewer, result


@pytest.fixture
def two_discs():
    """Labels of two separate discs in a 64x64 frame (IDs 1 and 2)."""
    yy, xx = np.mgrid[:64, :64]
    labels = np.zeros((64, 64), np.uint32)
    labels[(yy - 20) ** 2 + (xx - 20) ** 2 < 64] = 1
    labels[(yy - 44) ** 2 + (xx - 44) ** 2 < 64] = 2
    return labels


def fastest(run, times: int) -> float:
    """Seconds of the fastest of `times` calls of `run`: the suite's other worker process
    shares the CPU, so a timed test reads its best run."""
    best = float("inf")
    for _ in range(times):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def write_movie(path: Path, frames: np.ndarray, codec: str, fps: float = 12.5) -> Path:
    """`frames` (T, Y, X) uint8 as a colour movie in `codec` (a FourCC), as acquisition
    software exports them."""
    from napari_temseg.opencv import opencv

    cv2 = opencv()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, frames.shape[:0:-1], True)
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def write_emd(path: Path, data: np.ndarray, pixel: float, unit: str, y_scale: float | None = None) -> Path:
    """A (T, Y, X) NCEM EMD file written by rosettasciio, with `pixel` `unit` per pixel
    (`y_scale` along Y, where the pixels are not square)."""
    import rsciio.emd

    axes = [{"name": "time", "size": data.shape[0], "scale": 1.0, "offset": 0, "units": "s", "navigate": True}]
    axes += [
        {"name": name, "size": size, "scale": scale, "offset": 0, "units": unit, "navigate": False}
        for name, size, scale in zip("yx", data.shape[1:], (y_scale or pixel, pixel), strict=False)
    ]
    signal = {"data": data, "axes": axes, "metadata": {"General": {"title": path.stem}, "Signal": {}}, "original_metadata": {}}
    rsciio.emd.file_writer(str(path), signal)
    return path


def faint_discs(centres, radius=5.0, shape=(80, 80), contrast=0.3, noise=0.02, seed=0):
    """(image, truth): rounded particles (thickness sqrt(1 - s^2)) a little darker than a
    noisy support, as small metal particles on carbon."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    thickness = np.zeros(shape)
    truth = np.zeros(shape, np.uint32)
    for index, (cy, cx) in enumerate(centres, start=1):
        d2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / radius**2
        thickness = np.maximum(thickness, np.sqrt(np.clip(1 - d2, 0, None)))
        truth[(d2 <= 1) & (truth == 0)] = index
    rng = np.random.default_rng(seed)
    image = 0.8 - contrast * ndi.gaussian_filter(thickness, 0.7) + rng.normal(0, noise, shape)
    return image.astype(np.float32), truth
