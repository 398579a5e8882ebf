"""Bake a motion onto Rigify's control rig: its FK and IK controls, so the animator edits the result with
the rig's own controls and the rig's own constraints drive the deform bones while it plays.

Each control C follows the deform bone it drives (`rigify_controls`: `DEF-x` for `x_fk`), rigidly, with
their rest offset: C(t) = D(t) D_rest^-1 C_rest, armature space. Its channels then come from its
Blender parent P's pose: basis = (P_rest^-1 C_rest)^-1 P(t)^-1 C(t). Rigify's parents are mechanism
bones (MCH-thigh_parent.L, MCH-ROT-neck, ...) whose pose follows other controls through constraints;
`follow_anchors` finds, by posing the rig a few times and letting Blender evaluate it, the control each
parent's rotation and position follow rigidly (or none: it stays put), so P(t) comes from the controls'
own poses without evaluating the rig per frame. The leg and arm pole targets sit in the bend plane of
the knee and elbow, where they sit at rest relative to the limb. The switches are keyed: legs on IK (the
IK foot takes the pinned foot directly), arms on FK, pole targets on, neck and head following the chest
(so that their parents follow one control each); hips, chest and tweaks stay at rest. Known limit:
Rigify's leg IK lets its bones stretch (ik_stretch 0.1), and from its nearly straight rest it reaches the
foot with thigh and shin about 1.6 % short, so the knee plays ~2 cm from the engine's; the feet are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

from engine.errors import PlantedError
from engine.motion.kinematics import forward_kinematics
from engine.motion.motion import Motion
from engine.rotations import matrix_to_euler, matrix_to_quaternion, sign_continuous

from . import axes, keyframes
from .rig import Rig

_SIDES = (".L", ".R")
_LIMBS = {  # switch bone: (FK controls, IK end control, IK end's deform bone, pole, (upper, lower, end) DEF)
    "thigh_parent": (("thigh_fk", "shin_fk", "foot_fk", "toe_fk"), "foot_ik", "DEF-foot", "thigh_ik_target",
                     ("DEF-thigh", "DEF-shin", "DEF-foot")),
    "upper_arm_parent": (("upper_arm_fk", "forearm_fk", "hand_fk"), "hand_ik", "DEF-hand", "upper_arm_ik_target",
                         ("DEF-upper_arm", "DEF-forearm", "DEF-hand")),
}
_SPINE = {"torso": "DEF-spine", "spine_fk": "DEF-spine", "spine_fk.001": "DEF-spine.001",
          "spine_fk.002": "DEF-spine.002", "spine_fk.003": "DEF-spine.003", "neck": "DEF-spine.004",
          "head": "DEF-spine.006"}
_IK_FK = {"thigh_parent": 0.0, "upper_arm_parent": 1.0}  # Rigify's IK_FK: 0 = IK, 1 = FK
_TOLERANCE = 1e-4  # armature units / radians: a parent counts as following a control this closely
_TEST_POSES = 3


def rigify_controls(obj: bpy.types.Object) -> dict[str, str]:
    """{control: the deform bone it follows} of a Rigify rig's body controls (empty for other rigs)."""
    bones = obj.data.bones
    if "rig_id" not in obj.data.keys():
        return {}
    out = {c: d for c, d in _SPINE.items() if c in bones and d in bones}
    for side in _SIDES:
        if f"shoulder{side}" in bones and f"DEF-shoulder{side}" in bones:
            out[f"shoulder{side}"] = f"DEF-shoulder{side}"
        for switch, (fk, ik_end, ik_def, _, _) in _LIMBS.items():
            if switch + side not in bones:
                continue
            for control in fk:
                out[control + side] = "DEF-" + control.removesuffix("_fk") + side
            out[ik_end + side] = ik_def + side
            if switch == "thigh_parent":
                out["toe_ik" + side] = "DEF-toe" + side
    return {c: d for c, d in out.items() if c in bones and d in bones}


def is_control_rig(obj: bpy.types.Object) -> bool:
    """Whether `obj` is a generated Rigify rig whose body controls Planted can bake onto."""
    return bool(rigify_controls(obj))


@dataclass(frozen=True)
class Follow:
    """Where a bone's pose comes from: its rotation follows control `rotation`, its head follows control
    `position` (None: stays at rest), each with its rest offset."""

    rotation: str | None
    position: str | None


def _poles(obj: bpy.types.Object) -> dict[str, tuple[str, str, str]]:
    """{pole target: (upper, lower, end) deform bones of its limb}."""
    bones = obj.data.bones
    out = {}
    for side in _SIDES:
        for switch, (_, _, _, pole, chain) in _LIMBS.items():
            names = tuple(n + side for n in chain)
            if switch + side in bones and pole + side in bones and all(n in bones for n in names):
                out[pole + side] = names
    return out


