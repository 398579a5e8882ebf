"""A toy synthetic training set: random bodies whose projected keypoints are drawn as coloured discs.

Each example samples a pose (small random joint rotations about the rest pose, the pelvis turned to face
the camera and yawed a little), a shape, and a weak-perspective camera (s, tx, ty); the body model
(training.body.BodyModel) gives its keypoints in the camera frame (x right, y down, z forward, metres), and
the image is a plain grey background with one disc per keypoint in a fixed colour per keypoint. Labels
come from the same numbers, so the set is exactly learnable: it checks that training, resuming, DDP and
evaluation work end to end, not that a model sees people. Contacts: a sole vertex is in contact when it is
within `CONTACT_BAND_M` of the lowest sole vertex (largest y) and the body's lowest point is a sole.

Used by the tests and by `python -m training.train` (data kind "toy_discs").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from engine.body.joints import SMPL_PARENTS
from training.body import BodyModel
from training.data.example import Example
from training.data.superset import NUM_SUPERSET, SUPERSET_NAMES
from training.geometry import CROP_SCALE_PX, axis_angle_to_rotmat

CONTACT_BAND_M = 0.03
_JOINT_STD_RAD = 0.25
_YAW_STD_RAD = 0.4


def keypoint_colours(count: int) -> np.ndarray:
    """(count, 3) uint8 RGB: distinct hues, alternating brightness, so neighbours differ."""
    hues = (np.arange(count) * 179 // count).astype(np.uint8)
    values = np.where(np.arange(count) % 2 == 0, 255, 150).astype(np.uint8)
    hsv = np.stack([hues, np.full(count, 230, np.uint8), values], axis=1)[None]
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0]


def random_poses(rng: np.random.Generator, count: int) -> torch.Tensor:
    """(count, 24, 3, 3) parent-relative rotations; the root faces the camera (pi about x) with a random yaw."""
    axis_angle = rng.normal(0.0, _JOINT_STD_RAD, (count, len(SMPL_PARENTS), 3))
    rotmats = axis_angle_to_rotmat(torch.from_numpy(axis_angle)).float()
    yaw = rng.normal(0.0, _YAW_STD_RAD, count)
    face = axis_angle_to_rotmat(torch.tensor([math.pi, 0.0, 0.0])).float()
    turn = axis_angle_to_rotmat(torch.from_numpy(np.stack([np.zeros(count), yaw, np.zeros(count)], 1))).float()
    rotmats[:, 0] = face @ turn
    return rotmats


def sole_contacts(vertices: np.ndarray, contact_ids: np.ndarray) -> np.ndarray:
    """(B, Vc) {0, 1}: sole vertices within CONTACT_BAND_M of the lowest one (y down: largest y)."""
    soles = vertices[:, contact_ids, 1]
    lowest_sole = soles.max(axis=1, keepdims=True)
    on_ground = vertices[:, :, 1].max(axis=1, keepdims=True) <= lowest_sole + 1e-6
    return ((soles >= lowest_sole - CONTACT_BAND_M) & on_ground).astype(np.float32)


def draw_discs(points_px: np.ndarray, height: int, width: int, colours: np.ndarray, radius: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB grey image with a disc per (K, 2) pixel point; later keypoints cover earlier ones."""
    image = np.full((height, width, 3), 96, np.uint8)
    for (u, v), colour in zip(points_px, colours, strict=True):
        cv2.circle(image, (int(round(u * 4)), int(round(v * 4))), radius * 4, tuple(int(c) for c in colour), -1,
                   cv2.LINE_AA, shift=2)
    return image


def toy_disc_examples(body: BodyModel, count: int, seed: int = 0, image_size: tuple[int, int] = (256, 192),
                      contact_vertex_ids: Sequence[int] = (), source: str = "toy_discs") -> list[Example]:
    """`count` independent Examples of the toy set (module docstring); image_size (height, width) pixels."""
    rng = np.random.default_rng(seed)
    pose = random_poses(rng, count)
    betas = torch.from_numpy(rng.normal(0.0, 0.7, (count, body.num_betas))).float()
    scale = rng.uniform(0.85, 1.1, count)
    offset = rng.normal(0.0, 0.05, (count, 2))
    keys = [f"{seed}:{i}" for i in range(count)]
    return render_examples(body, pose, betas, scale, offset, keys, image_size, contact_vertex_ids, source)


