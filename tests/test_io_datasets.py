import numpy as np
import pandas as pd
import pytest
import tifffile

from napari_temseg import TemsegError
from napari_temseg.datasets import iter_dataset, pair_files, to_instances
from napari_temseg.io import read_image, read_stack, read_track_dir, write_labels_tiff, write_track_dir


def _write_pair(root, stem_img, stem_lab, image, labels):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(root / "images" / f"{stem_img}.tif", image)
    tifffile.imwrite(root / "labels" / f"{stem_lab}.tif", labels)


def test_article_layout_pairs_and_binary_labels_become_components(paper_data):
    pairs = pair_files(paper_data)
    assert len(pairs) == 20 and pairs[2][0].name == "image_2.png" and pairs[2][1].name == "label_2.png"
    sample = next(iter_dataset(paper_data))
    assert sample.labels.dtype == np.uint32 and sample.labels.max() > 3
    assert sample.labels.shape == (512, 512)


def test_plain_tiff_pairs_and_instance_labels_kept(tmp_path):
    labels = np.zeros((20, 20), np.uint16)
    labels[2:6, 2:6] = 4
    labels[2:6, 6:10] = 9  # touching: instance IDs must survive
    _write_pair(tmp_path, "a", "a", np.zeros((20, 20), np.uint8), labels)
    sample = next(iter_dataset(tmp_path))
    assert set(np.unique(sample.labels)) == {0, 4, 9}


def test_binary_label_with_two_blobs():
    binary = np.zeros((10, 10), np.uint8)
    binary[1:3, 1:3] = 255
    binary[6:8, 6:8] = 255
    assert to_instances(binary).max() == 2


def test_a_binary_mask_with_soft_edges_is_refused_not_read_as_hundreds_of_particles(tmp_path):
    """An anti-aliased (or JPEG) 0/255 mask: every grey level of its edges was a particle of
    its own (187 in one 256² crop); exact instance labels, even 250 of them, still read."""
    from scipy import ndimage as ndi

    yy, xx = np.mgrid[:96, :96]
    binary = (((yy - 30) ** 2 + (xx - 30) ** 2 < 15**2) | ((yy - 70) ** 2 + (xx - 65) ** 2 < 12**2)) * 255
    soft = np.clip(ndi.gaussian_filter(binary.astype(float), 0.8), 0, 255).astype(np.uint8)
    _write_pair(tmp_path, "a", "a", np.zeros((96, 96), np.uint8), soft)
    with pytest.raises(TemsegError, match="labels/a.tif: the labels look like a binary mask with soft edges"):
        list(iter_dataset(tmp_path))
    assert to_instances(binary.astype(np.uint8)).max() == 2
    many = np.zeros((512, 512), np.uint8)
    for k in range(1, 251):
        row, column = divmod(k, 16)
        many[row * 30 + 2 : row * 30 + 20, column * 30 + 2 : column * 30 + 20] = k
    assert to_instances(many).max() == 250
    sparse = np.zeros((512, 512), np.uint16)  # small particles on much background (90 %): a review
    for k in range(1, 251):
        row, column = divmod(k, 16)
        sparse[row * 30 + 4 : row * 30 + 13, column * 30 + 4 : column * 30 + 13] = k
    assert to_instances(sparse).max() == 250
    tracked = np.zeros((256, 256), np.uint16)  # track IDs far from 0, exported from a video
    for k in range(12):
        tracked[20 * k + 2 : 20 * k + 12, 10:30] = 1000 + k
    assert len(np.unique(to_instances(tracked))) == 13


def test_a_mask_that_may_be_inverted_is_said_to_be(tmp_path, capsys):
    """White support, black particles: the support was one particle covering most of the image,
    without a word. Only said: a dense agglomerate's mask looks the same (refusing it, a review
    found, left a user's valid data unusable)."""
    yy, xx = np.mgrid[:96, :96]
    particles = ((yy - 30) ** 2 + (xx - 30) ** 2 < 15**2) | ((yy - 70) ** 2 + (xx - 65) ** 2 < 12**2)
    _write_pair(tmp_path, "a", "a", np.zeros((96, 96), np.uint8), np.where(particles, 0, 255).astype(np.uint8))
    assert next(iter_dataset(tmp_path)).labels.max() == 1
    assert "warning: labels/a.tif may be inverted: one particle (saved as 255) covers 88%" in capsys.readouterr().err
    big = (((yy - 48) ** 2 + (xx - 48) ** 2 < 60**2) * 255).astype(np.uint8)  # one particle filling the field
    assert to_instances(big).max() == 1 and to_instances(np.ones((96, 96), np.uint8)).max() == 1
    instances = np.where(particles, 0, 7).astype(np.uint8)
    instances[0, 0] = 3  # instance labels (three values) are the user's own IDs: not checked
    assert to_instances(instances).max() == 7
    assert capsys.readouterr().err == ""  # (its corners, a tile inside one particle: no holes, nothing said)


