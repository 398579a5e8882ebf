"""The ground under a fitted sequence and when each foot touches it.

The ground is the paper's Eq. 4 plane (engine.capture.ground.fit_ground_plane: the lowest point per frame,
least squares, repeated) on the soles' vertices, found in a frame where the up direction (the person's mean
up, or a calibration's) is +y, whatever the fit's world is (a camera frame has y down). A foot point is in contact when
it is near the plane (under 4 cm) and still (under 0.3 m/s), as engine.retarget.contacts measures; a foot
is planted when its heel or its toe is. With one camera the speed is the one across the image (the pixel
speed times depth over focal length): depth is what one camera gets worst, and its jitter would read as a
moving foot. For the same reason one camera also counts a foot as planted when it carries the body
(`support_probability`): still across the image and the lowest foot point in it for a while, however high
the fit has put it (a standing foot the fit moved in depth rises off its plane). Per-vertex labels (Eq. 4,
delta = 0.025 m) for the annotator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.capture.ground import GroundPlane, fit_ground_plane, level_transform
from engine.fit.state import State
from engine.retarget.contacts import below_ramp, contact_probability, drop_short_runs, foot_probability, foot_speeds
from engine.retarget.ik import rotation_between

_FOOT_POINTS = ("left_heel", "left_big_toe", "right_heel", "right_big_toe")


@dataclass(frozen=True, eq=False)
class FootContacts:
    """ground: the plane in the fit's world (normal pointing up, out of the floor); up (3,) the person's mean
    up there; points (T, 4) contact probability of (left heel, left toe, right heel, right toe); contact
    (T, 2) per foot (left, right)."""

    ground: GroundPlane
    up: np.ndarray
    points: np.ndarray
    contact: np.ndarray


def body_up(state: State) -> np.ndarray:
    """(3,) unit: the pelvis's rest +y in the fit's world, averaged over the frames."""
    mean = state.rotations[:, 0, :, 1].mean(axis=0)
    return mean / max(np.linalg.norm(mean), 1e-9)


def _to_y_up(up: np.ndarray) -> np.ndarray:
    """(3, 3) the smallest rotation taking `up` onto +y."""
    return rotation_between(up[None], np.array([[0.0, 1.0, 0.0]]))[0]


def foot_keypoints(body_model, state: State) -> np.ndarray:
    """(T, 4, 3) heels and big toes (_FOOT_POINTS order), metres, the fit's world."""
    from engine.fit.kinematics import fit_body, keypoint_positions

    body = fit_body(body_model)
    kp = keypoint_positions(body, state.rotations, state.trans, state.betas)
    return kp[:, [body.names.index(n) for n in _FOOT_POINTS]]


def sole_vertices(body_model, state: State) -> np.ndarray:
    """(T, Vs, 3) the feet's sole vertices (left, then right), metres, the fit's world."""
    from engine.fit.kinematics import keypoint_positions, sole_body

    return keypoint_positions(sole_body(body_model), state.rotations, state.trans, state.betas)


def ground_from_feet(body_model, state: State, weights: np.ndarray | None = None,
                     up: np.ndarray | None = None) -> GroundPlane:
    """Eq. 4's plane under the soles of every frame (weights (T,): 0 drops a frame). up: where up probably is
    in the fit's world (a calibration's y); None: the person's mean up, all one camera can tell."""
    up = body_up(state) if up is None else np.asarray(up, np.float64) / np.linalg.norm(up)
    q = _to_y_up(up)
    feet = sole_vertices(body_model, state) @ q.T
    plane = fit_ground_plane(feet, weights=weights, up_prior=np.array([0.0, 1.0, 0.0]))
    return GroundPlane(normal=q.T @ plane.normal, offset=plane.offset)


def foot_contacts(body_model, state: State, fps: float, ground: GroundPlane, camera=None) -> FootContacts:
    """Contact probabilities of every frame against `ground` (module docstring); camera: the one camera of a
    monocular fit (its image-plane speed is used), or None (3D speed)."""
    up = body_up(state)
    q = _to_y_up(ground.normal)
    plane_up = GroundPlane(normal=q @ ground.normal, offset=ground.offset)
    rot, shift = level_transform(plane_up)
    feet = foot_keypoints(body_model, state)
    levelled = (feet @ q.T) @ rot.T + shift
    heights, speeds = foot_speeds(levelled, fps)
    if camera is not None:
        speeds = image_plane_speeds(feet, camera, fps)
    points = contact_probability(heights, speeds)
    if camera is not None:
        points = np.maximum(points, support_probability(feet, camera, speeds, fps))
    return FootContacts(ground=ground, up=up, points=points, contact=foot_probability(points))


def support_probability(points: np.ndarray, camera, speeds: np.ndarray, fps: float, margin: float = 0.04,
                        speed_threshold: float = 0.3, min_seconds: float = 0.2) -> np.ndarray:
    """(T, K, 3) world foot points seen by one camera, (T, K) their speeds across the image (m/s) -> (T, K)
    probability that each carries the body: still (the speed ramp of engine.retarget.contacts) and within
    `margin` metres (at its depth) of the lowest foot point in the image, for at least `min_seconds` (a jump's
    apex is still for a few hundredths of a second). The image's down is the floor's for an upright camera:
    a raised foot shows higher than the one it stands on, and a foot on the floor further away only
    shows higher when the nearer foot is planted too."""
    pixels, _ = camera.project(points)
    depth = np.maximum(camera.to_camera(points)[..., 2], 0.1)
    focal = float(np.mean(np.diag(camera.intrinsics)[:2]))
    above_lowest = (np.nanmax(pixels[..., 1], axis=1, keepdims=True) - pixels[..., 1]) * depth / focal
    support = below_ramp(above_lowest, margin) * below_ramp(speeds, speed_threshold)
    lasting = drop_short_runs(support >= 0.5, max(int(round(min_seconds * fps)), 1))
    return np.where(lasting, support, 0.0)


def image_plane_speeds(points: np.ndarray, camera, fps: float, smoothing_seconds: float = 0.04) -> np.ndarray:
    """(T, K, 3) world points -> (T, K) m/s across the camera's image: pixel speed times depth over focal."""
    from scipy.ndimage import gaussian_filter1d

    pixels, _ = camera.project(points)
    depth = np.maximum(camera.to_camera(points)[..., 2], 0.1)
    sigma = smoothing_seconds * fps
    if sigma > 0.3:
        pixels = gaussian_filter1d(pixels, sigma, axis=0, mode="nearest")
    if len(points) < 2:
        return np.zeros(points.shape[:2])
    focal = float(np.mean(np.diag(camera.intrinsics)[:2]))
    return np.linalg.norm(np.gradient(pixels, axis=0), axis=-1) * fps * depth / focal
