"""The body that a synthetic sample shows: posed by a clip's frame, shaped by beta, with its exact labels.

World: SMPL's y-up world of the clip (metres). The posed mesh is the engine's own LBS (engine.body.lbs
.body_forward) with translation trans = pelvis - rest pelvis, so that the pelvis joint lands where the clip
has it. Keypoints come out in the superset's order (training.data.superset.SUPERSET_NAMES), each regressed
from the mesh with the body model's own regressor for that point. Contact labels are the paper's Eq. 4
annotator run over the whole clip for this shape (engine.capture.ground: the ground plane from the soles'
lowest points, then every sole vertex within 2.5 cm of it), so a frame's label knows the whole sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from engine.body.keypoints import COCO17_NAMES
from engine.body.model import BodyModel
from training.data.superset import COCO_LIMB_NAMES, SUPERSET_NAMES
from training.data.synthetic.clips import Clip

# Which body-model keypoint set each superset point is read from, and under which name there.
_H36M_POINTS = {"pelvis": "pelvis", "thorax": "thorax", "spine": "spine", "jaw": "nose", "head": "head"}


def superset_source(name: str) -> tuple[str, str]:
    """(body-model set, name in it) of a superset point."""
    if name.startswith("coco_") and name[5:] in COCO_LIMB_NAMES:
        return "coco17", name[5:]
    if name in _H36M_POINTS:
        return "h36m17", _H36M_POINTS[name]
    if name in COCO17_NAMES[:5]:
        return "coco17", name
    if name.endswith(("_toe", "_heel")):
        return "feet6", name
    return "lsp14", name


def superset_regressor(body: BodyModel) -> sparse.csr_matrix:
    """(NUM_SUPERSET, V) sparse: every superset keypoint as a weighted sum of the mesh's vertices."""
    key = ("superset_regressor",)
    if key not in body.derived:
        rows = []
        for name in SUPERSET_NAMES:
            set_name, point = superset_source(name)
            rows.append(body.keypoint_regressors[set_name][list(body.keypoint_names[set_name]).index(point)])
        body.derived[key] = sparse.vstack(rows).tocsr()
    return body.derived[key]


@dataclass(frozen=True, eq=False)
class PosedBody:
    """One frame of a shaped body in the world (y up, metres): vertices (V, 3), keypoints (K, 3) in the
    superset's order, rotations (24, 3, 3) SMPL's (the root's relative to the world), betas (10,), the
    pelvis joint (3,), and the Eq. 4 contact label of each contact vertex (Vc,) bool."""

    vertices: np.ndarray
    keypoints: np.ndarray
    rotations: np.ndarray
    betas: np.ndarray
    pelvis: np.ndarray
    contact: np.ndarray


def body_translation(body: BodyModel, pelvis: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """(..., 3) the LBS translation that puts the pelvis joint of shape `betas` at `pelvis` (metres)."""
    return pelvis - body.rest_joints(betas)[0]


def pose_frame(body: BodyModel, clip: Clip, frame: int, betas: np.ndarray, contact: np.ndarray,
               rotations: np.ndarray | None = None) -> PosedBody:
    """Frame `frame` of `clip` on shape `betas`; rotations (24, 3, 3) replace the clip's (perturbed) when given."""
    from engine.body.lbs import body_forward

    rotations = clip.rotations[frame] if rotations is None else rotations
    trans = body_translation(body, clip.pelvis[frame], betas)
    out = body_forward(body, rotations[None], betas, trans)
    vertices = out.vertices[0].astype(np.float64)
    keypoints = np.asarray(superset_regressor(body) @ vertices)
    return PosedBody(vertices, keypoints, rotations, np.asarray(betas, np.float64), clip.pelvis[frame].copy(),
                     contact[frame])


def sole_trajectory(body: BodyModel, clip: Clip, betas: np.ndarray) -> np.ndarray:
    """(T, Vc, 3) the contact (sole) vertices over the whole clip, metres, y up."""
    from engine.fit.kinematics import keypoint_positions, sole_body

    trans = body_translation(body, clip.pelvis, betas)
    return keypoint_positions(sole_body(body), clip.rotations, trans, np.asarray(betas, np.float64))


def clip_contacts(body: BodyModel, clip: Clip, betas: np.ndarray) -> np.ndarray:
    """(T, Vc) bool: Eq. 4's labels over the clip for this shape (ground from the soles, 2.5 cm threshold)."""
    from engine.capture.ground import fit_ground_plane, ground_contacts

    soles = sole_trajectory(body, clip, betas)
    return ground_contacts(soles, fit_ground_plane(soles))


class ContactCache:
    """`clip_contacts` computed once per (clip, shape) for one body: shapes come from a small bank, so a
    source reuses each clip's labels across its samples."""

    def __init__(self, body: BodyModel) -> None:
        self.body = body
        self._labels: dict[tuple[str, bytes], np.ndarray] = {}

    def __call__(self, clip: Clip, betas: np.ndarray) -> np.ndarray:
        betas = np.asarray(betas, np.float64)
        key = (clip.name, betas.tobytes())
        if key not in self._labels:
            self._labels[key] = clip_contacts(self.body, clip, betas)
        return self._labels[key]
