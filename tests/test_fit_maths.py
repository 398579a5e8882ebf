"""The body fit's maths against finite differences and the body model's own forward pass."""

from __future__ import annotations

import numpy as np
import pytest

from engine.body.active import load_active_body_model
from engine.body.lbs import body_forward
from engine.fit import terms
from engine.fit.camera import Camera, triangulate
from engine.fit.kinematics import (
    fit_body,
    joint_rotation_jacobian,
    keypoint_positions,
    keypoint_rotation_jacobian,
    pose,
    shape_jacobians,
    sole_body,
)
from engine.fit.priors import inverse_right_jacobian, joint_limit_residuals, load_pose_prior
from engine.fit.solver import block_tridiagonal_solve
from engine.fit.state import FREE_JOINTS, NUM_FREE, PARAMS_PER_FRAME, TRANS, State
from engine.rotations import axis_angle_to_matrix, matrix_to_axis_angle

EPS = 1e-6


@pytest.fixture(scope="module")
def model():
    return load_active_body_model()


@pytest.fixture(scope="module")
def random_pose():
    rng = np.random.default_rng(7)
    return (axis_angle_to_matrix(rng.normal(0, 0.35, (3, 24, 3))), rng.normal(0, 0.5, (3, 3)) + [0, 0, 3.0],
            rng.normal(0, 1, 10))


def bump(rotations: np.ndarray, joint: int, axis: int, eps: float = EPS) -> np.ndarray:
    d = np.zeros(3)
    d[axis] = eps
    out = rotations.copy()
    out[:, joint] = rotations[:, joint] @ axis_angle_to_matrix(d[None])[0]
    return out


def test_keypoints_are_the_body_models(model, random_pose):
    rot, trans, betas = random_pose
    posed = pose(fit_body(model), rot, trans, betas)
    ref = body_forward(model, rot, np.repeat(betas[None], 3, 0), trans, vertices=False,
                       keypoint_sets=("coco17", "feet6"))
    kp = np.concatenate([ref.keypoints["coco17"], ref.keypoints["feet6"]], axis=1)
    assert np.abs(posed.keypoints - kp).max() < 1e-6 and np.abs(posed.joints - ref.joints).max() < 1e-9


def test_keypoint_positions_match_the_mesh_without_per_bone_parts(model, random_pose):
    """The clip-wide path (no (T, K, J, 3) parts) gives the skinned mesh's own sole vertices."""
    rot, trans, betas = random_pose
    soles = keypoint_positions(sole_body(model), rot, trans, betas)
    mesh = body_forward(model, rot, np.repeat(betas[None], 3, 0), trans).vertices[:, model.contact_vertex_ids]
    assert soles.shape == (3, len(model.contact_vertex_ids), 3)
    assert np.abs(soles - mesh).max() < 1e-6


def test_kinematic_jacobians_match_finite_differences(model, random_pose):
    rot, trans, betas = random_pose
    body = fit_body(model)
    posed = pose(body, rot, trans, betas)
    d_kp, d_joints = keypoint_rotation_jacobian(body, posed), joint_rotation_jacobian(body, posed)
    for joint in (0, 1, 4, 7, 9, 12, 16, 18, 20):
        for axis in range(3):
            moved = pose(body, bump(rot, joint, axis), trans, betas)
            assert np.abs((moved.keypoints - posed.keypoints) / EPS - d_kp[..., joint, axis]).max() < 1e-5
            assert np.abs((moved.joints - posed.joints) / EPS - d_joints[..., joint, axis]).max() < 1e-5
    dj_beta, dk_beta = shape_jacobians(body, posed)
    for b in range(10):
        shaped = betas.copy()
        shaped[b] += EPS
        moved = pose(body, rot, trans, shaped)
        assert np.abs((moved.keypoints - posed.keypoints) / EPS - dk_beta[..., b]).max() < 1e-5
        assert np.abs((moved.joints - posed.joints) / EPS - dj_beta[..., b]).max() < 1e-5


def test_projection_jacobian_and_triangulation():
    rng = np.random.default_rng(1)
    r = axis_angle_to_matrix(np.array([[0.1, -0.4, 0.05]]))[0]
    cam = Camera(np.array([[900.0, 0, 320], [0, 910.0, 240], [0, 0, 1]]), r, np.array([0.2, -0.1, 4.0]), (640, 480))
    x = rng.normal(0, 0.5, (5, 3))
    jac = cam.project_jacobian(x)
    for c in range(3):
        step = np.zeros(3)
        step[c] = EPS
        assert np.abs((cam.project(x + step)[0] - cam.project(x)[0]) / EPS - jac[..., c]).max() < 1e-3
    cams = [cam, Camera(cam.intrinsics, axis_angle_to_matrix(np.array([[0.0, 1.2, 0.0]]))[0],
                        np.array([-0.5, 0.0, 4.5]), (640, 480))]
    pixels = np.stack([c.project(x)[0] for c in cams])
    points, seen = triangulate(cams, pixels, np.ones((2, 5)))
    assert seen.all() and np.abs(points - x).max() < 1e-6


