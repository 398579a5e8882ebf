"""The paper's iterative ground-plane fit (Eq. 4) and the levelling transform."""

from __future__ import annotations

import numpy as np
import pytest

from engine.capture.ground import (
    GroundPlane,
    fit_ground_plane,
    ground_contacts,
    least_squares_plane,
    level_transform,
    lowest_points,
)


def tilted_plane(normal, height):
    n = np.asarray(normal, float)
    n /= np.linalg.norm(n)
    return GroundPlane(normal=n, offset=-height * n[1])


def walking_feet(plane: GroundPlane, frames: int = 120, seed: int = 0) -> np.ndarray:
    """(T, V, 3) foot-like point clouds walking over `plane`: every frame one sole touches it."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)
    path = np.stack([np.sin(t / 15) * 1.5, np.zeros(frames), t * 0.03], axis=1)  # curving walk
    sole = rng.uniform([-0.05, 0, -0.1], [0.05, 0.0, 0.15], (20, 3))
    lifted = sole + np.array([0.2, 0.0, 0.0])
    lift = 0.05 + 0.1 * (np.sin(t / 3) ** 2)  # the swing foot, 5 to 15 cm up
    points = []
    for k in range(frames):
        on_ground = path[k] + sole
        swing = path[k] + lifted + np.array([0, lift[k], 0])
        body = path[k] + rng.uniform([-0.2, 0.3, -0.1], [0.2, 1.7, 0.1], (30, 3))
        points.append(np.concatenate([on_ground, swing, body]))
    flat = np.asarray(points)
    # Put the flat scene onto the plane: rotate +y onto its normal, then lift to its height.
    rot, shift = level_transform(plane)
    return (flat - shift) @ rot  # inverse of x -> rot @ x + shift


def test_fit_recovers_a_tilted_ground():
    plane = tilted_plane([0.1, 1.0, -0.05], height=-0.9)
    vertices = walking_feet(plane)
    fitted = fit_ground_plane(vertices)
    assert np.degrees(np.arccos(np.clip(fitted.normal @ plane.normal, -1, 1))) < 0.5
    on_plane = vertices.reshape(-1, 3)[np.abs(plane.signed_distance(vertices.reshape(-1, 3))) < 1e-9]
    assert np.abs(fitted.signed_distance(on_plane)).max() < 0.01


def test_first_iteration_starts_from_a_plane_below_everything():
    vertices = walking_feet(GroundPlane.horizontal(0.0))
    lowest = lowest_points(vertices, GroundPlane.horizontal(-10.0))
    assert np.allclose(lowest[:, 1], vertices[..., 1].min(axis=1))


def test_standing_still_stays_level():
    # All lowest points in one spot: the slopes are unobservable and must stay level, not arbitrary.
    rng = np.random.default_rng(1)
    vertices = np.tile(np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), (50, 1, 1)) + rng.normal(0, 1e-3, (50, 2, 3))
    fitted = fit_ground_plane(vertices)
    assert fitted.normal[1] > 0.999
    assert abs(fitted.signed_distance(np.zeros(3))) < 0.005


def test_zero_weight_frames_are_ignored():
    plane = GroundPlane.horizontal(0.0)
    vertices = walking_feet(plane, frames=60)
    vertices[::3] -= np.array([0, 0.5, 0])  # a third of the frames sink by 50 cm (garbage)
    weights = np.ones(60)
    weights[::3] = 0
    fitted = fit_ground_plane(vertices, weights=weights)
    assert abs(fitted.offset) < 0.005 and fitted.normal[1] > 0.999
    with pytest.raises(ValueError):
        fit_ground_plane(vertices, weights=np.zeros(60))


def test_contacts_use_the_papers_threshold():
    plane = GroundPlane.horizontal(0.0)
    vertices = np.array([[[0, 0.02, 0], [0, 0.03, 0], [0, -0.01, 0], [0, 0.5, 0]]], float)
    assert ground_contacts(vertices, plane).tolist() == [[True, False, True, False]]


def test_least_squares_plane_exact_on_a_spread_plane():
    rng = np.random.default_rng(2)
    xz = rng.uniform(-3, 3, (200, 2))
    y = 0.05 * xz[:, 0] - 0.02 * xz[:, 1] + 0.3
    fitted = least_squares_plane(np.stack([xz[:, 0], y, xz[:, 1]], axis=1), slope_ridge_m2=0.0)
    expected = np.array([-0.05, 1.0, 0.02]) / np.linalg.norm([-0.05, 1.0, 0.02])
    assert np.allclose(fitted.normal, expected, atol=1e-9)


def test_level_transform_puts_the_plane_at_y0_with_normal_up():
    plane = tilted_plane([0.3, 1.0, 0.2], height=1.2)
    rot, shift = level_transform(plane)
    assert np.allclose(rot @ rot.T, np.eye(3)) and np.isclose(np.linalg.det(rot), 1.0)
    assert np.allclose(rot @ plane.normal, [0, 1, 0])
    rng = np.random.default_rng(3)
    pts = rng.normal(size=(50, 3))
    pts -= np.outer(plane.signed_distance(pts), plane.normal)  # project onto the plane
    assert np.allclose((pts @ rot.T + shift)[:, 1], 0.0, atol=1e-12)


def monocular_standing(pitch_deg: float, cam_height: float, seed: int = 0):
    """Lowest points of a person standing still 3 m from a pitched camera whose depth is noisy (20 cm):
    the points spread along the camera ray. Returns points in the camera-centred frame and the true up."""
    rng = np.random.default_rng(seed)
    feet = np.stack([rng.normal(0, 0.01, 200), np.zeros(200), -3 + rng.normal(0, 0.01, 200)], axis=1)
    rel = feet - [0, cam_height, 0]
    rel += rel / np.linalg.norm(rel, axis=1, keepdims=True) * rng.normal(0, 0.2, (200, 1))
    a = np.radians(pitch_deg)
    pitch = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    return (rel @ pitch.T)[:, None], pitch @ [0, 1, 0]


@pytest.mark.parametrize("pitch, height", [(0, 1.2), (20, 1.2), (20, 1.8), (10, 0.5)])
def test_up_prior_keeps_depth_noise_from_tilting_the_ground(pitch, height):
    points, true_up = monocular_standing(pitch, height)
    leaning_up = true_up + np.array([0, 0, np.tan(np.radians(4))])  # the person leans 4 degrees
    plain = fit_ground_plane(points)
    guided = fit_ground_plane(points, up_prior=leaning_up / np.linalg.norm(leaning_up), slope_ridge_m2=0.5)
    error = np.degrees(np.arccos(np.clip(guided.normal @ true_up, -1, 1)))
    assert error < 3.5
    if pitch >= 10:
        assert np.degrees(np.arccos(np.clip(plain.normal @ true_up, -1, 1))) > 2 * error
