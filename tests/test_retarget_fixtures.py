"""Shared helpers for the retargeting and foot-lock tests (no tests here).

Real clips from ../shared/data/mocap; the SMPL skeleton from the free body model when it is built
(J_regressor @ v_template), else SMPL-T-posed with the CMU subject's own bone lengths.
"""

from __future__ import annotations

import functools
import pathlib

import numpy as np

from engine.body.joints import SMPL_JOINT_NAMES, SMPL_PARENTS
from engine.motion.bvh import read_bvh
from engine.motion.kinematics import rest_world_transforms, world_transforms
from engine.motion.motion import Motion
from engine.motion.skeleton import Skeleton
from engine.retarget.contacts import contact_probability_from_motion, planted_mask
from engine.retarget.ik import rotation_between
from engine.retarget.retarget import leg_length, retarget
from engine.retarget.rigs import auto_map, smpl_skeleton, tpose_rest_joints_from
from engine.rotations import axis_angle_to_matrix

ROOT = pathlib.Path(__file__).resolve().parents[1]
MOCAP = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap"
FREE_BODY_MODEL = ROOT / "engine" / "assets" / "free_body_model.npz"
CLIPS = {
    "131_01.bvh": MOCAP / "cmu" / "131_01.bvh",
    "131_03.bvh": MOCAP / "cmu" / "131_03.bvh",
    "neutral_01_000.bvh": MOCAP / "xia" / "neutral_01_000.bvh",
    "angry_13_000.bvh": MOCAP / "xia" / "angry_13_000.bvh",
    "neutral_16_000.bvh": MOCAP / "xia" / "neutral_16_000.bvh",
}
SMPL_TO_MIXAMO = {
    "pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck", "head": "Head",
    **{f"{s}_{a}": f"{s.capitalize()}{b}" for s in ("left", "right") for a, b in (
        ("hip", "UpLeg"), ("knee", "Leg"), ("ankle", "Foot"), ("foot", "ToeBase"), ("collar", "Shoulder"),
        ("shoulder", "Arm"), ("elbow", "ForeArm"), ("wrist", "Hand"), ("hand", "HandMiddle1"))},
}
FOOT_JOINTS_SMPL = [SMPL_JOINT_NAMES.index(n) for n in ("left_ankle", "left_foot", "right_ankle", "right_foot")]


@functools.lru_cache(maxsize=None)
def clip(name: str) -> Motion:
    return read_bvh(CLIPS[name])


@functools.lru_cache(maxsize=1)
def smpl_rest_joints() -> np.ndarray:
    if FREE_BODY_MODEL.is_file():
        arrays = np.load(FREE_BODY_MODEL, allow_pickle=False)
        return np.asarray(arrays["J_regressor"] @ arrays["v_template"], dtype=np.float64)
    cmu = clip("131_01.bvh")
    return tpose_rest_joints_from(cmu.skeleton, auto_map(cmu.skeleton)[0])


@functools.lru_cache(maxsize=1)
def smpl() -> Skeleton:
    return smpl_skeleton(smpl_rest_joints())


@functools.lru_cache(maxsize=None)
def smpl_clip(name: str) -> Motion:
    """The clip retargeted onto the SMPL skeleton (how training poses the body model with real mocap)."""
    return retarget(clip(name), smpl())


def _bone_frame(direction: np.ndarray, twist: float) -> np.ndarray:
    """A Blender-like bone frame: y along the bone, turned by `twist` about it."""
    y = direction / max(np.linalg.norm(direction), 1e-9)
    base = rotation_between(np.array([0.0, 1.0, 0.0]), y)
    return base @ axis_angle_to_matrix(np.array([0.0, twist, 0.0]))


