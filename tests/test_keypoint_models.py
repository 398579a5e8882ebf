"""The converted keypoint networks: each committed ONNX file against its original runtime's stored outputs on
a real frame (written by scripts/convert/*.py), and clear errors for missing, corrupt or wrong files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from capture_support import ROOT

from engine.errors import ModelFileError
from engine.keypoints.models import ASSETS, KEYPOINT_MODELS, KeypointModelSpec, open_keypoint_session

FIXTURES = ROOT / "tests" / "fixtures"


@pytest.mark.parametrize("variant", ["lite", "full", "heavy"])
def test_blazepose_onnx_matches_litert(variant):
    ref = np.load(FIXTURES / "blazepose_landmark_reference.npz")
    session = open_keypoint_session(KEYPOINT_MODELS[f"blazepose_{variant}"], "cpu", 2)
    image = ref["image"][None].astype(np.float32) / np.float32(255)
    landmarks, flag, heatmap, world = session.run(["landmarks", "pose_flag", "heatmap", "world_landmarks"],
                                                  {"image": image})
    want = ref[f"{variant}_landmarks"].reshape(39, 5)
    got = landmarks[0].reshape(39, 5)
    assert ref[f"{variant}_pose_flag"][0] > 0.9  # the reference frame does show a person
    assert np.abs(got[:, :3] - want[:, :3]).max() < 0.02  # ROI pixels of 256
    assert np.abs(got[:, 3:] - want[:, 3:]).max() < 0.01  # logits
    assert abs(float(flag[0, 0]) - float(ref[f"{variant}_pose_flag"][0])) < 1e-4
    assert np.abs(world[0] - ref[f"{variant}_world_landmarks"]).max() < 1e-4  # metres
    maps = heatmap[0].reshape(39, -1)
    assert (maps.argmax(axis=1) == ref[f"{variant}_heatmap_argmax"]).mean() > 0.95
    assert np.abs(maps.max(axis=1) - ref[f"{variant}_heatmap_max"]).max() < 0.01


@pytest.mark.parametrize("variant", ["thunder", "lightning"])
def test_movenet_onnx_matches_tfjs(variant):
    ref = np.load(FIXTURES / "movenet_reference.npz")
    session = open_keypoint_session(KEYPOINT_MODELS[f"movenet_{variant}"], "cpu", 2)
    (keypoints,) = session.run(["keypoints"], {"image": ref[f"{variant}_image"][None].astype(np.float32)})
    want = ref[f"{variant}_keypoints"]
    assert want[:, 2].mean() > 0.3  # a person is there
    assert np.abs(keypoints[0, :, :2] - want[:, :2]).max() < 1e-4  # fractions of the crop
    assert np.abs(keypoints[0, :, 2] - want[:, 2]).max() < 1e-4


def test_batches_match_single_images():
    ref = np.load(FIXTURES / "movenet_reference.npz")
    session = open_keypoint_session(KEYPOINT_MODELS["movenet_thunder"], "cpu", 2)
    image = ref["thunder_image"].astype(np.float32)
    batch = np.stack([image, image[:, ::-1].copy(), image])
    (together,) = session.run(["keypoints"], {"image": batch})
    (alone,) = session.run(["keypoints"], {"image": batch[1:2]})
    assert np.abs(together[1] - alone[0]).max() < 1e-5
    assert np.abs(together[0] - together[2]).max() < 1e-6


def test_every_model_ships_with_a_card_and_license():
    notice = (ASSETS / "NOTICE.md").read_text()
    for spec in KEYPOINT_MODELS.values():
        assert spec.path.is_file(), spec.path
        card = spec.path.with_suffix(".md").read_text()
        assert "Parity" in card and "Apache-2.0" in card
        assert spec.file in notice
    assert "Apache License" in (ASSETS / "LICENSE-movenet.txt").read_text()
    assert "MIT License" in (ASSETS / "LICENSE-movenet.txt").read_text()


def test_missing_model_file_says_what_to_do(tmp_path):
    spec = KeypointModelSpec("movenet_thunder", "movenet", str(tmp_path / "gone.onnx"), 256)
    with pytest.raises(ModelFileError, match="movenet_thunder keypoint model file not found.*reinstall planted"):
        open_keypoint_session(spec, "cpu")


def test_corrupt_model_file_is_a_clear_error(tmp_path):
    broken = tmp_path / "movenet_thunder.onnx"
    data = (KEYPOINT_MODELS["movenet_thunder"].path).read_bytes()
    broken.write_bytes(data[: len(data) // 3])  # a truncated download
    spec = KeypointModelSpec("movenet_thunder", "movenet", str(broken), 256)
    with pytest.raises(ModelFileError, match="is not an ONNX movenet_thunder keypoint model"):
        open_keypoint_session(spec, "cpu")


def test_wrong_model_file_is_refused(tmp_path):
    wrong = tmp_path / "blazepose_landmark_full.onnx"
    shutil.copy(KEYPOINT_MODELS["movenet_lightning"].path, wrong)  # someone swapped the files
    spec = KeypointModelSpec("blazepose_full", "blazepose", str(wrong), 256)
    with pytest.raises(ModelFileError, match="is not the blazepose_full keypoint model"):
        open_keypoint_session(spec, "cpu", outputs=("landmarks",))
