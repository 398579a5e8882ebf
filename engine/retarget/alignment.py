"""Rest-pose alignment from skeleton geometry: each mapped bone's anatomical frame in a reference pose.

A file's zero pose need not be a T-pose (arms down, an A-pose, or every bone along +x as some exporters
write it), so nothing is assumed about it. In a reference pose (the source's rest, a frame the user names,
or, where the rest is not a standing body, the most neutral standing frame of the motion) and in the
target's rest, every mapped bone gets a frame from the body's geometry:
- pelvis: x along the hip line (right hip to left hip), y up the spine, z forward;
- a bone with a mapped child: y along the bone, z towards the body's front (the chest's front for the
  upper body), x = y x z;
- a foot: y up (the world's: the floor), z along the ground towards the toe (its pitch is where the rig's joints sit,
  not pose, so feet lying flat stay flat);
- a joint with no mapped child turns with its mapped parent.
`alignment` turns each source frame onto the target's. World frame y up; positions in metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.body.joints import SMPL_JOINT_NAMES, SMPL_PARENTS
from engine.errors import PlantedError
from engine.motion.kinematics import forward_kinematics, rest_world_transforms
from engine.motion.motion import Motion
from engine.motion.skeleton import Skeleton

_UPPER_BODY = frozenset({"spine3", "neck", "head"} | {f"{s}_{j}" for s in ("left", "right")
                                                    for j in ("collar", "shoulder", "elbow", "wrist", "hand")})
_TRUNK_TOPS = ("spine3", "neck", "head", "spine2", "spine1")
# A rest whose legs point this far from straight down, or whose hip line is this short (fraction of the
# leg), is no standing body to align from.
_MIN_LEG_DOWN = 0.7
_MIN_HIP_WIDTH = 0.05
_WORLD_UP = np.array([0.0, 1.0, 0.0])


@dataclass(frozen=True)
class ReferencePose:
    """The pose the source's bone frames are taken in: frame None for the rest, else a frame index."""

    frame: int | None
    reason: str


# Each SMPL joint's bone points at the first of these that is mapped.
_BONE_TIPS: dict[str, tuple[str, ...]] = {
    "spine1": ("spine2", "spine3", "neck", "head"), "spine2": ("spine3", "neck", "head"),
    "spine3": ("neck", "head"), "neck": ("head",),
    **{f"{s}_{j}": tuple(f"{s}_{t}" for t in tips) for s in ("left", "right") for j, tips in (
        ("hip", ("knee", "ankle")), ("knee", ("ankle",)), ("collar", ("shoulder", "elbow")),
        ("shoulder", ("elbow", "wrist")), ("elbow", ("wrist", "hand")), ("wrist", ("hand",)))},
}


def bone_children(names: tuple[str, ...]) -> dict[str, str]:
    """SMPL name -> the SMPL joint in `names` its bone points at (spine1 -> head when nothing lies between)."""
    present = set(names)
    return {n: next(t for t in _BONE_TIPS[n] if t in present) for n in names
            if any(t in present for t in _BONE_TIPS.get(n, ()))}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _orthogonal(v: np.ndarray, axis: np.ndarray) -> np.ndarray:
    return v - np.sum(v * axis, axis=-1, keepdims=True) * axis


