"""The multi-view annotator on the real four-camera recording (pose2sim_single): keypoints from each video,
one body fitted to all four, feet refitted, Eq. 4 contacts, compared with Pose2Sim's triangulated markers."""

from __future__ import annotations

import numpy as np
import pytest
from capture_support import DATA

from training.annotate import main

MULTIVIEW = DATA / "multiview" / "pose2sim_single"


@pytest.fixture(scope="module")
def labels(tmp_path_factory):
    out = tmp_path_factory.mktemp("annotate") / "labels.npz"
    videos = [str(MULTIVIEW / f"cam0{i}.mp4") for i in range(1, 5)]
    code = main(["--calibration", str(MULTIVIEW / "Calib.qca.txt"), "--videos", *videos, "-o", str(out),
                 "--markers", str(MULTIVIEW / "BalancingTrial_0-100_triangulated.trc"), "--end", "40", "-q"])
    assert code == 0
    with np.load(out, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def test_labels_have_the_documented_keys(labels):
    t = len(labels["trans"])
    assert t == 40 and labels["poses"].shape == (t, 72) and labels["keypoints_3d"].shape == (t, 23, 3)
    assert labels["keypoints_2d"].shape == (4, t, 23, 2) and labels["reprojection_px"].shape == (4, t)
    contact = np.unpackbits(labels["vertex_contact_bits"], axis=1, count=int(labels["num_vertices"])).astype(bool)
    assert contact.shape == (t, int(labels["num_vertices"]))
    assert list(labels["camera_names"]) == ["cam01", "cam02", "cam03", "cam04"]


def test_the_fit_agrees_with_every_view_and_the_markers(labels):
    # Our keypoints triangulated through this calibration leave about 14 px (median) on their own: the fit
    # cannot agree with the views better than the calibration lets it.
    assert (np.nanmedian(labels["reprojection_px"], axis=1) < 25).all()
    errors = dict(zip(labels["marker_names"], labels["marker_error_mm"], strict=True))
    body = [errors[n] for n in ("RHip", "LHip", "RKnee", "LKnee", "RAnkle", "LAnkle", "RShoulder", "LShoulder")]
    assert np.mean(body) < 70 and max(errors.values()) < 150  # both are estimates


def test_the_balancing_feet_are_on_a_level_ground(labels):
    normal, offset = labels["ground_plane"][:3], labels["ground_plane"][3]
    assert normal[1] > 0.99 and abs(offset) < 0.1  # the calibration's floor, y up
    contact = np.unpackbits(labels["vertex_contact_bits"], axis=1, count=int(labels["num_vertices"])).astype(bool)
    assert contact.any(axis=1).mean() > 0.9  # someone balancing barefoot is always on the walkway
    assert (labels["foot_contact"].max(axis=1) > 0.5).mean() > 0.8


def test_a_missing_video_is_a_clear_error(tmp_path, capsys):
    code = main(["--calibration", str(MULTIVIEW / "Calib.qca.txt"), "--videos", str(tmp_path / "cam01.mp4"),
                 "-o", str(tmp_path / "x.npz")])
    assert code == 2
    assert "video not found" in capsys.readouterr().err