def _switch_props(obj: bpy.types.Object) -> list[tuple[str, str, float]]:
    """(bone, property, value) the bake keys: IK/FK per limb, pole targets on."""
    out = []
    for side in _SIDES:
        for switch, value in _IK_FK.items():
            bone = obj.pose.bones.get(switch + side)
            if bone is None:
                continue
            if "IK_FK" in bone.keys():
                out.append((bone.name, "IK_FK", value))
            if "pole_vector" in bone.keys():
                out.append((bone.name, "pole_vector", 1.0))
    torso = obj.pose.bones.get("torso")
    for prop in ("neck_follow", "head_follow"):
        if torso is not None and prop in torso.keys():
            out.append((torso.name, prop, 1.0))
    return out


def _evaluated_pose(obj: bpy.types.Object) -> np.ndarray:
    """(B, 4, 4) every pose bone's matrix (armature space), as Blender evaluates it now."""
    bpy.context.view_layer.update()
    bones = obj.pose.bones
    buffer = np.empty(16 * len(bones), dtype=np.float32)
    bones.foreach_get("matrix", buffer)
    return np.swapaxes(buffer.reshape(-1, 4, 4), -1, -2).astype(np.float64)


def follow_anchors(obj: bpy.types.Object, controls: list[str], bones: list[str]) -> dict[str, Follow]:
    """{bone: Follow} for `bones`: the control among `controls` whose rotation (position) the bone's
    rotation (head) keeps to rigidly over a few random poses of the controls, evaluated by Blender.

    Poses the rig, then puts back its action, pose channels and switch properties exactly."""
    rng = np.random.default_rng(0)
    names = [b.name for b in obj.pose.bones]
    index = {n: i for i, n in enumerate(names)}
    anim = obj.animation_data
    action, slot = (anim.action, getattr(anim, "action_slot", None)) if anim is not None else (None, None)
    saved = {n: (obj.pose.bones[n].rotation_mode, tuple(obj.pose.bones[n].location),
                 tuple(obj.pose.bones[n].rotation_quaternion), tuple(obj.pose.bones[n].rotation_euler))
             for n in controls}
    props = [(b, p, obj.pose.bones[b][p]) for b, p, _ in _switch_props(obj)]
    poses = []
    try:
        if anim is not None:
            anim.action = None
        for bone, prop, _ in props:
            obj.pose.bones[bone][prop] = type(obj.pose.bones[bone][prop])(1)  # FK limbs, poles on, neck follows
        for trial in range(_TEST_POSES + 1):
            for n in controls:
                pose_bone = obj.pose.bones[n]
                angles = rng.uniform(-0.4, 0.4, 3) if trial else np.zeros(3)
                pose_bone.rotation_mode = "XYZ"
                pose_bone.rotation_euler = angles
                movable = not any(pose_bone.lock_location)
                pose_bone.location = rng.uniform(-0.05, 0.05, 3) if trial and movable else (0.0, 0.0, 0.0)
            poses.append(_evaluated_pose(obj))
    finally:
        for n, (mode, location, quaternion, euler) in saved.items():
            pose_bone = obj.pose.bones[n]
            pose_bone.rotation_mode = mode
            pose_bone.location, pose_bone.rotation_quaternion, pose_bone.rotation_euler = location, quaternion, euler
        for bone, prop, value in props:
            obj.pose.bones[bone][prop] = value
        if anim is not None:
            anim.action = action
            if slot is not None and action is not None:
                anim.action_slot = slot
        bpy.context.view_layer.update()
    poses = np.array(poses)  # (P, B, 4, 4)
    ctrl = np.array([index[c] for c in controls])
    chosen = poses[:, ctrl]
    rot_c, pos_c = chosen[..., :3, :3], chosen[..., :3, 3]  # (P, C, 3, 3), (P, C, 3)
    out = {}
    for bone in bones:
        m = poses[:, index[bone]]
        relative_rot = np.swapaxes(rot_c, -1, -2) @ m[:, None, :3, :3]  # (P, C, 3, 3)
        relative_pos = np.einsum("pcba,pcb->pca", rot_c, m[:, None, :3, 3] - pos_c)
        rot_gap = np.ptp(relative_rot.reshape(len(poses), len(controls), 9), axis=0).max(axis=-1)
        pos_gap = np.ptp(relative_pos, axis=0).max(axis=-1)
        still_rot = np.ptp(m[:, :3, :3].reshape(len(poses), 9), axis=0).max() < _TOLERANCE
        still_pos = np.ptp(m[:, :3, 3], axis=0).max() < _TOLERANCE
        rotation = None if still_rot else _best(controls, rot_gap, bone, "rotation")
        position = None if still_pos else _best(controls, pos_gap, bone, "position")
        out[bone] = Follow(rotation, position)
    return out


