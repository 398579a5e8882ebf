"""Leeds Sports Pose (LSP) and LSP-extended (LSPET): real photos with 14 human-annotated 2D joints.

As laid out in ../shared/data/images (see its README): each photo cropped to a square 1.5x its joint box and
resized to 224 x 224, with `joints_crop224.npz` holding the joints in crop pixels (x right, y down).
LSP's third value is 1 when a joint is OCCLUDED (all 14 are labelled); LSPET's is 1 when VISIBLE, and its
unlabelled joints are (0, 0). The reader turns both into `labelled` and `visible` masks.

Terms: both datasets are for research (Flickr photos, no license); they may train and evaluate a model
whose card says so, and are never shipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.body.keypoints import LSP14_NAMES
from engine.errors import PlantedError

DEFAULT_ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "images"
# The standard LSP split: im0001-1000 train, im1001-2000 test. LSPET here is its training part only
# (im02001-10000); its first half fits what is fitted on it (keypoint fusion), its second half measures it.
SPLITS = {"lsp_train": ("lsp", 0, 1000), "lsp_test": ("lsp", 1000, 2000), "lspet_train": ("lspet_train", 0, 8000),
          "lspet_fit": ("lspet_train", 0, 4000), "lspet_eval": ("lspet_train", 4000, 8000)}


@dataclass(frozen=True, eq=False)
class LspSet:
    """N photos: paths (N,), joints (N, 14, 2) crop px (LSP-14 order: LSP14_NAMES), labelled (N, 14) bool,
    visible (N, 14) bool; name: the split."""

    name: str
    paths: list[Path]
    joints: np.ndarray
    labelled: np.ndarray
    visible: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, index) -> "LspSet":
        index = np.arange(len(self))[index]
        return LspSet(self.name, [self.paths[i] for i in index], self.joints[index], self.labelled[index],
                      self.visible[index])

    def image(self, i: int) -> np.ndarray:
        """(224, 224, 3) uint8 RGB photo i."""
        import cv2

        bgr = cv2.imread(str(self.paths[i]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise PlantedError(f"cannot read {self.paths[i]}")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def load_split(split: str, root: str | os.PathLike = DEFAULT_ROOT) -> LspSet:
    """One of SPLITS from `root` (../shared/data/images by default)."""
    if split not in SPLITS:
        raise PlantedError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    folder, start, stop = SPLITS[split]
    base = Path(root) / folder
    labels = base / "joints_crop224.npz"
    if not labels.is_file():
        raise PlantedError(f"{labels} not found: point root at the folder holding lsp/ and lspet_train/")
    with np.load(labels, allow_pickle=False) as data:
        joints = data["joints"][start:stop].astype(np.float64)
        names = data["names"][start:stop].tolist() if "names" in data.files else [
            f"im{i + 1:04d}.jpg" for i in range(start, stop)]
    if folder == "lsp":
        labelled = np.ones(joints.shape[:2], bool)
        visible = joints[..., 2] < 0.5
    else:
        labelled = ~((joints[..., 0] == 0) & (joints[..., 1] == 0))
        visible = labelled & (joints[..., 2] > 0.5)
    return LspSet(split, [base / "images" / n for n in names], joints[..., :2], labelled, visible)


def torso_size(joints: np.ndarray, labelled: np.ndarray | None = None) -> np.ndarray:
    """(N,) the PCK reference length: |left shoulder - right hip| (crop px), as in the LSP benchmark; NaN
    where either joint is unlabelled (such photos cannot be scored)."""
    a, b = LSP14_NAMES.index("left_shoulder"), LSP14_NAMES.index("right_hip")
    size = np.linalg.norm(joints[:, a] - joints[:, b], axis=1)
    if labelled is not None:
        size = np.where(labelled[:, a] & labelled[:, b] & (size > 0), size, np.nan)
    return size


def lsp_samples(split: str, root: str | os.PathLike = DEFAULT_ROOT):
    """A split as 2D-only training samples (training.data.sample.SampleSet): the 14 joints in the superset's
    rows, crop pixels of the 224 x 224 photo, confidence 1 where labelled (occluded joints too: their position
    is annotated); the box is the whole crop. Every 3D, SMPL, contact, side and top label is masked."""
    from training.data.sample import SampleSet
    from training.data.superset import LSP14_TO_SUPERSET, to_superset

    data = load_split(split, root)
    points = np.concatenate([data.joints, data.labelled[..., None].astype(np.float64)], axis=2)
    n = len(data)
    return SampleSet(f"lsp:{split}", data.paths, keypoints_2d=to_superset(points, LSP14_TO_SUPERSET),
                     center=np.full((n, 2), 112.0), scale=np.full(n, 224 / 200.0))
