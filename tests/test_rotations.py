import numpy as np
import pytest

from engine import rotations as rot


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _random_matrices(rng, n):
    q = rng.normal(size=(n, 4))
    return rot.quaternion_to_matrix(q)


def test_matrices_are_rotations(rng):
    m = rot.axis_angle_to_matrix(rng.normal(size=(100, 3)))
    np.testing.assert_allclose(m @ np.swapaxes(m, -1, -2), np.broadcast_to(np.eye(3), m.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(m), 1.0, atol=1e-12)


def test_axis_angle_round_trip(rng):
    aa = rng.normal(size=(500, 3))
    aa *= (np.pi * 0.999 * rng.random((500, 1))) / np.linalg.norm(aa, axis=-1, keepdims=True)
    np.testing.assert_allclose(rot.matrix_to_axis_angle(rot.axis_angle_to_matrix(aa)), aa, atol=1e-9)
    np.testing.assert_allclose(rot.axis_angle_to_matrix(np.zeros(3)), np.eye(3))


def test_quaternion_round_trip_handles_every_branch(rng):
    m = _random_matrices(rng, 1000)
    np.testing.assert_allclose(rot.quaternion_to_matrix(rot.matrix_to_quaternion(m)), m, atol=1e-12)
    # 180-degree rotations exercise the non-w branches.
    flips = rot.axis_angle_to_matrix(np.pi * np.eye(3))
    np.testing.assert_allclose(rot.quaternion_to_matrix(rot.matrix_to_quaternion(flips)), flips, atol=1e-12)


def test_rot6d_round_trip(rng):
    m = _random_matrices(rng, 200)
    np.testing.assert_allclose(rot.rot6d_to_matrix(rot.matrix_to_rot6d(m)), m, atol=1e-12)
    assert rot.matrix_to_rot6d(np.eye(3)).tolist() == [1, 0, 0, 1, 0, 0]


@pytest.mark.parametrize("order", ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"])
def test_euler_round_trip_and_composition(rng, order):
    angles = rng.uniform(-1.4, 1.4, size=(300, 3))
    m = rot.euler_to_matrix(angles, order)
    np.testing.assert_allclose(rot.matrix_to_euler(m, order), angles, atol=1e-9)
    # Intrinsic order: R = R_a(first) @ R_b(second) @ R_c(third).
    axes = {"X": 0, "Y": 1, "Z": 2}
    expected = (
        rot.euler_to_matrix(np.eye(3)[axes[order[0]]] * angles[:, :1], "XYZ")
        @ rot.euler_to_matrix(np.eye(3)[axes[order[1]]] * angles[:, 1:2], "XYZ")
        @ rot.euler_to_matrix(np.eye(3)[axes[order[2]]] * angles[:, 2:3], "XYZ")
    )
    np.testing.assert_allclose(m, expected, atol=1e-12)


def test_euler_gimbal_lock_still_reconstructs():
    angles = np.array([[0.3, np.pi / 2, 0.2]])
    m = rot.euler_to_matrix(angles, "ZYX")
    np.testing.assert_allclose(rot.euler_to_matrix(rot.matrix_to_euler(m, "ZYX"), "ZYX"), m, atol=1e-9)
