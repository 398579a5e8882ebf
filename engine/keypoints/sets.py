"""The keypoint sets of the pretrained networks and of the stage's output, and how they map onto each other.

The stage's output set is BODY23_NAMES: COCO-17 then OpenPose's six foot points, the same names and order as
the body model's `coco17` and `feet6` keypoint sets (engine.body.keypoints), so a body fit compares them
without reordering. Left and right are the person's own.
"""

from __future__ import annotations

import numpy as np

from engine.body.keypoints import COCO17_NAMES, FEET6_NAMES

BODY23_NAMES: tuple[str, ...] = COCO17_NAMES + FEET6_NAMES

# BlazePose GHUM's 33 landmarks (its model outputs 39: these, then 6 auxiliary points, 33 and 34 of which
# give the next frame's region of interest).
BLAZEPOSE33_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
BLAZEPOSE_NUM_POINTS = 39
BLAZEPOSE_ROI_POINTS = (33, 34)  # hip centre, and a point whose distance gives the body's size and incline

# Where each BODY23 point comes from in BlazePose (-1: BlazePose has no such point). Its "foot index" is
# the tip of the foot over the big toe; it has no small toe.
_FROM_BLAZEPOSE = {"left_big_toe": "left_foot_index", "right_big_toe": "right_foot_index"}
BLAZEPOSE_TO_BODY23: np.ndarray = np.array([
    BLAZEPOSE33_NAMES.index(_FROM_BLAZEPOSE.get(name, name)) if _FROM_BLAZEPOSE.get(name, name) in BLAZEPOSE33_NAMES
    else -1 for name in BODY23_NAMES
])
SMALL_TOES: tuple[int, ...] = tuple(i for i, n in enumerate(BODY23_NAMES) if n.endswith("small_toe"))


# MoveNet predicts COCO-17 in COCO's order: BODY23's first 17.
MOVENET_TO_BODY23: np.ndarray = np.arange(len(COCO17_NAMES))

# The 12 limb joints of LSP-14 as BODY23 rows (evaluation on LSP / LSPET: PCK over these).
LSP_LIMB_NAMES: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
)
LSP_LIMB_TO_BODY23: np.ndarray = np.array([BODY23_NAMES.index(n) for n in LSP_LIMB_NAMES])


def body23_index(name: str) -> int:
    return BODY23_NAMES.index(name)


def blazepose_as_body23(values: np.ndarray, fill: float = np.nan) -> np.ndarray:
    """(N, 33, ...) per BlazePose point -> (N, 23, ...) in BODY23 order, `fill` where BlazePose has no point."""
    has = (BLAZEPOSE_TO_BODY23 >= 0).reshape((1, -1) + (1,) * (values.ndim - 2))
    return np.where(has, values[:, np.maximum(BLAZEPOSE_TO_BODY23, 0)], fill)