def toy_disc_sequences(body: BodyModel, num_sequences: int, frames: int, seed: int = 0,
                       image_size: tuple[int, int] = (256, 192), contact_vertex_ids: Sequence[int] = (),
                       source: str = "toy_sequences") -> list[Example]:
    """Sequences for the temporal metrics: each blends one random pose into another over `frames` frames
    (joint axis-angles interpolated linearly), one shape and a slowly drifting camera per sequence.
    Keys are "s<seed>_<sequence>:<frame>" in frame order."""
    rng = np.random.default_rng(seed)
    weights = np.linspace(0.0, 1.0, frames)[:, None, None]
    poses, betas, scales, offsets, keys = [], [], [], [], []
    for s in range(num_sequences):
        ends = rng.normal(0.0, _JOINT_STD_RAD, (2, len(SMPL_PARENTS), 3))
        axis_angle = (1 - weights) * ends[0] + weights * ends[1]
        rotmats = axis_angle_to_rotmat(torch.from_numpy(axis_angle)).float()
        yaw = rng.normal(0.0, _YAW_STD_RAD)
        face = axis_angle_to_rotmat(torch.tensor([math.pi, 0.0, 0.0])).float()
        turn = axis_angle_to_rotmat(torch.tensor([0.0, yaw, 0.0])).float()
        rotmats[:, 0] = face @ turn
        poses.append(rotmats)
        betas.append(torch.from_numpy(np.tile(rng.normal(0.0, 0.7, body.num_betas), (frames, 1))).float())
        scales.append(np.full(frames, rng.uniform(0.85, 1.1)))
        offsets.append(np.linspace(0, 1, frames)[:, None] * rng.normal(0.0, 0.05, 2))
        keys += [f"s{seed}_{s}:{t}" for t in range(frames)]
    return render_examples(body, torch.cat(poses), torch.cat(betas), np.concatenate(scales), np.concatenate(offsets),
                           keys, image_size, contact_vertex_ids, source)


def _posed(body: BodyModel, pose: torch.Tensor, betas: torch.Tensor, chunk: int = 256):
    """Keypoints (N, K, 3) and vertices (N, V, 3) float32 numpy, in chunks (LBS holds a 4x4 per vertex)."""
    keypoints, vertices = [], []
    with torch.no_grad():
        for start in range(0, len(pose), chunk):
            out = body(pose[start:start + chunk], betas[start:start + chunk])
            keypoints.append(out.keypoints.numpy())
            vertices.append(out.vertices.numpy())
    return np.concatenate(keypoints), np.concatenate(vertices)


def render_examples(body: BodyModel, pose: torch.Tensor, betas: torch.Tensor, scale: np.ndarray, offset: np.ndarray,
                    keys: list[str], image_size: tuple[int, int], contact_vertex_ids: Sequence[int],
                    source: str) -> list[Example]:
    """Examples for poses (N, 24, 3, 3) and betas (N, B): the body centred in the crop, then moved by `offset`
    (N, 2) metres; `scale` (N,) multiplies the scale at which 1.8 m fills 80 % of the crop's height."""
    height, width = image_size
    count = len(keys)
    keypoints, vertices = _posed(body, pose, betas)
    scale = 0.8 * height / CROP_SCALE_PX / 1.8 * np.asarray(scale)
    shift = np.asarray(offset) - keypoints[:, :, :2].mean(axis=1)
    cam = np.concatenate([scale[:, None], shift], axis=1).astype(np.float32)
    coords = scale[:, None, None] * (keypoints[:, :, :2] + shift[:, None, :])
    pixels = coords * CROP_SCALE_PX + np.array([width / 2.0, height / 2.0])
    rows = [SUPERSET_NAMES.index(n) for n in body.keypoint_names]
    colours = keypoint_colours(len(rows))
    radius = max(2, round(height / 64))
    ids = np.asarray(contact_vertex_ids, np.int64)
    contacts = sole_contacts(vertices, ids) if len(ids) else None
    examples = []
    for i in range(count):
        kp2d = np.zeros((NUM_SUPERSET, 3), np.float32)
        kp3d = np.zeros((NUM_SUPERSET, 4), np.float32)
        u, v = pixels[i, :, 0], pixels[i, :, 1]
        kp2d[rows, :2], kp2d[rows, 2] = pixels[i], (u >= 0) & (u < width) & (v >= 0) & (v < height)
        kp3d[rows, :3], kp3d[rows, 3] = keypoints[i], 1.0
        examples.append(Example(
            image=draw_discs(pixels[i], height, width, colours, radius), source=source, key=keys[i],
            keypoints_2d=kp2d, keypoints_3d=kp3d, pose_rotmat=pose[i].numpy(), has_pose=True,
            betas=betas[i].numpy(), has_betas=True, cam=cam[i], has_cam=True,
            contact=None if contacts is None else contacts[i], has_contact=contacts is not None,
        ))
    return examples
