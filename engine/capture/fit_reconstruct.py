"""The fit estimator's reconstruction: the body fitted to the keypoint stage (engine.fit), into the world.

The video's camera is the fit's world (x right, y down, z forward, metres; focal length as the network
path assumes: --focal-length or the frame's diagonal). Its 2D keypoints are the stage's fused BODY23
points with their confidences, its 3D keypoints BlazePose's world landmarks (camera axes, hip-centred).
With the network (network+fit) the network's per-frame poses start the fit instead of BlazePose's
landmarks (SPIN's loop at test time). The fitted body then goes into the levelled world as the network's
reconstruction does (engine.capture.reconstruct): a half turn about x, then the fitted ground to y = 0.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from engine.capture.gaps import GapMasks, fill_linear, fill_rotations
from engine.capture.ground import GroundPlane, level_transform
from engine.capture.reconstruct import (
    CAMERA_TO_WORLD,
    FrameEstimates,
    Reconstruction,
    ReconstructSettings,
    move_rigidly,
    perspective_translation,
    robust_shape,
)
from engine.fit.camera import Camera
from engine.fit.sequence import FitInput, FitResult, FitSettings, FitWeights, fit_sequence
from engine.fit.state import State
from engine.fit.terms import Views
from engine.keypoints.sets import BODY23_NAMES, blazepose_as_body23
from engine.keypoints.stage import PersonKeypoints

# A frame counts as seen when BlazePose found the person and this many points are this confident.
_MIN_POINTS = 6
_MIN_CONFIDENCE = 0.3
_HIPS = (BODY23_NAMES.index("left_hip"), BODY23_NAMES.index("right_hip"))


def observed_frames(keypoints: PersonKeypoints) -> np.ndarray:
    """(T,) bool: frames where the keypoint stage saw the person (module constants)."""
    return (keypoints.pose_flag >= 0.5) & ((keypoints.confidence >= _MIN_CONFIDENCE).sum(axis=1) >= _MIN_POINTS)


def person_height_px(points: np.ndarray, confidence: np.ndarray) -> float:
    """The person's typical height in the image: the median over frames of the confident points' extent."""
    ok = confidence >= _MIN_CONFIDENCE
    heights = [np.ptp(p[m, 1]) for p, m in zip(points, ok, strict=True) if m.sum() >= _MIN_POINTS]
    return float(np.median(heights)) if heights else 100.0


def fit_input(keypoints: PersonKeypoints, observed: np.ndarray, frame_size: tuple[int, int], focal_px: float,
              fps: float, weights: FitWeights) -> FitInput:
    """The fit's inputs from the keypoint stage (module docstring); unseen frames carry no keypoints."""
    conf = np.where(observed[:, None], keypoints.confidence, 0.0)
    camera = Camera.monocular(frame_size[0], frame_size[1], focal_px)
    sigma = weights.sigma_2d * person_height_px(keypoints.points, conf)
    views = Views([camera], keypoints.points[None], conf[None], np.array([sigma]))
    world = blazepose_as_body23(keypoints.world)
    world = world - 0.5 * (world[:, _HIPS[0]] + world[:, _HIPS[1]])[:, None]
    visibility = blazepose_as_body23(keypoints.blazepose[..., 3], fill=0.0)
    conf_3d = np.where(observed[:, None] & np.isfinite(world).all(-1), visibility * keypoints.pose_flag[:, None], 0.0)
    return FitInput(views=views, fps=fps, points_3d=world, confidence_3d=conf_3d)


def network_initial_state(estimates: FrameEstimates, body_model, frame_size: tuple[int, int], focal_px: float,
                          observed: np.ndarray) -> State:
    """The network's poses as the fit's start, in the camera frame (root rotation and translation)."""
    from engine.body.lbs import body_forward

    betas = robust_shape(estimates.betas, observed)
    rotations = estimates.pose_rotmat.astype(np.float64)
    joints = body_forward(body_model, rotations, betas, vertices=False).joints
    trans = perspective_translation(joints, estimates.cam, estimates.windows, frame_size, focal_px)
    return State(rotations=rotations, trans=trans, betas=np.asarray(betas, np.float64))


# Iterations per window (stage 1, stage 2) when the network's poses start the fit. Monocular PA-MPJPE on
# the four pose2sim cameras with the default model (scripts/bench/pose2sim_monocular.py): 74.4 mm at the
# fit's own 10 and 5, 73.6 at 6 and 3, 73.4 at 4 and 2. Started from the network the fit is near its answer
# and further iterations mostly follow the keypoints' noise; from BlazePose's landmarks alone it still needs
# them (fit alone: 84.2 mm at 10 and 5, 84.8 at 6 and 3).
NETWORK_START_ITERATIONS = (6, 3)


def fit_settings_for(strength: float, weights: FitWeights | None = None, network_start: bool = False) -> FitSettings:
    """The capture's --smoothing strength (0 off, 1 default) scales the fit's temporal terms; a fit started
    from the network's poses takes fewer iterations (NETWORK_START_ITERATIONS)."""
    w = weights or FitWeights()
    from dataclasses import replace

    settings = FitSettings(weights=replace(w, smooth=w.smooth * strength, root_accel=w.root_accel * strength))
    if network_start:
        iterations, ground_iterations = NETWORK_START_ITERATIONS
        settings = replace(settings, iterations=iterations, ground_iterations=ground_iterations)
    return settings


def reconstruct_from_fit(keypoints: PersonKeypoints, masks: GapMasks, body_model, fps: float,
                         frame_size: tuple[int, int], settings: ReconstructSettings,
                         initial: State | None = None, progress: Callable | None = None,
                         cancel: threading.Event | None = None) -> tuple[Reconstruction, FitResult]:
    """The fitted clip in the levelled world (module docstring) and the fit's own result (camera frame)."""
    focal = settings.focal_length_px or float(np.hypot(*frame_size))
    fit_settings = fit_settings_for(settings.smoothing, network_start=initial is not None)
    inputs = fit_input(keypoints, masks.observed, frame_size, focal, fps, fit_settings.weights)
    result = fit_sequence(body_model, inputs, fit_settings, progress=progress, cancel=cancel, initial=initial)
    pelvis_rest = body_model.rest_joints(result.betas)[0]
    rotations, trans = move_rigidly(result.rotations, result.trans, pelvis_rest, CAMERA_TO_WORLD, np.zeros(3))
    ground = GroundPlane.horizontal(0.0)
    contact = np.zeros((len(trans), 2))
    if result.contacts is not None:
        ground = GroundPlane(normal=CAMERA_TO_WORLD @ result.contacts.ground.normal,
                             offset=result.contacts.ground.offset)
        contact = result.contacts.contact
    rotations, trans = move_rigidly(rotations, trans, pelvis_rest, *level_transform(ground))
    usable = GapMasks(observed=masks.valid, interpolated=np.zeros_like(masks.valid), missing=~masks.valid)
    rotations, trans, contact = fill_rotations(rotations, usable), fill_linear(trans, usable), fill_linear(contact,
                                                                                                          usable)
    seen_conf = np.median(np.where(masks.observed[:, None], keypoints.confidence[:, :17], 0.0), axis=1)
    confidence = fill_linear(seen_conf, masks) * np.where(masks.interpolated, 0.5, 1.0) * masks.valid
    recon = Reconstruction(rotations=rotations, betas=result.betas[:10], trans=trans, foot_contact=contact,
                           ground_camera=ground, confidence=confidence.clip(0, 1), masks=masks, focal_length_px=focal)
    return recon, result
