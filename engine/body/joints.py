"""SMPL's 24-joint kinematic tree: names and parents, in SMPL's order.

Joint 7/8 are the ankles and 10/11 the feet at the ball of the foot (toe base); VIBE and
Meshcapade call them "leftFoot" and "leftToeBase" respectively. The parent of both collars is
spine3 (9), as in SMPL's kintree_table, MAED and VIBE.
"""

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)

SMPL_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)

NUM_SMPL_JOINTS = 24

# Left/right pairs used for mirroring (joint index -> its mirror).
SMPL_MIRROR: tuple[int, ...] = (
    0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10, 12, 14, 13, 15, 17, 16, 19, 18, 21, 20, 23, 22,
)

# Leg chains from hip to toe base, per side.
LEFT_LEG: tuple[int, ...] = (1, 4, 7, 10)
RIGHT_LEG: tuple[int, ...] = (2, 5, 8, 11)
