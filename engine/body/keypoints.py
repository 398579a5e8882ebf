"""Keypoint sets a body model file carries: their names, in each set's own order.

Each set S is stored in the file as `keypoint_regressor_S` (K, V), applied to posed vertices, and
`keypoint_names_S` (K,). The orders follow the conventions of the datasets and evaluation code
that use them (COCO, OpenPose's foot keypoints, SPIN's Human3.6M regressor and its LSP subset), so
arrays can be compared with theirs without reordering.
"""

from __future__ import annotations

from engine.body.joints import SMPL_JOINT_NAMES

COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)

# OpenPose BODY_25's foot keypoints (19-24), the order smplx's vertex joint selector uses.
FEET6_NAMES: tuple[str, ...] = (
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)

# The order of SPIN's J_regressor_h36m.npy (the regressor used for Human3.6M/3DPW evaluation).
H36M17_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "left_knee", "left_ankle", "right_hip", "right_knee", "right_ankle",
    "spine", "thorax", "nose", "head", "left_shoulder", "left_elbow", "left_wrist",
    "right_shoulder", "right_elbow", "right_wrist",
)

# SPIN's H36M_TO_J14: the 14 LSP joints (evaluation on 3DPW and Human3.6M) as rows of h36m17.
H36M_TO_J14: tuple[int, ...] = (6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10)

LSP14_NAMES: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "neck", "head_top",
)

# Every keypoint set a body model file must carry, with its names in order.
KEYPOINT_SETS: dict[str, tuple[str, ...]] = {
    "smpl24": SMPL_JOINT_NAMES,
    "lsp14": LSP14_NAMES,
    "coco17": COCO17_NAMES,
    "feet6": FEET6_NAMES,
    "h36m17": H36M17_NAMES,
}

# SMPL (and SMPL-H) vertex ids of keypoints that sit on the surface, from smplx's vertex_ids.py
# ('smplh' table); used when converting the user's SMPL files.
SMPL_KEYPOINT_VERTEX_IDS: dict[str, int] = {
    "nose": 332, "right_eye": 6260, "left_eye": 2800, "right_ear": 4071, "left_ear": 583,
    "left_big_toe": 3216, "left_small_toe": 3226, "left_heel": 3387,
    "right_big_toe": 6617, "right_small_toe": 6624, "right_heel": 6787,
}
