"""Human3.6M in the common preprocessed npz layout (SPIN's h36m_train.npz and its kin).

Every sample has 2D keypoints (part, image px), 3D joints (S, metres, camera frame: SPIN's preprocessing
divides the dataset's millimetres by 1000; a file in millimetres is refused with that advice) and, where
the file carries MoSh fits (pose, shape), SMPL labels. Layout and units: training.data.spin_npz.
Camera parameters are not part of this layout (S is already in the camera frame), so none are read.
"""

from __future__ import annotations

import os

from training.data.sample import SampleSet
from training.data.spin_npz import read_spin_npz


def read_h36m(path: str | os.PathLike, image_root: str | os.PathLike = "") -> SampleSet:
    """Human3.6M samples; `S` is required (it is what the dataset is for)."""
    return read_spin_npz(path, "h36m", image_root, require_3d=True)
