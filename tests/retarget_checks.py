"""What a retarget must keep, measured: bone directions, the root path, feet on the floor, foot sliding.

Shared by tests/test_retarget_files.py and scripts/bench/retarget.py (no tests here). Every measure is
over the source's planted frames where it concerns feet: contacts belong to the performance.
World y up, metres; angles in degrees.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

import numpy as np

from engine.motion.kinematics import world_transforms
from engine.motion.motion import Motion
from engine.retarget.contacts import FOOT_POINT_SIDE, foot_speeds, ground_levels, planted_mask
from engine.retarget.metrics import foot_sliding_mm
from engine.retarget.transfer import RetargetResult

MOCAP = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap"
BVH_FILES = sorted(MOCAP.glob("*/*.bvh"))

# Bone groups (SMPL joint from -> to) whose world directions must agree; "spine" runs from the lowest spine
# joint both maps have to the chest (spine3; else the highest spine joint, the neck or the head).
BONES: dict[str, tuple[tuple[str, str], ...]] = {
    "hip line": (("right_hip", "left_hip"),),
    "thighs": (("left_hip", "left_knee"), ("right_hip", "right_knee")),
    "shins": (("left_knee", "left_ankle"), ("right_knee", "right_ankle")),
    "upper arms": (("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow")),
    "forearms": (("left_elbow", "left_wrist"), ("right_elbow", "right_wrist")),
}
FEET = (("left_ankle", "left_foot"), ("right_ankle", "right_foot"))
ON_FLOOR_M = 0.01


@dataclass(frozen=True)
class RetargetCheck:
    """direction_deg: bone group -> the largest angle (degrees) between source and target on any frame;
    root_path_pct: largest horizontal distance between the target's pelvis path (retargeted, before the
    foot lock lowers it where a leg cannot reach) and the source's scaled one, in % of the scaled path's
    extent (or of the leg length, for a motion that stays put), and the same for its height after one
    offset; floor_cm: over the frames where the source's foot is on the floor (a planted heel or toe within
    1 cm of its ground level), the largest height (cm) of the target's same point (the lower, if both)
    above its ground; fs_before_mm / fs_after_mm: foot
    sliding over those frames before and after locking; planted_frames: how many such frames."""

    direction_deg: dict[str, float]
    root_path_pct: float
    floor_cm: float
    fs_before_mm: float
    fs_after_mm: float
    planted_frames: int


def _angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.sum(a * b, axis=-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def direction_errors(source: Motion, result: RetargetResult, frames: np.ndarray) -> dict[str, float]:
    """Bone group -> largest angle (degrees) over `frames` between the source's and the target's directions.

    Feet: the ankle-to-toe direction relative to its pitch in the pose the bones were aligned in (rigs put
    their ankle and ball joints at different heights: a foot flat on the floor points 20 degrees down on
    one rig and 35 on another), i.e. the foot's forward axis carried by its rotation.
    """
    src_idx = result.source_map.indices(source.skeleton)
    tgt_idx = result.target_map.indices(result.motion.skeleton)
    shared = [n for n in src_idx if n in tgt_idx]
    src = world_transforms(Motion(source.skeleton, source.rotations[frames], source.root_translation[frames],
                                  source.fps)).positions
    tgt_motion = result.unlocked
    tgt = world_transforms(Motion(tgt_motion.skeleton, tgt_motion.rotations[frames],
                                  tgt_motion.root_translation[frames], tgt_motion.fps)).positions
    out = {}
    for group, bones in BONES.items():
        errs = [_angles(src[:, src_idx[b]] - src[:, src_idx[a]], tgt[:, tgt_idx[b]] - tgt[:, tgt_idx[a]])
                for a, b in bones if a in shared and b in shared]
        out[group] = float(np.max(errs)) if errs else float("nan")
    lows = [n for n in ("spine1", "spine2", "spine3") if n in shared]
    tops = [n for n in ("spine3", "spine2", "neck", "head") if n in shared and n not in lows[:1]]
    if lows and tops:
        a, b = lows[0], tops[0]
        out["spine"] = float(np.max(_angles(src[:, src_idx[b]] - src[:, src_idx[a]],
                                            tgt[:, tgt_idx[b]] - tgt[:, tgt_idx[a]])))
    out["feet"] = _foot_errors(source, result, frames, src_idx, tgt_idx, shared)
    return out


def _foot_errors(source, result, frames, src_idx, tgt_idx, shared) -> float:
    from engine.motion.kinematics import forward_kinematics, rest_world_transforms
    from engine.retarget.alignment import pose_at

    errs = []
    ref_pos, ref_rot = pose_at(source, result.reference)
    tgt_rest = rest_world_transforms(result.motion.skeleton)
    src_w = forward_kinematics(source.skeleton, source.rotations[frames], source.root_translation[frames]).rotations
    tgt = result.unlocked
    tgt_w = forward_kinematics(tgt.skeleton, tgt.rotations[frames], tgt.root_translation[frames]).rotations
    for ankle, toe in FEET:
        if ankle not in shared or toe not in shared:
            continue
        s, t = src_idx[ankle], tgt_idx[ankle]
        s_dir = ref_pos[src_idx[toe]] - ref_pos[s]
        t_dir = tgt_rest.positions[0, tgt_idx[toe]] - tgt_rest.positions[0, t]
        s_dir[1] = t_dir[1] = 0.0  # the forward axis along the ground in the aligned poses
        s_now = src_w[:, s] @ (ref_rot[s].T @ s_dir)
        t_now = tgt_w[:, t] @ (tgt_rest.rotations[0, t].T @ t_dir)
        errs.append(_angles(s_now, t_now).max())
    return float(max(errs)) if errs else float("nan")


def source_planted(result: RetargetResult, fps: float) -> np.ndarray:
    """(T, 4) bool: the source's planted heel/toe frames (its contacts, hysteresis, a minimum duration)."""
    return planted_mask(result.contacts.points, 0.6, 0.4, min_frames=int(round(0.06 * fps)))