def _best(controls: list[str], gaps: np.ndarray, bone: str, what: str) -> str:
    best = int(np.argmin(gaps))
    if gaps[best] > _TOLERANCE:
        raise PlantedError(f"Planted cannot tell which control moves the {what} of '{bone}' in this Rigify rig: "
                           "set Bake onto to Deform bones and try again.")
    return controls[best]


def armature_poses(obj: bpy.types.Object, rig: Rig, motion: Motion) -> dict[str, np.ndarray]:
    """{bone: (T, 4, 4)} armature-space pose matrices of `rig`'s bones playing `motion` (engine FK), and of
    every other bone of `obj` below them held at rest relative to its nearest baked ancestor."""
    world = forward_kinematics(rig.skeleton, motion.rotations, motion.root_translation)
    to_armature = np.linalg.inv(np.array(obj.matrix_world, dtype=np.float64))
    frames = motion.num_frames
    m = np.zeros((frames, rig.skeleton.num_joints, 4, 4))
    m[..., :3, :3] = rig.scale * (axes.ENGINE_TO_BLENDER @ world.rotations)
    m[..., :3, 3] = axes.points_to_blender(world.positions)
    m[..., 3, 3] = 1.0
    m = to_armature @ m
    return {name: m[:, j] for j, name in enumerate(rig.bone_names)}


def _pose_of(obj: bpy.types.Object, poses: dict[str, np.ndarray], name: str) -> np.ndarray:
    """(T, 4, 4) bone `name`'s pose: baked, or at rest relative to its nearest baked ancestor."""
    if name in poses:
        return poses[name]
    bone = obj.data.bones[name]
    ancestor = bone.parent
    while ancestor is not None and ancestor.name not in poses:
        ancestor = ancestor.parent
    if ancestor is None:
        raise PlantedError(f"Bone '{name}' does not move with the retargeted skeleton: set Bake onto to Deform bones.")
    offset = np.linalg.inv(np.array(ancestor.matrix_local)) @ np.array(bone.matrix_local)
    poses[name] = poses[ancestor.name] @ offset
    return poses[name]


def _limb_frames(root: np.ndarray, joint: np.ndarray, tip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., 3, 3) a limb's frame: columns root->tip, the bend (joint away from that line), their cross
    product; and (...,) the bend's length (armature units)."""
    line = tip - root
    axis = line / np.linalg.norm(line, axis=-1, keepdims=True)
    offset = joint - root
    bend = offset - np.sum(offset * axis, axis=-1, keepdims=True) * axis
    length = np.linalg.norm(bend, axis=-1)
    bend = bend / np.maximum(length, 1e-12)[..., None]
    return np.stack([axis, bend, np.cross(axis, bend)], axis=-1), length


def _pole_poses(obj: bpy.types.Object, poses: dict[str, np.ndarray], pole: str, chain: tuple[str, str, str]):
    """(T, 4, 4) a pole target kept where it sits at rest relative to its limb's frame (`_limb_frames` of
    the upper bone's head, the knee or elbow, the end's head), so Blender's IK bends the limb as it bends
    at rest; where the limb is straight, rigid with the upper bone. Rest orientation."""
    bones = obj.data.bones
    rest = np.array(bones[pole].matrix_local)
    heads_rest = [np.array(bones[n].head_local) for n in chain]
    frame_rest, _ = _limb_frames(*heads_rest)
    local = frame_rest.T @ (rest[:3, 3] - heads_rest[1])
    upper, lower, end = (_pose_of(obj, poses, n) for n in chain)
    frame, bend = _limb_frames(upper[:, :3, 3], lower[:, :3, 3], end[:, :3, 3])
    rigid = upper[:, :3, :3] @ np.array(bones[chain[0]].matrix_local)[:3, :3].T @ (rest[:3, 3] - heads_rest[1])
    out = np.broadcast_to(rest, (len(upper), 4, 4)).copy()
    out[:, :3, 3] = lower[:, :3, 3] + np.where(bend[:, None] > 1e-3, frame @ local, rigid)
    return out


@dataclass(frozen=True)
class ControlBake:
    """What `bake_controls` keyed: the controls, and the switch properties (bone, property, value)."""

    controls: tuple[str, ...]
    switches: tuple[tuple[str, str, float], ...]


