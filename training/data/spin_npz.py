"""The preprocessed .npz layout SPIN and VIBE ship for Human3.6M, MPI-INF-3DHP and the 2D datasets.

Keys (N samples): imgname (N,) str, the image path under the dataset's image folder; center (N, 2) px;
scale (N,) with the box side = 200 * scale px; part (N, 24, 3): 2D keypoints in image pixels + visibility,
in SPIN's 24 ground-truth joints (training.data.superset.SPIN24_NAMES); optional S (N, 24, 4): 3D joints +
confidence, metres, camera frame (x right, y down, z forward), SPIN's order again; optional pose (N, 72)
SMPL axis-angle (radians) and shape (N, 10) betas, with optional has_smpl (N,) (MPI-INF-3DHP's fits:
1 where the fit is kept); other keys (openpose, maskname, partname, gender) are not read.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from training.data.files import DatasetFileError, field, load_npz
from training.data.sample import SampleSet
from training.data.superset import SPIN24_TO_SUPERSET, to_superset

# No person's joint lies 20 m from the camera in these datasets; a larger value is millimetres.
_MAX_METRES = 20.0


def read_spin_npz(path: str | os.PathLike, dataset: str, image_root: str | os.PathLike = "",
                  require_3d: bool = False) -> SampleSet:
    """Samples from a SPIN-layout npz; image: image_root / imgname. require_3d: S must be present."""
    data = load_npz(path, f"a {dataset} .npz in SPIN's layout")
    names = field(data, "imgname", path, (None,), "US")
    n = len(names)
    columns = {
        "center": field(data, "center", path, (None, 2), length=n).astype(np.float64),
        "scale": field(data, "scale", path, (None,), length=n).astype(np.float64),
        "keypoints_2d": to_superset(field(data, "part", path, (None, 24, 3), length=n), SPIN24_TO_SUPERSET),
    }
    if "S" in data or require_3d:
        joints = field(data, "S", path, (None, 24, 4), length=n).astype(np.float64)
        labelled = joints[..., 3] > 0
        if labelled.any() and np.abs(joints[..., :3][labelled]).max() > _MAX_METRES:
            raise DatasetFileError(f"{path}: key 'S' holds values up to {np.abs(joints[..., :3]).max():.0f}: "
                                   "millimetres, not metres; divide S[..., :3] by 1000 (SPIN's layout is metres)")
        columns["keypoints_3d"] = to_superset(joints, SPIN24_TO_SUPERSET)
    if "pose" in data:
        columns["pose"] = field(data, "pose", path, (None, 72), length=n).astype(np.float64)
        columns["betas"] = field(data, "shape", path, (None, 10), length=n).astype(np.float64)
        has = (field(data, "has_smpl", path, (None,), "fiub", length=n) > 0) if "has_smpl" in data else np.ones(n, bool)
        columns["has_pose"] = columns["has_betas"] = has
    names = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names.tolist()]
    return SampleSet(dataset, [Path(image_root) / name for name in names], **columns)