def foot_points(motion: Motion, index: dict[str, int]) -> np.ndarray:
    joints = [index[n] if n in index else index[n.replace("foot", "ankle")]
              for n in ("left_ankle", "left_foot", "right_ankle", "right_foot")]
    return world_transforms(motion).positions[:, joints]


def check(source: Motion, result: RetargetResult, frames: np.ndarray | None = None) -> RetargetCheck:
    """Every measure of RetargetCheck for one retarget (directions over `frames`, default all)."""
    frames = np.arange(source.num_frames) if frames is None else frames
    directions = direction_errors(source, result, frames)
    src_idx = result.source_map.indices(source.skeleton)
    tgt_idx = result.target_map.indices(result.motion.skeleton)
    src_pelvis = world_transforms(source).positions[:, src_idx["pelvis"]] * result.root_scale
    tgt_pelvis = world_transforms(result.unlocked).positions[:, tgt_idx["pelvis"]]
    from engine.retarget.retarget import leg_length

    scale_m = max(float(np.ptp(src_pelvis[:, [0, 2]], axis=0).max()), leg_length(result.motion.skeleton, tgt_idx))
    horizontal = np.linalg.norm(tgt_pelvis[:, [0, 2]] - src_pelvis[:, [0, 2]], axis=-1).max()
    rise = tgt_pelvis[:, 1] - src_pelvis[:, 1]
    vertical = np.abs(rise - np.median(rise)).max()
    root_pct = 100.0 * max(horizontal, vertical) / scale_m

    planted = source_planted(result, source.fps)
    before, after = foot_points(result.unlocked, tgt_idx), foot_points(result.motion, tgt_idx)
    ground = ground_levels(*foot_speeds(after, source.fps))
    src_feet = foot_points(source, src_idx)
    src_lift = (src_feet[..., 1] - ground_levels(*foot_speeds(src_feet, source.fps))[None]) * result.root_scale
    tgt_lift = after[..., 1] - ground[None]
    floor = 0.0
    for side in range(2):
        cols = np.flatnonzero(FOOT_POINT_SIDE == side)
        # The source's foot is on the floor: a planted heel or toe within ON_FLOOR_M of its ground level.
        resting = planted[:, cols] & (src_lift[:, cols] < ON_FLOOR_M)
        on_floor = resting.any(axis=1)
        if on_floor.any():
            lowest = np.where(resting, tgt_lift[:, cols], np.inf).min(axis=1)
            floor = max(floor, float(lowest[on_floor].max()))
    return RetargetCheck(
        direction_deg=directions, root_path_pct=float(root_pct), floor_cm=100.0 * floor,
        fs_before_mm=foot_sliding_mm(before, planted, source.fps),
        fs_after_mm=foot_sliding_mm(after, planted, source.fps),
        planted_frames=int(np.any(planted, axis=1).sum()),
    )