def test_unpaired_and_mismatched_files_are_named(tmp_path):
    _write_pair(tmp_path, "a", "a", np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8))
    tifffile.imwrite(tmp_path / "images" / "b.tif", np.zeros((8, 8), np.uint8))
    with pytest.raises(TemsegError, match="no label file for image.*b"):
        pair_files(tmp_path)
    (tmp_path / "images" / "b.tif").unlink()
    tifffile.imwrite(tmp_path / "labels" / "c.tif", np.zeros((8, 8), np.uint8))
    with pytest.raises(TemsegError, match="no image for label.*c"):
        pair_files(tmp_path)
    (tmp_path / "labels" / "c.tif").unlink()
    tifffile.imwrite(tmp_path / "labels" / "a.tif", np.zeros((9, 8), np.uint8))
    with pytest.raises(TemsegError, match="shape"):
        list(iter_dataset(tmp_path))
    with pytest.raises(TemsegError, match="images/ and labels/"):
        pair_files(tmp_path / "images")


def test_read_errors_name_the_file(tmp_path):
    with pytest.raises(TemsegError, match="no such file"):
        read_image(tmp_path / "missing.tif")
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00garbage")
    with pytest.raises(TemsegError, match="broken.tif: cannot read"):
        read_image(bad)
    (tmp_path / "x.docx").write_text("")
    with pytest.raises(TemsegError, match="unsupported file type"):
        read_image(tmp_path / "x.docx")


def test_stack_from_folder_is_lazy_and_checks_shapes(tmp_path):
    for i in range(3):
        tifffile.imwrite(tmp_path / f"f{i:03d}.tif", np.full((6, 7), i, np.uint8))
    stack = read_stack(tmp_path)
    assert stack.shape == (3, 6, 7) and hasattr(stack, "compute")
    assert int(stack[2].compute()[0, 0]) == 2
    tifffile.imwrite(tmp_path / "f003.tif", np.zeros((5, 7), np.uint8))
    with pytest.raises(TemsegError, match="f003.tif: frame shape"):
        read_stack(tmp_path)


def test_a_frame_folder_of_two_pixel_sizes_gives_none_and_says_where(tmp_path):
    """Frames of two magnifications, or some exported without calibration, were all sized by
    the first frame's pixel size, without a word."""
    from napari_temseg.io import open_video

    def frame(name, nm=None):
        extra = {"resolution": (1e7 / nm, 1e7 / nm), "resolutionunit": "CENTIMETER"} if nm else {}
        tifffile.imwrite(tmp_path / name, np.zeros((6, 7), np.uint8), **extra)

    for i in range(4):
        frame(f"f{i}.tif", 0.5)
    assert open_video(tmp_path).pixel_size_nm == 0.5
    frame("f2.tif", 0.25)
    frame("f3.tif")
    video = open_video(tmp_path)
    assert video.pixel_size_nm is None
    assert "0.5 nm from f0.tif, 0.25 nm from f2.tif, no pixel size from f3.tif" in video.calibration.note


def test_labels_tiff_and_track_dir_round_trip(tmp_path, small_video):
    path = write_labels_tiff(tmp_path / "x_labels.tif", np.arange(12).reshape(3, 4))
    assert tifffile.imread(path).dtype == np.uint32
    labels = small_video.labels[:8]
    events = [{"frame": 3, "parents": [1, 2], "child": 40}]
    write_track_dir(tmp_path / "out", labels, events, pixel_size_nm=0.5)
    back, back_events = read_track_dir(tmp_path / "out")
    assert np.array_equal(back, labels) and back_events == events
    header = (tmp_path / "out" / "tracks.csv").read_text().splitlines()[0]
    assert header.startswith("frame,track_id,y,x,area") and "equivalent_diameter_nm" in header
    from napari_temseg.io import results_calibration

    assert results_calibration(tmp_path / "out") == (0.5, None)  # recorded with the labels
    write_track_dir(tmp_path / "plain", labels, events, frame_interval_s=2.0)
    assert results_calibration(tmp_path / "plain") == (None, 2.0)


