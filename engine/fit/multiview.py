"""The paper's annotators (section 3.2): a body fitted to several calibrated views, feet refitted, contacts.

1. The whole-body multi-view fit: engine.fit.sequence with every view's 2D keypoints (robust reprojection,
   the pose and shape priors, Eq. 3's smoothness, the ground and planted feet), started from triangulated
   keypoints.
2. The foot refit, Eq. 1-3: only the lower legs and feet move (knees, ankles, toes), the rest held, against
   the same reprojection and smoothness terms, so the feet follow their keypoints in every view.
3. Ground-contact labels, Eq. 4: the ground plane from the whole meshes (the lowest vertex per frame, least
   squares, repeated), then every vertex within delta = 0.025 m of it is in contact.
World: the calibration's, y up, metres (engine.fit.calibration).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import numpy as np

from engine.body.joints import SMPL_JOINT_NAMES
from engine.body.lbs import body_forward
from engine.capture.ground import CONTACT_THRESHOLD_M, GroundPlane, fit_ground_plane, ground_contacts
from engine.fit.sequence import FitInput, FitResult, FitSettings, FitWeights, fit_sequence
from engine.fit.state import State

FOOT_JOINTS: tuple[int, ...] = tuple(SMPL_JOINT_NAMES.index(n) for n in (
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_foot", "right_foot"))
# With several views the 2D terms carry the pose; the fit needs no 3D keypoints and a lighter pose prior.
MULTIVIEW_WEIGHTS = FitWeights(keypoints_3d=0.0, pose_prior=0.003)


def multiview_settings() -> FitSettings:
    """The annotator's fit: MULTIVIEW_WEIGHTS, and the calibration's y as the ground's up."""
    return FitSettings(weights=MULTIVIEW_WEIGHTS, ground_up=(0.0, 1.0, 0.0))


@dataclass(frozen=True, eq=False)
class Annotation:
    """fit: the refitted body (world); ground: Eq. 4's plane under the whole meshes; vertex_contact (T, V)
    bool; whole_body: the fit before the foot refit."""

    fit: FitResult
    ground: GroundPlane
    vertex_contact: np.ndarray
    whole_body: FitResult


def annotate(body_model, inputs: FitInput, settings: FitSettings | None = None, progress=None,
             cancel: threading.Event | None = None, chunk: int = 64) -> Annotation:
    """Steps 1-3 of the module docstring on multi-view `inputs`."""
    settings = settings or multiview_settings()
    whole = fit_sequence(body_model, inputs, settings, progress=progress, cancel=cancel)
    start = State(whole.rotations, whole.trans, whole.betas)
    feet = replace(settings, free_joints=FOOT_JOINTS, fit_shape=False, betas=tuple(whole.betas))
    refit = fit_sequence(body_model, inputs, feet, progress=progress, cancel=cancel, initial=start)
    ground, contact = mesh_contacts(body_model, refit, chunk)
    return Annotation(fit=refit, ground=ground, vertex_contact=contact, whole_body=whole)


def mesh_contacts(body_model, fit: FitResult, chunk: int = 64, iterations: int = 5) -> tuple[GroundPlane, np.ndarray]:
    """Eq. 4 on the whole meshes: the plane and (T, V) bool labels (vertices made `chunk` frames at a time)."""
    t = len(fit.trans)
    meshes = []
    for s in range(0, t, chunk):
        sl = slice(s, min(s + chunk, t))
        betas = np.broadcast_to(fit.betas, (sl.stop - s, len(fit.betas)))
        meshes.append(body_forward(body_model, fit.rotations[sl], betas, fit.trans[sl]).vertices)
    vertices = np.concatenate(meshes)
    plane = fit_ground_plane(vertices, iterations=iterations)
    return plane, ground_contacts(vertices, plane, CONTACT_THRESHOLD_M)