def test_prior_and_limit_jacobians(random_pose):
    rot = random_pose[0].copy()
    theta = matrix_to_axis_angle(rot)
    jr = inverse_right_jacobian(theta)
    for axis in range(3):
        moved = matrix_to_axis_angle(rot @ axis_angle_to_matrix(np.eye(3)[axis] * EPS))
        assert np.abs((moved - theta) / EPS - jr[..., axis]).max() < 1e-4
    prior = load_pose_prior()
    r, jac = prior.residuals(rot)
    for joint in (1, 4, 16, 21):
        for axis in range(3):
            r2, _ = prior.residuals(bump(rot, joint, axis))
            assert np.abs((r2 - r) / EPS - jac[:, :, joint - 1, axis]).max() < 1e-3
    bent = rot.copy()
    bent[:, 4] = axis_angle_to_matrix(np.array([[-0.6, 0.1, 0.0]]))  # a left knee bent backwards
    hinge, hinge_jac, joints = joint_limit_residuals(bent)
    assert hinge[0, list(joints).index(4)] < -0.5
    for axis in range(3):
        h2, _, _ = joint_limit_residuals(bump(bent, 4, axis))
        assert np.abs((h2 - hinge) / EPS - hinge_jac[..., axis])[:, list(joints).index(4)].max() < 1e-4


def test_term_jacobians_match_finite_differences(model, random_pose):
    """The 2D reprojection and rotation-smoothness rows, whole, against numerical derivatives."""
    rot, trans, betas = random_pose
    body = fit_body(model)
    state = State(rot.copy(), trans.copy(), betas.copy())
    cam = Camera.monocular(640, 480, 800.0)
    kp = pose(body, rot, trans, betas).keypoints
    obs = cam.project(kp)[0] + 3.0
    views = terms.Views([cam], obs[None], np.ones((1, 3, 23)), np.array([10.0]))

    def rows(s: State):
        return terms.keypoints_2d(terms.linearise(body, s), views, 1.0, 1e6).residuals  # robust scale: plain LS

    block = terms.keypoints_2d(terms.linearise(body, state), views, 1.0, 1e6)
    smooth = terms.rotation_smoothness(state, 1.0, 0.1)
    for col in (0, 5, 3 * 4 + 1, 3 * 16 + 2, TRANS.start + 2):
        moved = state.copy()
        if col >= TRANS.start:
            moved.trans[1, col - TRANS.start] += EPS
        else:
            moved.rotations[1] = moved.rotations[1].copy()
            j, a = FREE_JOINTS[col // 3], col % 3
            moved.rotations[1:2] = bump(moved.rotations[1:2], j, a)
        num = (rows(moved)[1] - block.residuals[1]) / EPS
        assert np.abs(num - block.jacobian[1, :, col]).max() < 1e-3 * max(1.0, np.abs(num).max())
        if col < 3 * NUM_FREE:  # frame 1 is the first centre: offset 0 of row block 0, joint col // 3's rows
            num_s = (terms.rotation_smoothness(moved, 1.0, 0.1).residuals[0] - smooth.residuals[0]) / EPS
            expected = np.zeros_like(num_s)
            expected[col // 3] = smooth.jacobians[0][0, col // 3, :, col % 3]
            assert np.abs(num_s - expected).max() < 1e-3 * max(1.0, np.abs(num_s).max())
    assert block.jacobian.shape[-1] == PARAMS_PER_FRAME


def test_block_tridiagonal_solver_matches_dense():
    rng = np.random.default_rng(3)
    n, m = 5, 4
    lower = np.zeros((n * m, n * m))  # block lower-bidiagonal: L L^T is block-tridiagonal and positive definite
    for i in range(n):
        lower[i * m:(i + 1) * m, i * m:(i + 1) * m] = np.tril(rng.normal(size=(m, m))) + 3 * np.eye(m)
        if i:
            lower[i * m:(i + 1) * m, (i - 1) * m:i * m] = rng.normal(size=(m, m))
    a = lower @ lower.T
    diag = np.stack([a[i * m:(i + 1) * m, i * m:(i + 1) * m] for i in range(n)])
    upper = np.stack([a[i * m:(i + 1) * m, (i + 1) * m:(i + 2) * m] for i in range(n - 1)])
    rhs = rng.normal(size=(n, m, 2))
    x = block_tridiagonal_solve(diag, upper, rhs)
    assert np.abs(x.reshape(-1, 2) - np.linalg.solve(a, rhs.reshape(-1, 2))).max() < 1e-9


def test_predicted_decrease_is_exact_for_linear_residuals():
    """With residuals linear in the parameters the quadratic model is the cost: the decrease the solver
    predicts for a step (frame rows, temporal rows over offsets 0..2, a shape) is the one it gets."""
    from engine.fit.solver import NormalEquations
    from engine.fit.state import FrameBlock, TemporalBlock

    rng = np.random.default_rng(5)
    t, p, b, r = 7, 4, 2, 5
    frame_j, shape_j, frame_r = rng.normal(size=(t, r, p)), rng.normal(size=(t, r, b)), rng.normal(size=(t, r))
    centres = np.arange(t - 2)
    temporal_j = {o: rng.normal(size=(t - 2, 3, p)) for o in range(3)}
    temporal_r = rng.normal(size=(t - 2, 3))

    def cost(d_frames, d_shape):
        res_f = frame_r + np.einsum("trp,tp->tr", frame_j, d_frames) + np.einsum("trb,b->tr", shape_j, d_shape)
        res_t = temporal_r + sum(np.einsum("nrp,np->nr", j, d_frames[centres + o]) for o, j in temporal_j.items())
        return 0.5 * (np.sum(res_f ** 2) + np.sum(res_t ** 2))

    eqs = NormalEquations.zeros(t, p, b)
    eqs.add(FrameBlock(frame_r, frame_j, shape_j))
    eqs.add(TemporalBlock(centres, temporal_r, temporal_j))
    for damping in (1e-3, 1.0):
        d_frames, d_shape = eqs.solve(damping, solve_shape=True)
        actual = cost(np.zeros((t, p)), np.zeros(b)) - cost(d_frames, d_shape)
        assert actual > 0
        assert abs(eqs.predicted_decrease(d_frames, d_shape) - actual) < 1e-9 * max(1.0, actual)
