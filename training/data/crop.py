"""From a person's box in a full image to the network's crop, labels and all: scale, in-plane rotation, flip.

One affine A (2, 3) takes full-image pixels to crop pixels (cv2.warpAffine's convention, the engine's
crops: engine.capture.crops), composed as

    crop_px = F (s R(theta) (image_px - centre)) + (W / 2, H / 2),   s = H / height

centre (2,) and height: the crop window in image pixels (the window has the crop's aspect W / H);
R(theta) turns the content by theta radians from +x towards +y (clockwise on screen, x right, y down);
F = diag(-1, 1) when flipped (a mirror about the crop's vertical centre line), else the identity.

The labels follow the same steps. 2D keypoints go through A (confidence 0 where a point leaves the crop).
3D labels are in the camera frame (x right, y down, z forward, metres): turning the image about the
optical axis by theta is the rotation Rz(theta) of the camera frame (exact for a crop centred on the
principal point, SPIN's j3d_processing otherwise), so keypoints_3d and the SMPL root rotation are
premultiplied by Rz; a flip is the mirror M = diag(-1, 1, 1) of the camera frame, with left and right
swapped: superset rows by name, SMPL joints by engine.body.joints.SMPL_MIRROR (every rotation R -> M R M),
and the contact vertices' halves (the body model's soles, left first, mirror images of each other).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from engine.body.joints import SMPL_MIRROR
from engine.errors import PlantedError
from engine.rotations import axis_angle_to_matrix
from training.data.example import Example
from training.data.sample import Sample
from training.data.superset import SUPERSET_NAMES

CROP_SIZE: tuple[int, int] = (256, 192)  # (H, W), the model contract's default
SPIN_BOX_PX = 200.0  # SPIN's scale: the box side is 200 * scale pixels
MIRROR = np.diag([-1.0, 1.0, 1.0])


def _mirror_name(name: str) -> str:
    for a, b in (("left", "right"), ("right", "left")):
        if a in name.split("_"):
            return "_".join(b if part == a else part for part in name.split("_"))
    return name


# Row i of a flipped label array is row FLIP_PERMUTATION[i] of the unflipped one.
FLIP_PERMUTATION: np.ndarray = np.array([SUPERSET_NAMES.index(_mirror_name(n)) for n in SUPERSET_NAMES])


@dataclass(frozen=True, eq=False)
class CroppedExample:
    """An Example and the affine (2, 3) that made its crop (full-image px -> crop px), which Example does not
    store; rotation (radians, R(theta) above) and flipped as applied."""

    example: Example
    affine: np.ndarray
    rotation: float = 0.0
    flipped: bool = False


def window_height(box_width: float, box_height: float, size: tuple[int, int] = CROP_SIZE) -> float:
    """The height (px) of the smallest window of the crop's aspect that holds a box_width x box_height box."""
    h, w = size
    return float(max(box_height, box_width * h / w))


def spin_window(center: np.ndarray, scale: float, size: tuple[int, int] = CROP_SIZE) -> tuple[np.ndarray, float]:
    """SPIN's box (centre px, side 200 * scale px) -> the window (centre px, height px) that holds it."""
    if not scale > 0:
        raise PlantedError(f"the sample's box scale must be positive, got {scale}")
    side = SPIN_BOX_PX * float(scale)
    return np.asarray(center, np.float64), window_height(side, side, size)


def keypoint_window(keypoints_2d: np.ndarray, size: tuple[int, int] = CROP_SIZE, padding: float = 1.3,
                    min_confidence: float = 1e-6, min_height_px: float = 32.0) -> tuple[np.ndarray, float]:
    """(K, 3) px + confidence -> the window (centre px, height px) around the points at least min_confidence
    sure, grown to the crop's aspect and by `padding` (joints are tighter than a person's box: the head and
    the feet reach past them)."""
    points = keypoints_2d[(keypoints_2d[:, 2] >= min_confidence) & np.isfinite(keypoints_2d[:, :2]).all(1), :2]
    if len(points) == 0:
        raise PlantedError("a person without any labelled keypoint cannot be cropped")
    low, high = points.min(axis=0), points.max(axis=0)
    height = window_height(*(high - low), size) * padding
    return (low + high) / 2, max(height, min_height_px)


