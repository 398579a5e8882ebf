"""The forward pass behaves like SMPL's: a knee bend, the translation, a turn about the pelvis.

Runs on the synthetic SMPL-shaped model of test_body_model, and on the free body model when
engine/assets/free_body_model.npz exists (skipped with the reason otherwise). The free model's own
properties (height, symmetry, keypoints on the skin) are checked in test_free_body_model.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_body_model import make_test_arrays

from engine.body.active import FREE_BODY_MODEL_PATH
from engine.body.joints import SMPL_JOINT_NAMES
from engine.body.lbs import body_forward
from engine.body.model import body_model_from_arrays, load_body_model

J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}


def _free_model():
    if not FREE_BODY_MODEL_PATH.is_file():
        pytest.skip(f"{FREE_BODY_MODEL_PATH} is not built yet (scripts/build_free_body_model.py)")
    return load_body_model(FREE_BODY_MODEL_PATH)


@pytest.fixture(params=["synthetic", "free"], scope="module")
def model(request):
    if request.param == "free":
        return _free_model()
    return body_model_from_arrays(make_test_arrays())


@pytest.mark.parametrize("side", ["left", "right"])
def test_knee_bend_moves_the_ankle_back_and_up(model, side):
    pose = np.zeros((2, 24, 3))
    pose[1, J[f"{side}_knee"], 0] = np.pi / 2  # SMPL: +x at the knee flexes it
    joints = body_forward(model, pose, vertices=False).joints
    knee, ankle = J[f"{side}_knee"], J[f"{side}_ankle"]
    shin = np.linalg.norm(joints[0, ankle] - joints[0, knee])
    moved = joints[1, ankle] - joints[1, knee]
    assert moved[2] < -0.9 * shin  # behind the knee (the body faces +z)
    assert abs(moved[1]) < 0.3 * shin  # and level with it
    np.testing.assert_allclose(joints[1, knee], joints[0, knee], atol=1e-6)  # the thigh did not move
    other = J[f"{'right' if side == 'left' else 'left'}_ankle"]
    np.testing.assert_allclose(joints[1, other], joints[0, other], atol=1e-6)


def test_translation_moves_everything(model):
    pose = np.random.default_rng(0).normal(0, 0.3, (3, 72))
    trans = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5], [0.0, 0.0, 3.0]])
    moved = body_forward(model, pose, trans=trans, keypoint_sets=["feet6"])
    still = body_forward(model, pose, keypoint_sets=["feet6"])
    for a, b in [(moved.joints, still.joints), (moved.vertices, still.vertices),
                 (moved.keypoints["feet6"], still.keypoints["feet6"])]:
        np.testing.assert_allclose(a - b, np.broadcast_to(trans[:, None], a.shape), atol=1e-5)


def test_root_rotation_turns_the_body_about_the_pelvis(model):
    pose = np.zeros((1, 24, 3))
    pose[0, 0, 1] = np.pi  # half a turn about y: the body faces -z
    rest = body_forward(model, np.zeros((1, 24, 3)), vertices=False).joints[0]
    turned = body_forward(model, pose, vertices=False).joints[0]
    pelvis = rest[J["pelvis"]]
    expected = (rest - pelvis) * np.array([-1.0, 1.0, -1.0]) + pelvis
    np.testing.assert_allclose(turned, expected, atol=1e-5)

