"""The real four-camera recording's files: the Qualisys calibration and Pose2Sim's triangulated markers."""

from __future__ import annotations

import numpy as np
import pytest
from capture_support import DATA

from engine.errors import MotionFileError
from engine.fit.calibration import CalibrationError, read_qualisys
from engine.motion.trc import read_trc

MULTIVIEW = DATA / "multiview" / "pose2sim_single"


def test_qualisys_cameras_see_the_markers():
    cameras = read_qualisys(MULTIVIEW / "Calib.qca.txt")
    markers = read_trc(MULTIVIEW / "BalancingTrial_0-100_triangulated.trc")
    assert [c.name for c in cameras] == ["cam01", "cam02", "cam03", "cam04"]
    assert markers.positions.shape == (100, 21, 3) and markers.fps == 60
    for cam in cameras:
        assert cam.size == (1088, 1920)
        assert 1.0 < cam.centre[1] < 3.0  # mounted a metre or two up (y is up)
        np.testing.assert_allclose(cam.rotation @ cam.rotation.T, np.eye(3), atol=1e-6)
        pixels, front = cam.project(markers.positions.reshape(-1, 3))
        ok = np.isfinite(pixels).all(axis=1)
        assert front[ok].all()
        inside = (pixels[ok] >= 0).all(axis=1) & (pixels[ok, 0] < 1088) & (pixels[ok, 1] < 1920)
        assert inside.mean() > 0.99  # every camera frames the whole person
    heels = np.concatenate([markers["LHeel"], markers["RHeel"]])
    assert abs(np.nanmedian(heels[:, 1])) < 0.15  # the heels are near the floor (y = 0) in the markers' world


def test_bad_calibration_files_say_what_is_wrong(tmp_path):
    not_xml = tmp_path / "a.qca.txt"
    not_xml.write_text("this is not xml")
    with pytest.raises(CalibrationError, match="not a Qualisys calibration"):
        read_qualisys(not_xml)
    empty = tmp_path / "b.qca.txt"
    empty.write_text("<calibration><cameras></cameras></calibration>")
    with pytest.raises(CalibrationError, match="holds no camera"):
        read_qualisys(empty)
    text = (MULTIVIEW / "Calib.qca.txt").read_text()
    broken = tmp_path / "c.qca.txt"
    broken.write_text(text.replace('r11="0.5536380477336265"', 'r11="lots"', 1))
    with pytest.raises(CalibrationError, match="r11"):
        read_qualisys(broken)
    with pytest.raises(CalibrationError, match="not found"):
        read_qualisys(tmp_path / "missing.qca.txt")


def test_bad_marker_files_say_what_is_wrong(tmp_path):
    bad = tmp_path / "x.trc"
    bad.write_text("hello\n")
    with pytest.raises(MotionFileError, match="not a .trc"):
        read_trc(bad)
    lines = (MULTIVIEW / "BalancingTrial_0-100_triangulated.trc").read_text().splitlines()
    lines[7] = lines[7].replace("0.", "zero", 1)
    broken = tmp_path / "y.trc"
    broken.write_text("\n".join(lines))
    with pytest.raises(MotionFileError, match="not a number"):
        read_trc(broken)
