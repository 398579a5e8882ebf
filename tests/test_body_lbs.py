"""The numpy forward pass against the real smplx.SMPL (torch, CPU) run on the same arrays.

Compared in float64 (max error < 1e-5 m is the requirement; float64 agrees to ~1e-12), on the
synthetic model of test_body_model (non-zero pose correctives) and on the free body model when
engine/assets/free_body_model.npz exists.
"""

from __future__ import annotations

import numpy as np
import pytest
import smplx
import torch
from test_body_model import make_test_arrays

from engine.body.active import FREE_BODY_MODEL_PATH
from engine.body.lbs import body_forward, forward_kinematics, pose_to_rotation_matrices, vertices_to_joints
from engine.body.model import body_model_from_arrays, body_model_to_arrays, load_body_model
from engine.rotations import axis_angle_to_matrix

TOLERANCE_M = 1e-5


def make_smplx(arrays: dict[str, np.ndarray], dtype=torch.float64) -> smplx.SMPL:
    """smplx.SMPL built from a body model file's arrays (its own extra-joint vertex ids: V may be != 6890)."""
    names = ["nose", "reye", "leye", "rear", "lear", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe",
             "RHeel"] + [f"{side}{tip}" for side in "lr" for tip in ("thumb", "index", "middle", "ring", "pinky")]
    struct = smplx.utils.Struct(**{k: arrays[k] for k in
                                   ("v_template", "f", "J_regressor", "weights", "kintree_table", "shapedirs",
                                    "posedirs")})
    return smplx.SMPL("unused", data_struct=struct, dtype=dtype, vertex_ids={n: i for i, n in enumerate(names)})


def run_smplx(layer: smplx.SMPL, pose: np.ndarray, betas: np.ndarray, trans: np.ndarray):
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    with torch.no_grad():
        out = layer(global_orient=t(pose[:, :3]), body_pose=t(pose[:, 3:]), betas=t(betas), transl=t(trans))
    return out.vertices.numpy(), out.joints[:, :24].numpy()


