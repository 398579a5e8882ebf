"""The keypoint superset every real sample is stored in, and where each dataset's joints land in it.

As SPIN's and VIBE's common joint superset: every dataset's keypoints are scattered into one list of named
points, and a point a dataset does not annotate gets confidence 0. Our superset is the network's
"superset30" (training.body.KEYPOINT_SETS: SPIN's 24 ground-truth joints, LSP-14 first, then OpenPose's 6
foot points) followed by the 12 COCO limb joints under their own names ("coco_left_hip", ...). COCO's
shoulders, hips and limbs are not LSP's (SPIN keeps "OP RHip" and "Right Hip" apart for that reason; the
body model carries a regressor for each), so they are separate points; COCO's five face points are the
same points as SPIN's and share their names.

A mapping is an int array: for each joint of the dataset (in the dataset's own order), its row in SUPERSET,
or -1 where the superset has no such point (that joint is dropped).
"""

from __future__ import annotations

import numpy as np

from engine.body.keypoints import COCO17_NAMES, FEET6_NAMES, LSP14_NAMES
from engine.errors import PlantedError

SPIN24_NAMES: tuple[str, ...] = LSP14_NAMES + ("pelvis", "thorax", "spine", "jaw", "head") + COCO17_NAMES[:5]
SUPERSET30_NAMES: tuple[str, ...] = SPIN24_NAMES + FEET6_NAMES
COCO_LIMB_NAMES: tuple[str, ...] = COCO17_NAMES[5:]
SUPERSET_NAMES: tuple[str, ...] = SUPERSET30_NAMES + tuple(f"coco_{n}" for n in COCO_LIMB_NAMES)
NUM_SUPERSET = len(SUPERSET_NAMES)

# OpenPose's COCO-18 (3DPW's poses2d): COCO's 17 in another order plus a neck between the shoulders, which
# is neither LSP's neck nor any superset point.
OPENPOSE18_NAMES: tuple[str, ...] = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)

# MPI-INF-3DHP's 28 joints (annot.mat's order, mpii_get_joint_set.m "all").
MPI_INF_3DHP28_NAMES: tuple[str, ...] = (
    "spine3", "spine4", "spine2", "spine", "pelvis", "neck", "head", "head_top",
    "left_clavicle", "left_shoulder", "left_elbow", "left_wrist", "left_hand",
    "right_clavicle", "right_shoulder", "right_elbow", "right_wrist", "right_hand",
    "left_hip", "left_knee", "left_ankle", "left_foot", "left_toe",
    "right_hip", "right_knee", "right_ankle", "right_foot", "right_toe",
)
# The MPI-INF-3DHP joints that are the same points as superset ones (SPIN's choice: limbs, neck, head top,
# pelvis); the spine, clavicles, hands, feet and toes have no counterpart.
_MPI_TO_SUPERSET = ("pelvis", "neck", "head_top", *(f"{s}_{j}" for s in ("left", "right")
                                                     for j in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")))


def coco_name(name: str) -> str:
    """A COCO-17 joint's superset name: the face points are SPIN's, the limbs COCO's own."""
    return f"coco_{name}" if name in COCO_LIMB_NAMES else name


def mapping(names, rename=None) -> np.ndarray:
    """(J,) superset row of each named joint (-1 where none); rename maps a dataset name to a superset name."""
    rename = rename or (lambda n: n)
    index = {n: i for i, n in enumerate(SUPERSET_NAMES)}
    return np.array([index.get(rename(n), -1) for n in names], dtype=np.int64)


COCO17_TO_SUPERSET: np.ndarray = mapping(COCO17_NAMES, coco_name)
FEET6_TO_SUPERSET: np.ndarray = mapping(FEET6_NAMES)
LSP14_TO_SUPERSET: np.ndarray = mapping(LSP14_NAMES)
SPIN24_TO_SUPERSET: np.ndarray = mapping(SPIN24_NAMES)
OPENPOSE18_TO_SUPERSET: np.ndarray = mapping(OPENPOSE18_NAMES, lambda n: "" if n == "neck" else coco_name(n))
MPI_INF_3DHP28_TO_SUPERSET: np.ndarray = mapping(
    MPI_INF_3DHP28_NAMES, lambda n: n if n in _MPI_TO_SUPERSET else "")


def to_superset(values: np.ndarray, joint_map: np.ndarray) -> np.ndarray:
    """(N, J, C) values in a dataset's order -> (N, NUM_SUPERSET, C), zeros where the dataset has no joint.

    The last channel is a confidence in every use here, so an absent point reads as unlabelled.
    """
    out = np.zeros((values.shape[0], NUM_SUPERSET, values.shape[2]), dtype=np.float64)
    keep = joint_map >= 0
    out[:, joint_map[keep]] = values[:, keep]
    return out


def select(values: np.ndarray, names) -> np.ndarray:
    """(..., NUM_SUPERSET, C) -> (..., len(names), C): the rows of a network's keypoint set, by name."""
    missing = [n for n in names if n not in SUPERSET_NAMES]
    if missing:
        raise PlantedError(f"keypoints {missing} are not in the superset (training.data.superset.SUPERSET_NAMES)")
    return values[..., [SUPERSET_NAMES.index(n) for n in names], :]
