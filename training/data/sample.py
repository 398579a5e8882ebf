"""One training sample of a real dataset, with a mask for every label, and columns of many samples.

Every reader returns a `SampleSet`: per-field arrays over N samples, from which `set[i]` builds a `Sample`.
Keypoints are in the superset's order (training.data.superset.SUPERSET_NAMES); a keypoint's confidence 0
means "no label". Which labels a sample has:
- keypoints_2d (K, 3): front 2D keypoints, image pixels (x right, y down, of the full image, not a crop) +
  confidence; the crop is made later from `center` and `scale`.
- keypoints_3d (K, 4): metres, camera frame (x right, y down, z forward) + confidence. The side and top 2D
  labels of L_CVF are computed from these (training.losses.cvf.view_targets), so a sample with 3D keypoints
  has them and one without has neither.
- pose (72,) SMPL axis-angle, radians, SMPL's joint order, the root rotation relative to the camera;
  betas (10,); each with has_pose / has_betas.
- smpl_joints_3d (24, 3): SMPL's joints in metres in the camera frame (3DPW), with has_smpl_joints.
- contact (Vc,) in {0, 1}: no real dataset here has contact labels; has_contact is False for all of them.
- frame: the frame index in the video `image` names (AIST++), -1 for a photo or an extracted frame.
- center (2,) px and scale: the person's box as SPIN stores it (centre, side = 200 * scale px).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.errors import PlantedError
from engine.rotations import axis_angle_to_matrix
from training.data.superset import NUM_SUPERSET, SUPERSET30_NAMES, select


@dataclass(frozen=True, eq=False)
class Sample:
    """One person in one image; see the module docstring for every field's units and frame."""

    dataset: str
    image: str
    keypoints_2d: np.ndarray = field(default_factory=lambda: np.zeros((NUM_SUPERSET, 3)))
    keypoints_3d: np.ndarray = field(default_factory=lambda: np.zeros((NUM_SUPERSET, 4)))
    center: np.ndarray = field(default_factory=lambda: np.zeros(2))
    scale: float = 0.0
    pose: np.ndarray = field(default_factory=lambda: np.zeros(72))
    has_pose: bool = False
    betas: np.ndarray = field(default_factory=lambda: np.zeros(10))
    has_betas: bool = False
    smpl_joints_3d: np.ndarray = field(default_factory=lambda: np.zeros((24, 3)))
    has_smpl_joints: bool = False
    contact: np.ndarray | None = None
    has_contact: bool = False
    weight: float = 1.0
    frame: int = -1

    @property
    def has_keypoints_2d(self) -> bool:
        return bool((self.keypoints_2d[:, 2] > 0).any())

    @property
    def has_keypoints_3d(self) -> bool:
        return bool((self.keypoints_3d[:, 3] > 0).any())


# Per-sample fields a SampleSet may hold as columns (absent columns take Sample's defaults).
COLUMNS = ("keypoints_2d", "keypoints_3d", "center", "scale", "pose", "has_pose", "betas", "has_betas",
           "smpl_joints_3d", "has_smpl_joints", "weight", "frame")


class SampleSet:
    """N samples of one dataset as columns: images (N,) and any of COLUMNS, each (N, ...)."""

    def __init__(self, dataset: str, images, **columns: np.ndarray) -> None:
        unknown = set(columns) - set(COLUMNS)
        if unknown:
            raise PlantedError(f"unknown sample fields {sorted(unknown)}: choose from {COLUMNS}")
        self.dataset = dataset
        self.images = [str(i) for i in images]
        for name, value in columns.items():
            if len(value) != len(self.images):
                raise PlantedError(f"{dataset}: column {name} has {len(value)} rows for {len(self.images)} images")
        self.columns = columns

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> Sample:
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample {i} of {len(self)}")
        values = {k: v[i] for k, v in self.columns.items()}
        for flag in ("has_pose", "has_betas", "has_smpl_joints"):
            if flag in values:
                values[flag] = bool(values[flag])
        for number in ("scale", "weight"):
            if number in values:
                values[number] = float(values[number])
        if "frame" in values:
            values["frame"] = int(values["frame"])
        return Sample(self.dataset, self.images[i], **values)


def collate(samples, keypoint_names=SUPERSET30_NAMES) -> dict[str, np.ndarray]:
    """A batch of the keys training.losses reads (`gt_*`, `has_*`), float32 numpy, plus `weight` (B,).

    keypoint_names: the network's keypoint set (its rows are picked from the superset by name). Front 2D
    keypoints stay in the pixels the samples carry (crop them first). gt_contact is present only when
    every sample has a contact array (real datasets have none: the key is then left out, which the
    losses read as "no contact term").
    """
    samples = list(samples)
    kp2d = select(np.stack([s.keypoints_2d for s in samples]), keypoint_names)
    kp3d = select(np.stack([s.keypoints_3d for s in samples]), keypoint_names)
    pose = np.stack([s.pose for s in samples]).reshape(len(samples), 24, 3)
    batch = {
        "gt_keypoints_2d": kp2d.astype(np.float32), "gt_keypoints_3d": kp3d.astype(np.float32),
        "gt_pose_rotmat": axis_angle_to_matrix(pose).astype(np.float32),
        "has_pose": np.array([s.has_pose for s in samples]),
        "gt_betas": np.stack([s.betas for s in samples]).astype(np.float32),
        "has_betas": np.array([s.has_betas for s in samples]),
        "weight": np.array([s.weight for s in samples], np.float32),
    }
    if all(s.contact is not None for s in samples):
        batch["gt_contact"] = np.stack([s.contact for s in samples]).astype(np.float32)
        batch["has_contact"] = np.array([s.has_contact for s in samples])
    return batch