def random_inputs(frames: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    pose = rng.normal(0.0, 0.5, (frames, 72))
    pose[0] = 0.0  # the T-pose itself
    return pose, rng.normal(0.0, 1.0, (frames, 10)), rng.normal(0.0, 1.0, (frames, 3))


@pytest.fixture(scope="module")
def test_arrays():
    return make_test_arrays()


@pytest.fixture(scope="module")
def test_model(test_arrays):
    return body_model_from_arrays(test_arrays)


def _compare_with_smplx(model, arrays, frames):
    pose, betas, trans = random_inputs(frames)
    expected_vertices, expected_joints = run_smplx(make_smplx(arrays), pose, betas, trans)
    out = body_forward(model, pose, betas, trans)
    assert out.vertices.dtype == np.float64
    assert np.abs(out.vertices - expected_vertices).max() < TOLERANCE_M
    assert np.abs(out.joints - expected_joints).max() < TOLERANCE_M
    joints_only = body_forward(model, pose, betas, trans, vertices=False)
    assert joints_only.vertices is None
    assert np.abs(joints_only.joints - expected_joints).max() < TOLERANCE_M
    return out


def test_matches_smplx_with_pose_correctives(test_model, test_arrays):
    out = _compare_with_smplx(test_model, test_arrays, frames=64)
    # In float64 the two agree far beyond the requirement; what is left (~1e-8) is smplx's Rodrigues,
    # which takes the angle as |r + 1e-8|. A slip in the maths would show up as >> 1e-7.
    pose, betas, trans = random_inputs(64)
    expected_vertices, _ = run_smplx(make_smplx(test_arrays), pose, betas, trans)
    assert np.abs(out.vertices - expected_vertices).max() < 1e-7


def test_matches_smplx_on_free_model():
    if not FREE_BODY_MODEL_PATH.is_file():
        pytest.skip(f"{FREE_BODY_MODEL_PATH} is not built yet (scripts/build_free_body_model.py)")
    model = load_body_model(FREE_BODY_MODEL_PATH)
    _compare_with_smplx(model, body_model_to_arrays(model), frames=16)


def test_rotation_matrices_equal_axis_angle(test_model):
    pose, betas, trans = random_inputs(8)
    from_aa = body_forward(test_model, pose.reshape(8, 24, 3), betas, trans)
    from_mats = body_forward(test_model, axis_angle_to_matrix(pose.reshape(8, 24, 3)), betas, trans)
    np.testing.assert_allclose(from_mats.vertices, from_aa.vertices, atol=1e-12)
    np.testing.assert_allclose(from_mats.joints, from_aa.joints, atol=1e-12)


def test_float32_by_default_and_close_to_float64(test_model):
    pose, betas, trans = random_inputs(8)
    wide = body_forward(test_model, pose, betas, trans)
    narrow = body_forward(test_model, pose.astype(np.float32), betas.astype(np.float32), trans.astype(np.float32))
    assert narrow.vertices.dtype == np.float32 and narrow.joints.dtype == np.float32
    assert np.abs(narrow.vertices - wide.vertices).max() < TOLERANCE_M
    assert body_forward(test_model, np.zeros((2, 72), dtype=np.float32)).joints.dtype == np.float32


def test_betas_and_trans_broadcast(test_model):
    pose, betas, trans = random_inputs(5)
    shared = body_forward(test_model, pose, betas[0], trans[0])
    repeated = body_forward(test_model, pose, np.repeat(betas[:1], 5, 0), np.repeat(trans[:1], 5, 0))
    np.testing.assert_allclose(shared.vertices, repeated.vertices, atol=1e-12)
    single = body_forward(test_model, pose[2], betas[2], trans[2])
    np.testing.assert_allclose(single.vertices[0], body_forward(test_model, pose, betas, trans).vertices[2],
                               atol=1e-12)


def test_keypoints_from_vertex_subset_equal_full_vertices(test_model):
    pose, betas, trans = random_inputs(6)
    sets = ("coco17", "feet6", "h36m17")
    full = body_forward(test_model, pose, betas, trans, keypoint_sets=sets)
    sparse_only = body_forward(test_model, pose, betas, trans, vertices=False, keypoint_sets=sets)
    assert sparse_only.vertices is None
    for name in sets:
        expected = np.einsum("kv,tvc->tkc", test_model.keypoint_regressors[name].toarray(), full.vertices)
        np.testing.assert_allclose(full.keypoints[name], expected, atol=1e-12)
        np.testing.assert_allclose(sparse_only.keypoints[name], expected, atol=1e-12)
        assert full.keypoints[name].shape == (6, len(test_model.keypoint_names[name]), 3)


def test_keypoints_match_smplx_vertex_selection(test_arrays):
    """A one-hot regressor is a vertex pick: compare with smplx's own extra joints (vertex ids 5..10)."""
    arrays = dict(test_arrays)
    feet = np.zeros((6, arrays["v_template"].shape[0]), dtype=np.float32)
    feet[np.arange(6), np.arange(5, 11)] = 1.0
    arrays["keypoint_regressor_feet6"] = feet
    model = body_model_from_arrays(arrays)
    pose, betas, trans = random_inputs(4)
    layer = make_smplx(arrays)
    t = lambda a: torch.from_numpy(a)  # noqa: E731
    with torch.no_grad():
        out = layer(global_orient=t(pose[:, :3]), body_pose=t(pose[:, 3:]), betas=t(betas), transl=t(trans))
    expected = out.joints[:, 24 + 5: 24 + 11].numpy()
    ours = body_forward(model, pose, betas, trans, vertices=False, keypoint_sets=["feet6"]).keypoints["feet6"]
    assert np.abs(ours - expected).max() < TOLERANCE_M


def test_world_transforms_place_joints(test_model):
    pose, betas, trans = random_inputs(3)
    out = body_forward(test_model, pose, betas, trans, vertices=False)
    np.testing.assert_allclose(out.world_transforms[..., :3, 3], out.joints, atol=1e-12)
    rots = out.world_transforms[..., :3, :3]
    np.testing.assert_allclose(rots @ np.swapaxes(rots, -1, -2), np.broadcast_to(np.eye(3), rots.shape), atol=1e-12)
    # At θ = 0 every joint frame is the world's and the joints are the shaped rest joints.
    rest = body_forward(test_model, np.zeros((1, 72)), betas[0], None, vertices=False)
    np.testing.assert_allclose(rest.world_transforms[0, :, :3, :3], np.broadcast_to(np.eye(3), (24, 3, 3)),
                               atol=1e-12)
    np.testing.assert_allclose(rest.joints[0], test_model.rest_joints(betas[0]), atol=1e-9)


def test_forward_kinematics_naive_loop(test_model):
    """Level-batched forward kinematics against the textbook per-joint chain of 4x4 matrices."""
    pose, _, _ = random_inputs(4)
    rot_mats = pose_to_rotation_matrices(pose, 24, np.dtype(np.float64))
    rest = np.broadcast_to(test_model.rest_joints(), (4, 24, 3))
    global_rots, posed = forward_kinematics(rot_mats, rest, test_model.parents)
    for t in range(4):
        chain = []
        for j, parent in enumerate(test_model.parents):
            local = np.eye(4)
            local[:3, :3] = rot_mats[t, j]
            local[:3, 3] = rest[t, j] - (rest[t, parent] if parent >= 0 else 0.0)
            chain.append(local if parent < 0 else chain[parent] @ local)
        np.testing.assert_allclose(np.stack(chain)[:, :3, 3], posed[t], atol=1e-12)
        np.testing.assert_allclose(np.stack(chain)[:, :3, :3], global_rots[t], atol=1e-12)


def test_vertices_to_joints_sparse_equals_dense(test_model):
    vertices = np.random.default_rng(3).normal(size=(5, test_model.num_vertices, 3))
    sparse_result = vertices_to_joints(test_model.joint_regressor, vertices)
    dense_result = vertices_to_joints(test_model.joint_regressor.toarray(), vertices)
    np.testing.assert_allclose(sparse_result, dense_result, atol=1e-12)


def test_bad_inputs_named(test_model):
    with pytest.raises(ValueError, match="pose has shape"):
        body_forward(test_model, np.zeros((3, 70)))
    with pytest.raises(ValueError, match=r"betas has shape \(3, 11\)"):
        body_forward(test_model, np.zeros((3, 72)), np.zeros((3, 11)))
    with pytest.raises(ValueError, match="unknown keypoint set"):
        body_forward(test_model, np.zeros((3, 72)), keypoint_sets=["openpose25"])


def test_no_pose_correctives_path(test_arrays):
    """posedirs all zeros: the step is skipped, and the result still equals smplx's."""
    arrays = dict(test_arrays, posedirs=np.zeros_like(test_arrays["posedirs"]))
    model = body_model_from_arrays(arrays)
    assert not model.has_pose_correctives
    _compare_with_smplx(model, arrays, frames=8)


@pytest.mark.parametrize("shared_shape", [False, True])
def test_chunked_frames_equal_one_chunk(test_model, monkeypatch, shared_shape):
    from engine.body import lbs

    pose, betas, trans = random_inputs(23)
    if shared_shape:
        betas = betas[0]
    whole = body_forward(test_model, pose, betas, trans, keypoint_sets=["coco17"])
    monkeypatch.setattr(lbs, "_CHUNK_ELEMENTS", 1)
    monkeypatch.setattr(lbs, "_MIN_CHUNK_FRAMES", 5)  # 5 chunks, the last one short
    chunked = body_forward(test_model, pose, betas, trans, keypoint_sets=["coco17"])
    np.testing.assert_allclose(chunked.vertices, whole.vertices, atol=1e-12)
    sparse_chunked = body_forward(test_model, pose, betas, trans, vertices=False, keypoint_sets=["coco17"])
    np.testing.assert_allclose(sparse_chunked.keypoints["coco17"], whole.keypoints["coco17"], atol=1e-12)
