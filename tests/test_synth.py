import numpy as np
import pytest

from napari_temseg.errors import TemsegError
from napari_temseg.synth import synth_image, synth_video


def test_images_are_deterministic_by_seed():
    a, b, c = synth_image(seed=5), synth_image(seed=5), synth_image(seed=6)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.image, c.image)


def test_sixteen_bit_and_particle_count():
    s = synth_image(n_particles=12, bit_depth=16, seed=1)
    assert s.image.dtype == np.uint16 and s.image.max() > 255
    assert len(np.unique(s.labels)) - 1 == 12


def test_particles_are_darker_than_background():
    s = synth_image(seed=0)
    assert s.image[s.labels > 0].mean() < s.image[s.labels == 0].mean() - 20


def test_video_fusions_conserve_area_and_keep_ids(small_video):
    v = small_video
    assert v.frames.shape == v.labels.shape == (40, 320, 320)
    assert len(v.events) == 4 and any(len(e["parents"]) == 3 for e in v.events)
    for e in v.events:
        f = e["frame"]
        before = sum(int((v.labels[f - 1] == p).sum()) for p in e["parents"])
        after = int((v.labels[f] == e["child"]).sum())
        assert abs(after - before) / before < 0.03
        assert not np.isin(v.labels[f:], e["parents"]).any()  # parents end
        assert not (v.labels[: f] == e["child"]).any()  # child starts at the event
    singles = set(np.unique(v.labels[0])) & set(np.unique(v.labels[-1])) - {0}
    assert len(singles) >= 6  # wanderers and the touch-and-part pair keep their IDs


def test_video_is_deterministic():
    a = synth_video(n_frames=5, shape=(200, 200), n_single=3, n_pairs=1, n_triples=0, n_touching=0, seed=3)
    b = synth_video(n_frames=5, shape=(200, 200), n_single=3, n_pairs=1, n_triples=0, n_touching=0, seed=3)
    assert np.array_equal(a.frames, b.frames) and a.events == b.events


def test_a_video_whose_particles_cannot_fit_is_refused_not_empty():
    """2000 frames of a 256 px field: the stage's drift left no room, and the video had no
    particle at all (a user tracked it and scored a perfect 1.0 on nothing)."""
    with pytest.raises(TemsegError, match="cannot fit any of 10 single particles.*721 px over 2000 frames"):
        synth_video(n_frames=2000, shape=(256, 256), n_single=10, n_pairs=0, n_triples=0, n_touching=0)