def test_review_decisions_read_back_and_a_bad_review_table_is_named(tmp_path, small_video):
    from napari_temseg.io import read_review
    from napari_temseg.tracking.lineage import events_table

    out = write_track_dir(tmp_path / "run", small_video.labels, small_video.events)
    assert read_review(out) == {}
    first, *rest = small_video.events
    table = events_table(small_video.events).assign(status=["accepted"] + ["to review"] * len(rest))
    gone = {"frame": 3, "child": 99, "parents": [1, 2]}
    review = pd.concat([table, events_table([gone]).assign(status="rejected")], ignore_index=True)
    review.to_csv(out / "review.csv", index=False)
    assert read_review(out) == {"accepted": [[first["frame"], first["child"]]], "rejected": [gone]}
    review.assign(status="maybe").to_csv(out / "review.csv", index=False)
    with pytest.raises(TemsegError, match="review.csv: needs a status column .*'maybe'"):
        read_review(out)


def test_a_folder_replaced_by_renames_survives_a_stop_between_them(tmp_path, small_video):
    import os

    from napari_temseg.io.folders import old_name, writing_name

    run = write_track_dir(tmp_path / "run", small_video.labels[:4], small_video.events)
    store = run / "labels.zarr"
    os.replace(store, old_name(store))  # stopped after the first rename of a later save
    writing_name(store).mkdir()  # and its half-written store
    labels, _ = read_track_dir(run)  # the whole previous labels come back
    assert np.array_equal(labels, small_video.labels[:4])


def test_a_ctc_export_refuses_a_file_in_its_place(tmp_path, small_video):
    import pandas as pd

    from napari_temseg.io.export import write_ctc
    from napari_temseg.morphometry import particle_table

    target = tmp_path / "notes.txt"
    target.write_text("mine")
    tracks = particle_table(small_video.labels[:3])
    with pytest.raises(TemsegError, match="is a file or a link"):
        write_ctc(small_video.labels[:3], pd.DataFrame(tracks), [], target)
    assert target.read_text() == "mine"


def test_a_ctc_export_keeps_files_added_to_an_earlier_export(tmp_path, small_video):
    """A second export into the first deleted the notes and analysis a user had added there."""
    import pandas as pd

    from napari_temseg.io.export import write_ctc
    from napari_temseg.morphometry import particle_table

    tracks = pd.DataFrame(particle_table(small_video.labels[:3]))
    out = write_ctc(small_video.labels[:3], tracks, [], tmp_path / "ctc")
    write_ctc(small_video.labels[:3], tracks, [], out)  # an export of its own: replaced
    (out / ".DS_Store").write_bytes(b"")  # a desktop's, in an export or a new folder: not the user's work
    write_ctc(small_video.labels[:3], tracks, [], out)
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / ".DS_Store").write_bytes(b"")
    write_ctc(small_video.labels[:3], tracks, [], tmp_path / "new")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(TemsegError, match="holds files added to an earlier `temseg export ctc` \\(notes.txt\\)"):
        write_ctc(small_video.labels[:3], tracks, [], out)
    assert (out / "notes.txt").read_text() == "mine" and (out / "mask000.tif").is_file()


def test_a_track_result_saved_from_python_keeps_its_skipped_frames(tmp_path, small_video):
    """Saved with write_track_dir, a blank frame read back as a frame where every particle
    vanished (no skipped_frames.csv); a 2-D stack or a negative pixel size went through."""
    from napari_temseg.io.results import read_skipped
    from napari_temseg.tracking import track

    frames = small_video.frames[:6].copy()
    frames[3] = 0
    result = track(frames, pixel_size_nm=0.5)
    out = result.save(tmp_path / "run")  # the pixel size given to track: it was dropped (tables in px only)
    assert "equivalent_diameter_nm" in pd.read_csv(out / "tracks.csv").columns
    assert read_skipped(out) == result.skipped == [{"frame": 3, "reason": "blank (every pixel the same)"}]
    labels, events = read_track_dir(out)
    assert np.array_equal(labels, result.labels) and events == result.events
    with pytest.raises(TemsegError, match=r"\(T, Y, X\) stack"):
        write_track_dir(tmp_path / "flat", result.labels[0], result.events)
    with pytest.raises(TemsegError, match="pixel_size_nm must be a positive number"):
        write_track_dir(tmp_path / "neg", result.labels, result.events, pixel_size_nm=-1)
    assert not (tmp_path / "flat").exists() and not (tmp_path / "neg").exists()
    write_track_dir(out, result.labels, result.events)  # Review's Save into the run's folder: the record stays
    assert read_skipped(out) == result.skipped
