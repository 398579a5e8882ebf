"""MPI-INF-3DHP: the preprocessed npz (SPIN's layout, training.data.spin_npz) and a sequence's annot.mat.

annot.mat (MATLAB v5, read with scipy.io.loadmat) of one S<i>/Seq<j>: `annot2` and `annot3` are cells with
one entry per camera (14), each (F, 28 * 2) image pixels and (F, 28 * 3) millimetres in that camera's frame
(x right, y down, z forward), in MPI_INF_3DHP28_NAMES' order; `cameras` lists the camera ids of the cells.
The reader returns 2D keypoints (px) and 3D keypoints in METRES (annot3 / 1000) for the 15 joints that the
superset shares (limbs, neck, head top, pelvis), confidence 1 (every joint is annotated), and the box from
the 2D keypoints. The image of frame j (0-based) of camera c is
<sequence>/imageFrames/video_<c>/frame_<j+1, 6 digits>.jpg, as SPIN's frame extraction names them.
MPI-INF-3DHP has no SMPL or contact labels; the npz's SMPL fits (SPIN's) come with has_smpl.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from training.data.files import DatasetFileError, require_file
from training.data.sample import SampleSet
from training.data.spin_npz import read_spin_npz
from training.data.superset import MPI_INF_3DHP28_TO_SUPERSET, to_superset

NUM_JOINTS = 28


def read_mpi_inf_3dhp_npz(path: str | os.PathLike, image_root: str | os.PathLike = "") -> SampleSet:
    return read_spin_npz(path, "mpi_inf_3dhp", image_root, require_3d=True)


def _cells(mat: dict, key: str, width: int, path) -> list[np.ndarray]:
    if key not in mat:
        raise DatasetFileError(f"{path}: key {key!r} is missing (found: {', '.join(k for k in mat if k[0] != '_')})")
    cells = [np.asarray(c, dtype=np.float64) for c in np.asarray(mat[key], dtype=object).ravel()]
    for i, cell in enumerate(cells):
        if cell.ndim != 2 or cell.shape[1] != width:
            raise DatasetFileError(f"{path}: key {key!r} camera {i} has shape {cell.shape}, expected (F, {width})")
    return cells


def _boxes(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, J, 2) px -> centre (N, 2) and SPIN scale (N,) of the keypoints' bounding box (longer side / 200)."""
    low, high = points.min(axis=1), points.max(axis=1)
    return (low + high) / 2, (high - low).max(axis=1) / 200.0


def read_mpi_inf_3dhp_annot(path: str | os.PathLike, sequence: str, cameras=None, every: int = 1,
                            image_root: str | os.PathLike = "") -> SampleSet:
    """Samples of one sequence's annot.mat: every `every`-th frame of each camera in `cameras` (all: None).

    sequence: the folder relative to image_root, e.g. "S1/Seq1" (it prefixes the image paths)."""
    import scipy.io

    path = require_file(path, "an MPI-INF-3DHP annot.mat")
    try:
        mat = scipy.io.loadmat(str(path))
    except (ValueError, OSError, TypeError) as err:
        raise DatasetFileError(f"{path}: not a readable MATLAB file ({err}); is the file complete?") from None
    annot2 = _cells(mat, "annot2", NUM_JOINTS * 2, path)
    annot3 = _cells(mat, "annot3", NUM_JOINTS * 3, path)
    ids = np.asarray(mat.get("cameras", np.arange(len(annot2)))).ravel().astype(int)
    if not len(annot2) == len(annot3) == len(ids):
        raise DatasetFileError(f"{path}: keys 'annot2', 'annot3', 'cameras' list {len(annot2)}, {len(annot3)}, "
                               f"{len(ids)} cameras; they must agree")
    images, kp2d, kp3d = [], [], []
    for cam, two, three in zip(ids, annot2, annot3, strict=True):
        if cameras is not None and cam not in cameras:
            continue
        if len(two) != len(three):
            raise DatasetFileError(f"{path}: camera {cam}: 'annot2' has {len(two)} frames, 'annot3' {len(three)}")
        frames = np.arange(0, len(two), every)
        ones = np.ones((len(frames), NUM_JOINTS, 1))
        kp2d.append(np.concatenate([two[frames].reshape(-1, NUM_JOINTS, 2), ones], axis=2))
        kp3d.append(np.concatenate([three[frames].reshape(-1, NUM_JOINTS, 3) / 1000.0, ones], axis=2))
        images += [Path(image_root) / sequence / "imageFrames" / f"video_{cam}" / f"frame_{j + 1:06d}.jpg"
                   for j in frames]
    if not images:
        raise DatasetFileError(f"{path}: no frames for cameras {cameras} (the file has cameras {ids.tolist()})")
    kp2d, kp3d = np.concatenate(kp2d), np.concatenate(kp3d)
    center, scale = _boxes(kp2d[..., :2])
    return SampleSet("mpi_inf_3dhp", images, keypoints_2d=to_superset(kp2d, MPI_INF_3DHP28_TO_SUPERSET),
                     keypoints_3d=to_superset(kp3d, MPI_INF_3DHP28_TO_SUPERSET), center=center, scale=scale)
