"""Fit the body to keypoints over a whole sequence: SMPLify's recipe over time, in one or more views.

1. Start (engine.fit.init): each frame's pose from 3D keypoints (BlazePose's world landmarks for a video,
   triangulated points with several cameras), its translation from the 2D keypoints.
2. Stage 1, in overlapping windows: 2D reprojection in every view (robust), the 3D keypoints as a soft
   term, the pose prior, joint limits, the shape prior, smoothness (Eq. 3 on every joint's rotation, and the
   root's acceleration). One shape for the sequence, fitted on the first window and then held.
3. The ground (Eq. 4 on the feet) and contacts from the feet's height and speed; stage 2 refits every
   window with the feet kept above the ground and planted feet held still.
Memory stays flat in the sequence's length: only per-frame poses are kept, Jacobians live for a window.
World: the cameras' (a video's own camera frame for one view: x right, y down, z forward), metres.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.body.model import BodyModel
from engine.errors import PlantedError
from engine.fit import terms
from engine.fit.camera import triangulate
from engine.fit.contacts import FootContacts, foot_contacts, ground_from_feet
from engine.fit.init import rotations_from_keypoints, translation_from_pixels
from engine.fit.kinematics import FitBody, fit_body, keypoint_positions
from engine.fit.priors import load_pose_prior
from engine.fit.solver import SolveReport, levenberg_marquardt
from engine.fit.state import FREE_JOINTS, NUM_FREE, PARAMS_PER_FRAME, TRANS, State
from engine.rotations import axis_angle_to_matrix

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class FitWeights:
    """Term weights and the sigmas that give each term its units (see engine.fit.terms).

    sigma_2d: pixel noise as a share of the person's height in the view; robust scales in sigmas.
    Smoothness sigmas are accelerations (rad/s^2, m/s^2), turned into per-frame sigmas with the fps.
    """

    keypoints_2d: float = 1.0
    sigma_2d: float = 0.01
    robust_2d: float = 4.0
    keypoints_3d: float = 0.3
    sigma_3d_m: float = 0.05
    robust_3d: float = 3.0
    pose_prior: float = 0.01
    joint_limits: float = 100.0
    shape_prior: float = 1.0
    smooth: float = 1.0
    angular_accel: float = 150.0
    root_accel: float = 1.0
    root_accel_ms2: float = 15.0
    ground: float = 10.0
    sigma_ground_m: float = 0.01
    still: float = 1.0
    sigma_still_m: float = 0.01


@dataclass(frozen=True)
class FitSettings:
    """weights; free_joints: the SMPL joints whose rotations the fit may change (None: all it can; the root
    translation moves only when the pelvis is free); window and overlap (frames); iterations per window in
    stage 1 and in stage 2 (which starts from stage 1's converged poses); tolerance: a window stops when an
    iteration lowers its cost by less than this share; fit_shape: solve the betas (else hold them at `betas`);
    ground: stage 2 (ground, planted feet);
    ground_up: the world's up where it is known (calibrated cameras), else the person's mean up is used."""

    weights: FitWeights = field(default_factory=FitWeights)
    free_joints: tuple[int, ...] | None = None
    window: int = 120
    overlap: int = 20
    iterations: int = 10
    ground_iterations: int = 5
    tolerance: float = 3e-3
    fit_shape: bool = True
    ground: bool = True
    ground_up: tuple[float, float, float] | None = None
    betas: tuple[float, ...] | None = None


@dataclass(frozen=True, eq=False)
class FitInput:
    """What the body is fitted to. views: engine.fit.terms.Views (T frames, K = the body's keypoints, in
    BODY23 order); points_3d (T, K, 3) hip-centred metres in the axes `axes_3d` (3, 3) turns the world into
    (BlazePose's world landmarks in the video camera's axes), or None; confidence_3d (T, K); fps."""

    views: terms.Views
    fps: float
    points_3d: np.ndarray | None = None
    confidence_3d: np.ndarray | None = None
    axes_3d: np.ndarray = field(default_factory=lambda: np.eye(3))

    @property
    def num_frames(self) -> int:
        return self.views.points.shape[1]


@dataclass(frozen=True, eq=False)
class FitResult:
    """rotations (T, 24, 3, 3) parent-relative (root in the fit's world), trans (T, 3) metres, betas (B,);
    contacts: the ground and each foot's contact; reprojection_px (V, T) each view's median keypoint error
    (NaN where unseen); reports: one SolveReport per window and stage."""

    rotations: np.ndarray
    trans: np.ndarray
    betas: np.ndarray
    contacts: FootContacts | None
    reprojection_px: np.ndarray
    reports: list[SolveReport]


def _check(inputs: FitInput, body: FitBody) -> None:
    v, t, k = inputs.views.points.shape[:3]
    if k != body.num_keypoints or inputs.views.points.shape[-1] != 2:
        raise PlantedError(f"the fit needs (views, frames, {body.num_keypoints}, 2) keypoints, got "
                           f"{inputs.views.points.shape}")
    if inputs.views.confidence.shape != (v, t, k) or len(inputs.views.cameras) != v:
        raise PlantedError("each view needs a camera and a confidence per keypoint")
    if t == 0:
        raise PlantedError("the fit was given no frames")
    seen = np.isfinite(inputs.views.points).all(-1) & (inputs.views.confidence > 0)
    if seen.sum(axis=(0, 2)).max() < 6:
        raise PlantedError("too few keypoints to fit a body: no frame has six keypoints seen with any confidence")


def initial_state(body: FitBody, inputs: FitInput, betas: np.ndarray) -> State:
    """The starting pose of every frame (module docstring, step 1)."""
    views = inputs.views
    t = inputs.num_frames
    if len(views.cameras) > 1:
        pts = np.full((t, body.num_keypoints, 3), np.nan)
        for f in range(t):
            pts[f], _ = triangulate(views.cameras, views.points[:, f], views.confidence[:, f])
    elif inputs.points_3d is not None:
        pts = inputs.points_3d @ inputs.axes_3d  # back into the world's axes (hip-centred)
    else:
        raise PlantedError("a single view needs 3D keypoints (BlazePose's world landmarks) to start the fit")
    pts = _fill_missing(pts)
    rotations = rotations_from_keypoints(body, pts, betas)
    if len(views.cameras) > 1:
        posed = keypoint_positions(body, rotations, np.zeros((t, 3)), betas)
        hips = [body.names.index("left_hip"), body.names.index("right_hip")]
        trans = np.nanmean(pts[:, hips], axis=1) - posed[:, hips].mean(axis=1)
        trans = _fill_missing(trans[:, None])[:, 0]
    else:
        trans = translation_from_pixels(body, rotations, betas, views.cameras[0], views.points[0], views.confidence[0])
    return State(rotations=rotations, trans=trans, betas=betas.copy())


def _fill_missing(points: np.ndarray) -> np.ndarray:
    """Frames whose points are all NaN take the nearest frame's; single NaN points stay (the init skips them)."""
    out = points.copy()
    have = np.isfinite(out).all(-1).any(-1)
    if not have.any():
        return out
    idx = np.flatnonzero(have)
    nearest = idx[np.clip(np.searchsorted(idx, np.arange(len(out))), 0, len(idx) - 1)]
    out[~have] = out[nearest[~have]]
    return out


def _apply(state: State, d_frames: np.ndarray, d_shape: np.ndarray) -> State:
    out = state.copy()
    t = state.num_frames
    inc = axis_angle_to_matrix(d_frames[:, :3 * NUM_FREE].reshape(t, NUM_FREE, 3))
    out.rotations[:, FREE_JOINTS] = state.rotations[:, FREE_JOINTS] @ inc
    out.trans = state.trans + d_frames[:, TRANS]
    out.betas = state.betas + d_shape
    return out


def _window_terms(body: FitBody, inputs: FitInput, frames: slice, settings: FitSettings,
                  ground: FootContacts | None):
    """evaluate(state) for the LM solver over `frames`: every block of stage 1 (and 2 with `ground`)."""
    w = settings.weights
    dt = 1.0 / inputs.fps
    prior = load_pose_prior()
    views = terms.Views(inputs.views.cameras, inputs.views.points[:, frames], inputs.views.confidence[:, frames],
                        inputs.views.sigma_px)
    hips = (body.names.index("left_hip"), body.names.index("right_hip"))
    feet = np.array([body.names.index(n) for n in ("left_heel", "left_big_toe", "right_heel", "right_big_toe")])

    def evaluate(state: State):
        lin = terms.linearise(body, state)
        blocks = [terms.keypoints_2d(lin, views, w.keypoints_2d, w.robust_2d),
                  terms.pose_prior(state, prior, w.pose_prior), terms.joint_limits(state, w.joint_limits)]
        if inputs.points_3d is not None and w.keypoints_3d > 0:
            blocks.append(terms.keypoints_3d(lin, inputs.points_3d[frames], inputs.confidence_3d[frames],
                                             inputs.axes_3d, hips, w.keypoints_3d, w.sigma_3d_m, w.robust_3d))
        blocks.append(terms.rotation_smoothness(state, w.smooth, w.angular_accel * dt * dt))
        blocks.append(terms.root_acceleration(state, w.root_accel, w.root_accel_ms2 * dt * dt))
        if ground is not None:
            blocks.append(terms.above_ground(lin, feet, ground.ground.normal, ground.ground.offset, w.ground,
                                             w.sigma_ground_m))
            contact = ground.contact[frames][:, [0, 0, 1, 1]]
            blocks.append(terms.planted_still(lin, feet, contact, w.still, w.sigma_still_m))
        return [b for b in blocks if b is not None], 0.0

    return evaluate


def _windows(t: int, window: int, overlap: int) -> list[tuple[int, int]]:
    if t <= window:
        return [(0, t)]
    step = window - overlap
    starts = list(range(0, t - window, step)) + [t - window]
    return [(s, s + window) for s in sorted(set(starts))]


def _solve_windows(body: FitBody, inputs: FitInput, state: State, settings: FitSettings, ground,
                   fit_shape: bool, reports: list, progress: Progress | None, stage: str,
                   cancel: threading.Event | None, iterations: int) -> State:
    t = state.num_frames
    spans = _windows(t, settings.window, settings.overlap)
    out = state.copy()
    done_until = 0
    for i, (s, e) in enumerate(spans):
        if cancel is not None and cancel.is_set():
            from engine.capture.result import CaptureCancelled

            raise CaptureCancelled("fit cancelled")
        frames = slice(s, e)
        window_state = State(out.rotations[frames].copy(), out.trans[frames].copy(), out.betas.copy())
        evaluate = _window_terms(body, inputs, frames, settings, ground)
        solved, report = levenberg_marquardt(window_state, evaluate, _apply, PARAMS_PER_FRAME,
                                             solve_shape=fit_shape and i == 0, shape_prior=settings.weights.shape_prior,
                                             max_iterations=iterations, tolerance=settings.tolerance,
                                             held=held_parameters(settings))
        reports.append(report)
        keep_from = s if i == 0 else min(e, done_until - settings.overlap // 2)
        out.rotations[keep_from:e] = solved.rotations[keep_from - s:]
        out.trans[keep_from:e] = solved.trans[keep_from - s:]
        out.betas = solved.betas
        done_until = e
        if progress:
            progress(stage, e, t)
    return out


def held_parameters(settings: FitSettings) -> np.ndarray | None:
    """(P,) bool: the frame parameters the fit leaves alone (settings.free_joints)."""
    if settings.free_joints is None:
        return None
    held = np.ones(PARAMS_PER_FRAME, bool)
    for i, joint in enumerate(FREE_JOINTS):
        if int(joint) in settings.free_joints:
            held[3 * i:3 * i + 3] = False
    held[TRANS] = 0 not in settings.free_joints
    return held


def reprojection_errors(body: FitBody, state: State, views: terms.Views) -> np.ndarray:
    """(V, T) each view's median pixel error over the keypoints seen there (NaN where none)."""
    kp = keypoint_positions(body, state.rotations, state.trans, state.betas)
    out = np.full((len(views.cameras), len(kp)), np.nan)
    for v, cam in enumerate(views.cameras):
        u, front = cam.project(kp)
        err = np.linalg.norm(u - views.points[v], axis=-1)
        seen = np.isfinite(err) & front & (views.confidence[v] > 0.3)
        rows = seen.any(axis=1)
        out[v, rows] = np.nanmedian(np.where(seen[rows], err[rows], np.nan), axis=1)
    return out


def fit_sequence(body_model: BodyModel, inputs: FitInput, settings: FitSettings | None = None,
                 progress: Progress | None = None, cancel: threading.Event | None = None,
                 initial: State | None = None) -> FitResult:
    """The body fitted to `inputs` (module docstring). `initial` replaces step 1 (e.g. a network's poses)."""
    settings = settings or FitSettings()
    body = fit_body(body_model)
    _check(inputs, body)
    betas = np.zeros(body.num_betas) if settings.betas is None else np.asarray(settings.betas, np.float64)
    state = initial.copy() if initial is not None else initial_state(body, inputs, betas)
    reports: list[SolveReport] = []
    state = _solve_windows(body, inputs, state, settings, None, settings.fit_shape, reports, progress, "fit", cancel,
                           settings.iterations)
    contacts = None
    if settings.ground:
        camera = inputs.views.cameras[0] if len(inputs.views.cameras) == 1 else None
        ground = ground_from_feet(body_model, state, up=settings.ground_up)
        contacts = foot_contacts(body_model, state, inputs.fps, ground, camera)
        state = _solve_windows(body, inputs, state, settings, contacts, False, reports, progress, "ground", cancel,
                               settings.ground_iterations)
        contacts = foot_contacts(body_model, state, inputs.fps, contacts.ground, camera)
    return FitResult(rotations=state.rotations, trans=state.trans, betas=state.betas, contacts=contacts,
                     reprojection_px=reprojection_errors(body, state, inputs.views), reports=reports)
