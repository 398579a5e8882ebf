"""Real motion capture as SMPL pose sequences that pose the synthetic bodies, and their perturbations.

Every clip in the mocap folder (`mocap_root()`: $PLANTED_MOCAP_ROOT when set, e.g. the GPU recipe's carried
copy of the training clips, else ../shared/data/mocap beside the checkout) is read with the engine (its units,
up axis and convention detected) and retargeted onto SMPL's skeleton (engine.retarget.transfer.retarget_and_lock,
without foot locking: the contacts below come from the motion itself). `clips.json` lists the clips that train
and the clips held out for evaluation, whole (never frames of a training clip).

A `Clip` is in SMPL's y-up world: rotations (T, 24, 3, 3) parent-relative (the root's relative to the world),
pelvis (T, 3) metres: the pelvis joint's world position, fps: frames per second of the source.
Perturbations: mirroring (left and right swapped, x negated), a speed change (resampled: slerp and linear),
and per-joint noise on the upper body (the legs are left exact so that the contact labels stay the truth).
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
from dataclasses import dataclass

import numpy as np

from engine.body.joints import SMPL_MIRROR
from engine.errors import PlantedError

CLIP_LIST = pathlib.Path(__file__).with_name("clips.json")
MOCAP_ROOT = pathlib.Path(__file__).resolve().parents[3].parent / "shared" / "data" / "mocap"
MOCAP_ROOT_VARIABLE = "PLANTED_MOCAP_ROOT"
# SMPL joints that per-joint noise may touch: spine, neck, head, collars, arms (not the legs or the root).
UPPER_BODY_JOINTS: tuple[int, ...] = (3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23)
_MIRROR = np.diag([-1.0, 1.0, 1.0])


@dataclass(frozen=True, eq=False)
class Clip:
    """An SMPL motion (see the module docstring for units and frames); name: its path in the mocap folder."""

    name: str
    rotations: np.ndarray
    pelvis: np.ndarray
    fps: float

    @property
    def num_frames(self) -> int:
        return len(self.rotations)


def clip_names(split: str) -> list[str]:
    """The clips of a split, "train" or "held_out", as listed in clips.json."""
    listing = json.loads(CLIP_LIST.read_text())
    if split not in ("train", "held_out"):
        raise PlantedError(f"unknown clip split {split!r}: choose 'train' or 'held_out'")
    return list(listing[split])


def mocap_root() -> pathlib.Path:
    """The folder clips.json's paths are relative to: $PLANTED_MOCAP_ROOT when set (read at each call, so a
    process may set it before loading), else MOCAP_ROOT (../shared/data/mocap beside the checkout)."""
    return pathlib.Path(os.environ.get(MOCAP_ROOT_VARIABLE) or MOCAP_ROOT)


def load_clip(name: str, root: str | None = None) -> Clip:
    """A mocap file (path relative to `root`, default `mocap_root()`) retargeted onto SMPL's skeleton; cached per
    process (by the resolved path)."""
    return _load_clip(name, str(root or mocap_root()))


@functools.lru_cache(maxsize=64)
def _load_clip(name: str, root: str) -> Clip:
    from engine.motion.bvh import read_bvh
    from engine.retarget.rigs import builtin_rig
    from engine.retarget.transfer import retarget_and_lock

    path = pathlib.Path(root) / name
    if not path.is_file():
        raise PlantedError(f"mocap clip {path} not found (clips.json names it): is ../shared/data beside the "
                           f"checkout, or ${MOCAP_ROOT_VARIABLE} set to a folder that holds it?")
    result = retarget_and_lock(read_bvh(path), builtin_rig("smpl"), foot_lock=False)
    motion = result.motion
    return Clip(name, motion.rotations.astype(np.float64), motion.root_translation.astype(np.float64),
                float(motion.fps))


def load_clips(split: str, root: str | None = None) -> list[Clip]:
    return [load_clip(name, root) for name in clip_names(split)]


def mirrored(clip: Clip) -> Clip:
    """The clip reflected through the body's sagittal plane (world x -> -x), left and right joints swapped."""
    rotations = _MIRROR @ clip.rotations[:, list(SMPL_MIRROR)] @ _MIRROR
    return Clip(clip.name + "#mirrored", rotations, clip.pelvis * np.array([-1.0, 1.0, 1.0]), clip.fps)


def at_speed(clip: Clip, factor: float) -> Clip:
    """The clip played `factor` times faster, resampled at its own fps (rotations by slerp, pelvis linearly)."""
    from engine.motion.motion import Motion
    from engine.motion.resample import resample_motion
    from engine.retarget.rigs import builtin_rig

    if not factor > 0:
        raise PlantedError(f"speed factor must be positive, got {factor}")
    motion = Motion(builtin_rig("smpl"), clip.rotations, clip.pelvis, clip.fps * factor)
    slower = resample_motion(motion, clip.fps)
    return Clip(f"{clip.name}#x{factor:g}", slower.rotations, slower.root_translation, clip.fps)


def small_rotations(rng: np.random.Generator, count: int, sigma_rad: float) -> np.ndarray:
    """(count, 3, 3) rotations about random axes by angles ~ N(0, sigma) (Rodrigues)."""
    axis_angle = rng.normal(0.0, sigma_rad, (count, 3))
    angle = np.linalg.norm(axis_angle, axis=1, keepdims=True)
    axis = axis_angle / np.maximum(angle, 1e-12)
    k = np.zeros((count, 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k = k - np.swapaxes(k, 1, 2)
    s, c = np.sin(angle)[..., None], np.cos(angle)[..., None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def with_upper_body_noise(rotations: np.ndarray, rng: np.random.Generator, sigma_rad: float) -> np.ndarray:
    """(24, 3, 3) one frame's rotations with each upper-body joint turned by a small random rotation."""
    out = rotations.copy()
    joints = list(UPPER_BODY_JOINTS)
    out[joints] = out[joints] @ small_rotations(rng, len(joints), sigma_rad)
    return out