def crop_affine(center: np.ndarray, height: float, size: tuple[int, int] = CROP_SIZE, rotation: float = 0.0,
                flip: bool = False) -> np.ndarray:
    """(2, 3) image px -> crop px for a window (centre px, height px), rotation radians, flip (module docstring)."""
    h, w = size
    s = h / float(height)
    c, si = np.cos(rotation), np.sin(rotation)
    linear = s * np.array([[c, -si], [si, c]])
    if flip:
        linear = np.diag([-1.0, 1.0]) @ linear
    affine = np.zeros((2, 3))
    affine[:, :2] = linear
    affine[:, 2] = np.array([w / 2.0, h / 2.0]) - linear @ np.asarray(center, np.float64)
    return affine


def apply_affine(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """(..., 2) px -> (..., 2) px through a (2, 3) affine."""
    return points @ affine[:, :2].T + affine[:, 2]


def warp_image(image: np.ndarray, affine: np.ndarray, size: tuple[int, int] = CROP_SIZE) -> np.ndarray:
    """The crop (H, W, 3) uint8 of image (any size, uint8 RGB), black outside the image.

    A window much larger than the crop is first shrunk with area averaging (warpAffine's bilinear sampling
    alone would alias: a 1,500 px person into 256 px reads one pixel in six)."""
    h, w = size
    shrink = float(np.sqrt(abs(np.linalg.det(affine[:, :2]))))
    if shrink < 0.5:
        factor = 1.0 / (2 * shrink)  # keep twice the crop's resolution, then sample bilinearly
        small = cv2.resize(image, (max(1, round(image.shape[1] / factor)), max(1, round(image.shape[0] / factor))),
                           interpolation=cv2.INTER_AREA)
        sx, sy = small.shape[1] / image.shape[1], small.shape[0] / image.shape[0]
        # cv2.resize's pixel centres: image_px = (small_px + 0.5) / s - 0.5, per axis
        to_image = np.array([[1 / sx, 0, 0.5 / sx - 0.5], [0, 1 / sy, 0.5 / sy - 0.5], [0, 0, 1]])
        affine = (np.vstack([affine, [0, 0, 1]]) @ to_image)[:2]
        image = small
    return cv2.warpAffine(image, affine, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def rotation_z(rotation: float) -> np.ndarray:
    """(3, 3) the camera-frame rotation about z (the optical axis) matching R(theta) on the image."""
    c, s = np.cos(rotation), np.sin(rotation)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def crop_keypoints_2d(keypoints: np.ndarray, affine: np.ndarray, size: tuple[int, int], flip: bool) -> np.ndarray:
    """(K, 3) image px + confidence -> (K, 3) crop px + confidence: mapped, rows mirrored when flipped,
    confidence 0 where a point falls outside the crop (or is not finite)."""
    h, w = size
    out = np.zeros_like(keypoints, dtype=np.float32)
    xy = apply_affine(keypoints[:, :2].astype(np.float64), affine)
    inside = np.isfinite(xy).all(axis=1) & (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    out[:, :2] = np.where(np.isfinite(xy), xy, 0.0)
    out[:, 2] = np.where(inside, keypoints[:, 2], 0.0)
    return out[FLIP_PERMUTATION] if flip else out


def transform_keypoints_3d(keypoints: np.ndarray, rotation: float, flip: bool) -> np.ndarray:
    """(K, 4) camera-frame metres + confidence -> rotated about the optical axis, then mirrored (rows too)."""
    linear = rotation_z(rotation)
    if flip:
        linear = MIRROR @ linear
    out = keypoints.astype(np.float32).copy()
    out[:, :3] = keypoints[:, :3] @ linear.T
    return out[FLIP_PERMUTATION] if flip else out


def transform_pose(pose_rotmat: np.ndarray, rotation: float, flip: bool) -> np.ndarray:
    """(24, 3, 3) SMPL rotations (root's relative to the camera) -> the pose of the turned, mirrored body."""
    out = pose_rotmat.astype(np.float64).copy()
    out[0] = rotation_z(rotation) @ out[0]
    if flip:
        out = MIRROR @ out[list(SMPL_MIRROR)] @ MIRROR
    return out.astype(np.float32)


def flip_contact(contact: np.ndarray | None) -> np.ndarray | None:
    """(Vc,) per contact vertex (left sole's, then right's) -> the mirrored body's: halves swapped."""
    if contact is None:
        return None
    if len(contact) % 2:
        raise PlantedError(f"contact labels must hold two equal soles (left, right), got {len(contact)} vertices")
    half = len(contact) // 2
    return np.concatenate([contact[half:], contact[:half]])


def crop_example(image: np.ndarray, center: np.ndarray, height: float, *, source: str, key: str,
                 keypoints_2d: np.ndarray, keypoints_3d: np.ndarray | None = None,
                 pose_rotmat: np.ndarray | None = None, betas: np.ndarray | None = None,
                 contact: np.ndarray | None = None, has_contact: bool = False, weight: float = 1.0,
                 size: tuple[int, int] = CROP_SIZE, rotation: float = 0.0, flip: bool = False) -> CroppedExample:
    """A full image (any size, uint8 RGB) and its labels (full-image px; camera frame) -> the crop's Example.

    center (2,) px, height px: the window (scale it to zoom out); rotation radians; flip (module docstring).
    None for pose_rotmat / betas / keypoints_3d means "no such label" (has_* False, confidence 0)."""
    affine = crop_affine(center, height, size, rotation, flip)
    labels = {"keypoints_2d": crop_keypoints_2d(np.asarray(keypoints_2d, np.float64), affine, size, flip)}
    if keypoints_3d is not None:
        labels["keypoints_3d"] = transform_keypoints_3d(np.asarray(keypoints_3d, np.float64), rotation, flip)
    if pose_rotmat is not None:
        labels.update(pose_rotmat=transform_pose(np.asarray(pose_rotmat), rotation, flip), has_pose=True)
    if betas is not None:
        labels.update(betas=np.asarray(betas, np.float32)[:10], has_betas=True)
    if contact is not None:
        contact = np.asarray(contact, np.float32)
        labels.update(contact=flip_contact(contact) if flip else contact, has_contact=bool(has_contact))
    example = Example(image=warp_image(image, affine, size), source=source, key=key, weight=float(weight), **labels)
    example = replace(example, affine=np.asarray(affine, np.float32))
    return CroppedExample(example=example, affine=affine, rotation=float(rotation), flipped=bool(flip))


def crop_sample(sample: Sample, image: np.ndarray, size: tuple[int, int] = CROP_SIZE, scale: float = 1.0,
                rotation: float = 0.0, flip: bool = False, shift: tuple[float, float] = (0.0, 0.0),
                key: str | None = None) -> CroppedExample:
    """A reader's Sample (its image already read, uint8 RGB) -> its crop: SPIN's box made the window, times
    `scale` (> 1 zooms out), moved by `shift` (shares of the window's height, x and y)."""
    center, height = spin_window(sample.center, sample.scale, size)
    height *= float(scale)
    center = center + np.asarray(shift, np.float64) * height
    pose = axis_angle_to_matrix(np.asarray(sample.pose, np.float64).reshape(24, 3)) if sample.has_pose else None
    return crop_example(
        image, center, height, source=sample.dataset, key=key or sample.image, keypoints_2d=sample.keypoints_2d,
        keypoints_3d=sample.keypoints_3d, pose_rotmat=pose, betas=sample.betas if sample.has_betas else None,
        contact=sample.contact, has_contact=sample.has_contact, weight=sample.weight, size=size,
        rotation=rotation, flip=flip)