def bake_controls(obj: bpy.types.Object, action: bpy.types.Action, rig: Rig, motion: Motion,
                  frame_start: int) -> ControlBake:
    """Key `motion` (on `rig`, the retargeted deform skeleton) onto `obj`'s Rigify controls in `action`,
    frames frame_start .. frame_start + T - 1, in bulk; the switches keyed to IK legs and FK arms."""
    follows = rigify_controls(obj)
    poles = _poles(obj)
    controls = [*follows, *poles]
    poses = armature_poses(obj, rig, motion)
    targets = {c: _pose_of(obj, poses, d) @ np.linalg.inv(np.array(obj.data.bones[d].matrix_local))
               @ np.array(obj.data.bones[c].matrix_local) for c, d in follows.items()}
    targets.update({p: _pole_poses(obj, poses, p, chain) for p, chain in poles.items()})
    parents = sorted({obj.data.bones[c].parent.name for c in controls if obj.data.bones[c].parent is not None}
                     - set(controls))
    anchors = follow_anchors(obj, controls, parents)
    channels, columns = [], []
    for control in controls:
        basis = _basis(obj, control, targets, anchors)
        _channels_of(obj.pose.bones[control], basis, channels, columns)
    switches = _switch_props(obj)
    for bone, prop, value in switches:
        path = f'pose.bones["{bpy.utils.escape_identifier(bone)}"]["{prop}"]'
        channels.append(keyframes.Channel(path, 0, bone))
        columns.append(np.full((motion.num_frames, 1), value))
    keyframes.write_channels(action, obj, channels, np.concatenate(columns, axis=1), frame_start)
    return ControlBake(tuple(controls), tuple(switches))


def _basis(obj, control: str, targets: dict[str, np.ndarray], anchors: dict[str, Follow]) -> np.ndarray:
    """(T, 4, 4) the control's matrix_basis that puts it at its target under its parent's pose."""
    bone = obj.data.bones[control]
    rest = np.array(bone.matrix_local)
    if bone.parent is None:
        return np.linalg.inv(rest) @ targets[control]
    parent_rest = np.array(bone.parent.matrix_local)
    parent = _parent_pose(obj, bone.parent.name, parent_rest, targets, anchors, len(targets[control]))
    return np.linalg.inv(np.linalg.inv(parent_rest) @ rest) @ np.linalg.inv(parent) @ targets[control]


def _parent_pose(obj, name: str, rest: np.ndarray, targets: dict[str, np.ndarray], anchors: dict[str, Follow],
                 frames: int) -> np.ndarray:
    """(T, 4, 4) a control's parent's pose: a baked control's target, or where its Follow puts it."""
    if name in targets:
        return targets[name]
    follow = anchors[name]
    out = np.broadcast_to(rest, (frames, 4, 4)).copy()
    if follow.rotation is not None:
        lead_rest = np.array(obj.data.bones[follow.rotation].matrix_local)[:3, :3]
        out[:, :3, :3] = targets[follow.rotation][:, :3, :3] @ lead_rest.T @ rest[:3, :3]
    if follow.position is not None:
        lead_rest = np.array(obj.data.bones[follow.position].matrix_local)
        lead = targets[follow.position]
        out[:, :3, 3] = lead[:, :3, 3] + lead[:, :3, :3] @ (lead_rest[:3, :3].T @ (rest[:3, 3] - lead_rest[:3, 3]))
    return out


def _channels_of(pose_bone, basis: np.ndarray, channels: list, columns: list) -> None:
    """Append the pose bone's location (where it may move) and rotation channels (in its own rotation mode)."""
    bone = pose_bone.name
    prefix = f'pose.bones["{bpy.utils.escape_identifier(bone)}"].'
    location = basis[:, :3, 3]
    for i in range(3):
        if not pose_bone.lock_location[i] and np.abs(location[:, i]).max() > 1e-6:
            channels.append(keyframes.Channel(prefix + "location", i, bone))
            columns.append(location[:, i:i + 1])
    rotation = basis[:, :3, :3]
    mode = pose_bone.rotation_mode
    if mode in ("QUATERNION", "AXIS_ANGLE"):
        pose_bone.rotation_mode = "QUATERNION"
        values = sign_continuous(matrix_to_quaternion(rotation))
        channels += [keyframes.Channel(prefix + "rotation_quaternion", i, bone) for i in range(4)]
    else:
        # Blender's 'XYZ' turns about X first (R = Rz Ry Rx): the engine's order string reversed.
        angles = matrix_to_euler(rotation, mode[::-1])
        values = np.unwrap(_blender_euler(angles, mode), axis=0)
        channels += [keyframes.Channel(prefix + "rotation_euler", i, bone) for i in range(3)]
    columns.append(values)


def _blender_euler(angles: np.ndarray, mode: str) -> np.ndarray:
    """(T, 3) engine angles for order mode[::-1] -> Blender's rotation_euler (x, y, z) for `mode`."""
    order = mode[::-1]
    out = np.empty_like(angles)
    for k, axis in enumerate(order):
        out[:, "XYZ".index(axis)] = angles[:, k]
    return out