def body_axes(positions: np.ndarray, index: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(up, left, forward, chest_forward) unit vectors (..., 3) of a pose (positions (..., J, 3))."""
    top = next(k for k in _TRUNK_TOPS if k in index)
    up = _unit(positions[..., index[top], :] - positions[..., index["pelvis"], :])
    left = _unit(_orthogonal(positions[..., index["left_hip"], :] - positions[..., index["right_hip"], :], up))
    forward = np.cross(left, up)
    chest_forward = forward
    for pair in (("left_shoulder", "right_shoulder"), ("left_collar", "right_collar")):
        if all(k in index for k in pair):
            across = _orthogonal(positions[..., index[pair[0]], :] - positions[..., index[pair[1]], :], up)
            chest_left = _unit(across)
            chest_forward = np.where(np.linalg.norm(across, axis=-1, keepdims=True) > 1e-6,
                                     np.cross(chest_left, up), forward)
            break
    return up, left, forward, chest_forward


def _frame(primary: np.ndarray, hint: np.ndarray, spare: np.ndarray) -> np.ndarray:
    """(3, 3) columns x, y, z: y along `primary`, z towards `hint` (or `spare` if it is parallel)."""
    y = _unit(primary)
    z = _orthogonal(_unit(hint), y)
    if np.linalg.norm(z) < 0.2:
        z = _orthogonal(_unit(spare), y)
    z = _unit(z)
    return np.stack([np.cross(y, z), y, z], axis=-1)


def anatomical_frames(positions: np.ndarray, index: dict[str, int], names: tuple[str, ...]) -> np.ndarray:
    """(N, 3, 3) world frames (columns x, y, z) of the bones `names` in one pose (positions (J, 3)).

    Joints with no mapped child get NaN; `alignment` turns them with their mapped parent.
    """
    up, left, forward, chest_forward = body_axes(positions, index)
    children = bone_children(names)
    out = np.full((len(names), 3, 3), np.nan)
    for k, name in enumerate(names):
        here = positions[index[name]]
        front = chest_forward if name in _UPPER_BODY else forward
        if name == "pelvis":
            y = _unit(_orthogonal(up, left))
            out[k] = np.stack([left, y, np.cross(left, y)], axis=-1)
        elif name.endswith("_ankle"):
            # The floor, not the trunk, is what a foot lies flat on (a rest may lean): world up.
            toe = name.replace("ankle", "foot")
            along = _orthogonal(positions[index[toe]] - here, _WORLD_UP) if toe in index else forward
            out[k] = _frame(_WORLD_UP, along, forward)
        elif name in children:
            out[k] = _frame(positions[index[children[name]]] - here, front, up)
    return out


def alignment(source_frames: np.ndarray, target_frames: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """(N, 3, 3) world rotations taking each source bone frame onto the target's (F_target @ F_source^T).

    A joint without a frame on either side takes its nearest mapped ancestor's (identity at the top).
    """
    out = target_frames @ np.swapaxes(source_frames, -1, -2)
    where = {n: k for k, n in enumerate(names)}
    for k, name in enumerate(names):  # SMPL order: a parent's alignment is settled before its children's
        if np.all(np.isfinite(out[k])):
            continue
        p = SMPL_PARENTS[SMPL_JOINT_NAMES.index(name)]
        while p >= 0 and SMPL_JOINT_NAMES[p] not in where:
            p = SMPL_PARENTS[p]
        out[k] = out[where[SMPL_JOINT_NAMES[p]]] if p >= 0 else np.eye(3)
    return out


def standing_error(positions: np.ndarray, index: dict[str, int]) -> np.ndarray:
    """(...,) how far poses (..., J, 3) are from standing straight: 0 with legs straight down the trunk."""
    up = body_axes(positions, index)[0]
    error = np.zeros(positions.shape[:-2])
    for side in ("left", "right"):
        for a, b in (("hip", "knee"), ("knee", "ankle")):
            bone = _unit(positions[..., index[f"{side}_{b}"], :] - positions[..., index[f"{side}_{a}"], :])
            error = error + (1.0 + np.sum(bone * up, axis=-1))
    return error


def rest_is_standing(skeleton: Skeleton, index: dict[str, int]) -> tuple[bool, str]:
    """Whether the rest pose is a standing body (legs down the trunk, a hip line across it), and why not."""
    rest = rest_world_transforms(skeleton).positions[0]
    up = body_axes(rest, index)[0]
    for side in ("left", "right"):
        for a, b in (("hip", "knee"), ("knee", "ankle")):
            bone = _unit(rest[index[f"{side}_{b}"]] - rest[index[f"{side}_{a}"]])
            if float(np.dot(bone, -up)) < _MIN_LEG_DOWN:
                return False, f"its {side} {'thigh' if a == 'hip' else 'shin'} does not point down the trunk"
    width = np.linalg.norm(_orthogonal(rest[index["left_hip"]] - rest[index["right_hip"]], up))
    leg = np.linalg.norm(rest[index["left_knee"]] - rest[index["left_hip"]])
    if width < _MIN_HIP_WIDTH * leg:
        return False, "its hips do not lie across the trunk"
    return True, "the rest pose stands"


def reference_pose(motion: Motion, index: dict[str, int], frame: int | None = None) -> ReferencePose:
    """Where the source's bone frames come from: `frame` when given, the rest when it stands, else the
    frame of the motion that stands straightest (`standing_error`)."""
    if frame is not None:
        if not 0 <= frame < motion.num_frames:
            raise PlantedError(f"--reference-frame {frame} is outside the motion's frames 0..{motion.num_frames - 1}; "
                               "name a frame where the body stands")
        return ReferencePose(int(frame), f"frame {frame}, as given")
    standing, why = rest_is_standing(motion.skeleton, index)
    if standing or motion.num_frames == 0:
        return ReferencePose(None, why)
    needed = sorted(set(index.values()))
    pos = forward_kinematics(motion.skeleton, motion.rotations, motion.root_translation, joints=needed).positions
    best = int(np.argmin(standing_error(pos, index)))
    return ReferencePose(best, f"the rest pose is not a standing body ({why}); frame {best}, the straightest "
                               "standing frame, is used instead (pass --reference-frame to choose)")


def pose_at(motion: Motion, reference: ReferencePose) -> tuple[np.ndarray, np.ndarray]:
    """(positions (J, 3), world rotations (J, 3, 3)) of the motion's skeleton in the reference pose."""
    if reference.frame is None:
        rest = rest_world_transforms(motion.skeleton)
        return rest.positions[0], rest.rotations[0]
    t = reference.frame
    world = forward_kinematics(motion.skeleton, motion.rotations[t:t + 1], motion.root_translation[t:t + 1])
    return world.positions[0], world.rotations[0]