@functools.lru_cache(maxsize=1)
def mixamo_like() -> Skeleton:
    """A Mixamo-named rig with legs 15 % longer than SMPL's, arms in an A-pose, Blender-like bone frames.

    Thighs grow more than shins (real rigs differ in proportion, not just size), feet 10 % longer; every
    joint with a child gets a rest orientation with y along its bone and a twist, as a Blender armature
    has; an extra unmapped end joint sits above the head.
    """
    rest = smpl_rest_joints().copy()
    parents = np.array(SMPL_PARENTS)
    pos = rest.copy()
    # Legs: thigh x (1.24 c), shin x (1.07 c), with c so that the leg length is 1.15 x SMPL's.
    idx = {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}

    arm_turn = {}
    for side, angle in (("left", -0.7), ("right", 0.7)):
        for joint in ("elbow", "wrist", "hand"):
            arm_turn[idx[f"{side}_{joint}"]] = axis_angle_to_matrix(np.array([0.0, 0.0, angle]))

    def rebuild(scale_of: dict[int, float]) -> np.ndarray:
        """SMPL's rest with bones scaled and the arms turned down into an A-pose."""
        out = np.zeros_like(rest)
        out[0] = rest[0]
        for j in range(1, 24):
            p = parents[j]
            out[j] = out[p] + arm_turn.get(j, np.eye(3)) @ ((rest[j] - rest[p]) * scale_of.get(j, 1.0))
        return out

    def legs(c: float) -> dict[int, float]:
        out = {}
        for s in ("left", "right"):
            out[idx[f"{s}_knee"]] = 1.24 * c
            out[idx[f"{s}_ankle"]] = 1.07 * c
            out[idx[f"{s}_foot"]] = 1.10
        return out

    smpl_index = {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}
    target_len = 1.15 * leg_length(smpl(), smpl_index)
    lo, hi = 0.5, 1.5
    for _ in range(60):  # bisection on c
        c = 0.5 * (lo + hi)
        pos = rebuild(legs(c))
        length = leg_length(smpl_skeleton(pos), smpl_index)
        lo, hi = (c, hi) if length < target_len else (lo, c)
    names = [f"mixamorig:{SMPL_TO_MIXAMO[n]}" for n in SMPL_JOINT_NAMES] + ["mixamorig:HeadTop_End"]
    pos = np.concatenate([pos, pos[idx["head"]][None] + np.array([[0.0, 0.18, 0.02]])])
    par = np.concatenate([parents, [idx["head"]]])
    child = {p: j for j, p in enumerate(par) if p >= 0}
    child[0] = idx["spine1"]
    child[idx["spine3"]] = idx["neck"]
    world_rest = np.zeros((25, 3, 3))
    for j in range(25):
        if j in child:
            world_rest[j] = _bone_frame(pos[child[j]] - pos[j], twist=0.3 * ((j % 5) - 2))
        else:
            world_rest[j] = world_rest[par[j]] if j > 0 else np.eye(3)
    rest_rot = np.zeros((25, 3, 3))
    offsets = np.zeros((25, 3))
    for j in range(25):
        parent_frame = world_rest[par[j]] if par[j] >= 0 else np.eye(3)
        rest_rot[j] = parent_frame.T @ world_rest[j]
        offsets[j] = parent_frame.T @ (pos[j] - (pos[par[j]] if par[j] >= 0 else 0.0))
    return Skeleton(names=tuple(names), parents=par, offsets=offsets, rest_rotations=rest_rot,
                    end_offsets=np.zeros((25, 3)))


def rest_positions(skeleton: Skeleton) -> np.ndarray:
    return rest_world_transforms(skeleton).positions[0]


def foot_points(motion: Motion) -> np.ndarray:
    """(T, 4, 3) heel/toe world positions (left ankle, left toe, right ankle, right toe)."""
    bone_map, _ = auto_map(motion.skeleton)
    index = bone_map.indices(motion.skeleton)
    joints = [index[n] for n in ("left_ankle", "left_foot", "right_ankle", "right_foot")]
    return world_transforms(motion).positions[:, joints]


def true_contact_probability(name: str) -> np.ndarray:
    """(T, 4) the clean capture's heel/toe contact probabilities, from their height and speed."""
    motion = clip(name)
    return contact_probability_from_motion(foot_points(motion), motion.fps)


def true_contacts(name: str) -> np.ndarray:
    """(T, 4) bool: the clean capture's contacts (hysteresis and a minimum duration on the probabilities)."""
    return planted_mask(true_contact_probability(name), 0.6, 0.4, min_frames=int(round(0.06 * clip(name).fps)))


def add_estimator_noise(motion: Motion, rms_metres: float = 0.015, seed: int = 0) -> Motion:
    """Per-frame Gaussian noise through the rotations (and root), scaled so joints move `rms_metres` RMS."""
    rng = np.random.default_rng(seed)
    t, j = motion.num_frames, motion.skeleton.num_joints
    unit_rot = rng.normal(size=(t, j, 3))
    unit_root = rng.normal(size=(t, 3)) / np.sqrt(3.0)
    clean = world_transforms(motion).positions

    def noisy(scale: float) -> Motion:
        rot = motion.rotations @ axis_angle_to_matrix(unit_rot * scale)
        return Motion(motion.skeleton, rot, motion.root_translation + unit_root * rms_metres * 0.5, motion.fps)

    def rms(m: Motion) -> float:
        return float(np.sqrt(np.mean(np.sum((world_transforms(m).positions - clean) ** 2, axis=-1))))

    lo, hi = 0.0, 0.2
    for _ in range(25):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if rms(noisy(mid)) < rms_metres else (lo, mid)
    return noisy(0.5 * (lo + hi))
