"""One training example as the network sees it: a crop and its labels in the crop, for synthetic and real samples.

Every source of training data (synthetic renders, real photographs, pseudo-labelled video frames, the readers
of real datasets once cropped) ends in an `Example`, and shards store Examples; `examples_to_batch` turns a
list of them into the tensors the network and `training.losses` take. Fields and units:

- image (H, W, 3) uint8 RGB: the network's input crop (256 x 192 for the ViT; the model's own input size
  for other backbones).
- keypoints_2d (K, 3): front 2D keypoints in CROP PIXELS (x right, y down, origin at the crop's top-left)
  plus a confidence in [0, 1] (0 = no label). K and the order are the superset's
  (training.data.superset.SUPERSET_NAMES); `examples_to_batch` picks the network's set by name.
- keypoints_3d (K, 4): metres in the camera frame (x right, y down, z forward) plus a confidence.
- pose_rotmat (24, 3, 3): SMPL's parent-relative rotations, the root's relative to the camera frame;
  has_pose. betas (10,); has_betas.
- contact (Vc,) in {0, 1} per contact vertex (the body model's soles, left first); has_contact.
- cam (3,): the weak-perspective camera (s, tx, ty) that maps the camera-frame body into crop coordinates
  (training.geometry), where known (synthetic); has_cam.
- affine (2, 3): the crop's affine, full-image pixels -> crop pixels, where known (None otherwise); for a
  synthetic render the "full image" is its virtual camera's, principal point at (0, 0).
- weight: the example's weight in every loss term (pseudo-labels carry their confidence here).
- source: the dataset or generator name; key: an identifier unique within the source (clip and frame,
  image name), so that a held-out list can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from engine.model_contract import IMAGENET_MEAN, IMAGENET_STD
from training.data.superset import NUM_SUPERSET, select
from training.geometry import CROP_SCALE_PX

NUM_SMPL_JOINTS = 24


@dataclass(frozen=True, eq=False)
class Example:
    """One person in one crop; see the module docstring for every field's units and frame."""

    image: np.ndarray
    source: str
    key: str
    keypoints_2d: np.ndarray = field(default_factory=lambda: np.zeros((NUM_SUPERSET, 3), np.float32))
    keypoints_3d: np.ndarray = field(default_factory=lambda: np.zeros((NUM_SUPERSET, 4), np.float32))
    pose_rotmat: np.ndarray = field(default_factory=lambda: np.tile(np.eye(3, dtype=np.float32),
                                                                    (NUM_SMPL_JOINTS, 1, 1)))
    has_pose: bool = False
    betas: np.ndarray = field(default_factory=lambda: np.zeros(10, np.float32))
    has_betas: bool = False
    contact: np.ndarray | None = None
    has_contact: bool = False
    cam: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))
    has_cam: bool = False
    weight: float = 1.0
    affine: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8, got {self.image.shape} {self.image.dtype}")
        if self.keypoints_2d.shape != (NUM_SUPERSET, 3):
            raise ValueError(f"keypoints_2d must be ({NUM_SUPERSET}, 3), got {self.keypoints_2d.shape}")
        if self.keypoints_3d.shape != (NUM_SUPERSET, 4):
            raise ValueError(f"keypoints_3d must be ({NUM_SUPERSET}, 4), got {self.keypoints_3d.shape}")


def normalise_images(images: np.ndarray) -> torch.Tensor:
    """(B, H, W, 3) uint8 RGB -> (B, 3, H, W) float32 normalised as the model contract says."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    pixels = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    return (pixels - mean) / std


def crop_pixels_to_coords(keypoints: np.ndarray, height: int, width: int) -> np.ndarray:
    """(..., 2) crop pixels -> crop coordinates (about the crop centre, divided by 128 px; training.geometry)."""
    return (keypoints - np.array([width / 2.0, height / 2.0])) / CROP_SCALE_PX


def examples_to_batch(examples, keypoint_names) -> dict[str, torch.Tensor]:
    """A batch for the network and `training.losses.compute_loss`: `image` plus the `gt_*` / `has_*` keys.

    keypoint_names: the network's keypoint set (its rows are picked from the superset by name). The 2D
    keypoints become crop coordinates. gt_contact is present when any example has a contact array (zeros and
    has_contact False for the others).
    `weight` (B,) and `gt_cam` / `has_cam` come along for the training loop.
    """
    examples = list(examples)
    images = np.stack([e.image for e in examples])
    height, width = images.shape[1:3]
    kp2d = select(np.stack([e.keypoints_2d for e in examples]), keypoint_names).astype(np.float32)
    kp2d[..., :2] = crop_pixels_to_coords(kp2d[..., :2], height, width)
    kp3d = select(np.stack([e.keypoints_3d for e in examples]), keypoint_names).astype(np.float32)

    def stacked(name: str, dtype=np.float32) -> torch.Tensor:
        return torch.from_numpy(np.stack([np.asarray(getattr(e, name), dtype) for e in examples]))

    batch = {
        "image": normalise_images(images),
        "gt_keypoints_2d": torch.from_numpy(kp2d), "gt_keypoints_3d": torch.from_numpy(kp3d),
        "gt_pose_rotmat": stacked("pose_rotmat"), "has_pose": stacked("has_pose", bool),
        "gt_betas": stacked("betas"), "has_betas": stacked("has_betas", bool),
        "gt_cam": stacked("cam"), "has_cam": stacked("has_cam", bool),
        "weight": stacked("weight"),
    }
    labelled = [e.contact for e in examples if e.contact is not None]
    if labelled:  # a mixed batch: examples without contact labels get zeros and has_contact False
        width = len(labelled[0])
        batch["gt_contact"] = torch.from_numpy(np.stack([
            np.zeros(width, np.float32) if e.contact is None else np.asarray(e.contact, np.float32)
            for e in examples]))
        batch["has_contact"] = torch.tensor([e.contact is not None and e.has_contact for e in examples])
    return batch
