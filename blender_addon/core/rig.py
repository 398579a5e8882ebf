"""Any armature as an engine Skeleton, and the pose channels that play an engine Motion on it.

A `Rig` is an armature seen by the engine: a `Skeleton` whose joint frames ARE the Blender bones'
rest frames (expressed in the engine's world: y up, metres; see core.axes), so a joint's rotation in a
Motion on `rig.skeleton` is its pose bone's rotation relative to rest (the quaternion channel).

The engine's hierarchy may differ from Blender's in two ways, and the bones where it does ("free"
joints) are keyed with location and rotation computed from their world pose:
- several root bones (Rigify's deform bones hang from "root" and from "MCH-torso.parent"): the one
  with the most bones below it is the skeleton's root, the others become its children;
- twins: a non-deform bone whose rest frame equals a deform bone's (Rigify's ORG-spine duplicates
  DEF-spine, and the thighs hang below ORG-spine) becomes that deform bone's child with no offset, so
  it turns and moves with it; otherwise hips, arms and face would stay behind when the spine, collar
  or head turns.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

from engine.errors import PlantedError
from engine.motion.kinematics import forward_kinematics, rest_world_transforms
from engine.motion.motion import Motion
from engine.motion.skeleton import Skeleton
from engine.rotations import matrix_to_quaternion

from . import axes

_TWIN_TOLERANCE = 1e-5  # armature units: heads and axes this close count as the same rest frame


@dataclass(frozen=True, eq=False)
class Rig:
    """An armature object's bones as an engine skeleton.

    skeleton: joints named like the bones, parents first; rest frames = the bones' rest frames.
    scale: metres per armature unit (the object's uniform world scale).
    free: joints whose engine parent is not their Blender parent (the root among them), keyed with
        location and rotation; blender_parents: each free joint's Blender parent joint, or -1.
    """

    object_name: str
    skeleton: Skeleton
    scale: float
    free: tuple[int, ...] = (0,)
    blender_parents: tuple[int, ...] = (-1,)

    @property
    def bone_names(self) -> tuple[str, ...]:
        return self.skeleton.names


def bake_bone_names(obj: bpy.types.Object, required: tuple[str, ...] = (), deform: bool = True) -> tuple[str, ...]:
    """The bones a motion is baked onto: `required` bones, the deform bones (when `deform`), and all
    their ancestors, in Blender's bone order."""
    names: set[str] = set()
    for bone in obj.data.bones:
        if (deform and bone.use_deform) or bone.name in required:
            b = bone
            while b is not None and b.name not in names:
                names.add(b.name)
                b = b.parent
    return tuple(b.name for b in obj.data.bones if b.name in names)


def find_twins(obj: bpy.types.Object, names: tuple[str, ...], of: tuple[str, ...] | None = None) -> dict[str, str]:
    """{twin: deform bone}: non-deform bones among `names` whose rest frame (head and axes) equals that of
    a deform bone among `of` (default: the deform bones among `names`)."""
    bones = obj.data.bones
    targets = [n for n in (of if of is not None else names) if bones[n].use_deform]
    candidates = [n for n in names if not bones[n].use_deform]
    if not targets or not candidates:
        return {}
    rest_c = np.array([np.array(bones[n].matrix_local)[:3] for n in candidates])
    rest_t = np.array([np.array(bones[n].matrix_local)[:3] for n in targets])
    gap = np.abs(rest_c[:, None] - rest_t[None]).max(axis=(2, 3))  # (C, T)
    best = gap.argmin(axis=1)
    return {candidates[i]: targets[best[i]] for i in np.flatnonzero(gap.min(axis=1) < _TWIN_TOLERANCE)}


def engine_parents(obj: bpy.types.Object, names: tuple[str, ...]) -> dict[str, str | None]:
    """Each bone's parent in the engine's skeleton: Blender's, except for twins (see the module notes)."""
    bones = {n: obj.data.bones[n] for n in names}
    parents = {n: (b.parent.name if b.parent is not None and b.parent.name in bones else None)
               for n, b in bones.items()}
    twin_of = find_twins(obj, names)
    out = dict(parents)
    for twin, bone in twin_of.items():
        out[twin] = bone
    for bone in set(twin_of.values()):
        up = parents[bone]
        while up is not None and twin_of.get(up) == bone:  # the deform bone hangs below its own twin
            up = parents[up]
        out[bone] = up
    return out


def rig_from_armature(obj: bpy.types.Object, bone_names: tuple[str, ...] | None = None, twins: bool = True) -> Rig:
    """The engine's view of armature `obj` at rest, over `bone_names` (default: every bone).

    Raises PlantedError when the object is not an armature or is scaled unevenly.
    """
    if obj is None or obj.type != "ARMATURE":
        raise PlantedError("Select an armature object (the rig to use) and try again.")
    world = np.array(obj.matrix_world, dtype=np.float64)
    scales = np.linalg.norm(world[:3, :3], axis=0)
    if not np.allclose(scales, scales[0], rtol=1e-4):
        raise PlantedError(f"Armature '{obj.name}' is scaled unevenly {tuple(scales.round(4))}: apply its scale first.")
    scale = float(scales[0])
    names = tuple(bone_names) if bone_names is not None else tuple(b.name for b in obj.data.bones)
    if not names:
        raise PlantedError(f"Armature '{obj.name}' has no bones to use.")
    blender = {n: (obj.data.bones[n].parent.name if obj.data.bones[n].parent is not None
                   and obj.data.bones[n].parent.name in names else None) for n in names}
    parent_of = engine_parents(obj, names) if twins else dict(blender)
    order = _tree_order(names, parent_of)
    if order is None:  # twins made a cycle: fall back to Blender's own hierarchy
        parent_of = dict(blender)
        order = _tree_order(names, parent_of)
    index = {name: i for i, name in enumerate(order)}
    parents = np.array([-1 if parent_of[n] is None else index[parent_of[n]] for n in order], dtype=np.int64)
    parents[1:][parents[1:] < 0] = 0  # extra roots hang below the first
    free = tuple(i for i, n in enumerate(order) if i == 0 or parents[i] != index.get(blender[n], -1))
    blender_parents = tuple(index[blender[order[i]]] if blender[order[i]] is not None else -1 for i in free)

    rest = np.array([np.array(obj.data.bones[n].matrix_local) for n in order])  # (J, 4, 4) armature space
    blender_world = world @ rest
    orient = axes.BLENDER_TO_ENGINE @ (blender_world[:, :3, :3] / scale)  # (J, 3, 3) engine world
    heads = axes.points_to_engine(blender_world[:, :3, 3])  # (J, 3) metres
    parent_orient = np.where(parents[:, None, None] >= 0, orient[parents], np.eye(3))
    parent_heads = np.where(parents[:, None] >= 0, heads[parents], 0.0)
    rest_rotations = np.swapaxes(parent_orient, -1, -2) @ orient
    offsets = np.einsum("jba,jb->ja", parent_orient, heads - parent_heads)
    end_offsets = np.zeros((len(order), 3))
    end_offsets[:, 1] = np.array([obj.data.bones[n].length for n in order]) * scale
    skeleton = Skeleton(tuple(order), parents, offsets, rest_rotations, end_offsets)
    return Rig(obj.name, skeleton, scale, free, blender_parents)


def _tree_order(names: tuple[str, ...], parent_of: dict[str, str | None]) -> list[str] | None:
    """Names ordered parents first (the root with the most bones below it first), or None on a cycle."""
    children: dict[str | None, list[str]] = {}
    for name in names:
        children.setdefault(parent_of[name], []).append(name)

    def subtree(root: str) -> list[str]:
        out, stack = [], [root]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(children.get(node, [])))
        return out

    trees = sorted((subtree(r) for r in children.get(None, [])), key=len, reverse=True)
    order = [n for tree in trees for n in tree]
    return order if len(order) == len(names) and len(set(order)) == len(names) else None


def world_rest_frames(skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """Each joint's rest orientation (J, 3, 3) and position (J, 3) in the world (engine frame, metres)."""
    rest = rest_world_transforms(skeleton)
    return rest.rotations[0], rest.positions[0]


def _rig_rotations(motion: Motion, rig: Rig) -> np.ndarray:
    """(T, J, 3, 3) the motion's rotations re-expressed in the rig's bone frames: R_bone = C^T R C with
    C = E^T W (E, W the motion's and the rig's rest orientations in the world); identity where the
    motion has no joint of that name."""
    source = motion.skeleton
    src_orient, _ = world_rest_frames(source)
    rig_orient, _ = world_rest_frames(rig.skeleton)
    count = rig.skeleton.num_joints
    rotations = np.broadcast_to(np.eye(3), (motion.num_frames, count, 3, 3)).copy()
    src_index = [source.names.index(n) if n in source.names else -1 for n in rig.bone_names]
    if src_index[0] < 0:
        raise PlantedError(f"The motion has no joint named like the root bone '{rig.bone_names[0]}'.")
    rig_ids = np.flatnonzero(np.array(src_index) >= 0)
    src_ids = np.array([src_index[j] for j in rig_ids])
    change = np.swapaxes(src_orient[src_ids], -1, -2) @ rig_orient[rig_ids]  # (M, 3, 3)
    source_rotations = motion.rotations[:, src_ids]
    # Most bones of a big rig never move: convert those once, not per frame.
    moving = np.ptp(source_rotations.reshape(motion.num_frames, len(src_ids), 9), axis=0).max(axis=-1) > 0
    for ids, frames in ((moving, slice(None)), (~moving, slice(0, 1))):
        rotations[:, rig_ids[ids]] = np.swapaxes(change[ids], -1, -2) @ source_rotations[frames][:, ids] @ change[ids]
    return rotations


def pose_channels(motion: Motion, rig: Rig) -> tuple[np.ndarray, np.ndarray]:
    """The pose bones' channels that play `motion` on `rig`.

    The motion's skeleton must name the rig's bones (any subset, same rest positions); its rest frames
    may differ from the bones' (SMPL's are world-aligned). Returns quaternions (T, J, 4) (w, x, y, z)
    per bone of `rig` in its order, and the location channels (T, F, 3) of the rig's free joints, in
    armature units.
    """
    rotations = _rig_rotations(motion, rig)
    count, frames = rig.skeleton.num_joints, motion.num_frames
    orient, heads = world_rest_frames(rig.skeleton)
    free = np.array(rig.free)
    world = None
    if len(free) == 1:
        world_rot = orient[0] @ rotations[:, :1]
        world_pos = motion.root_translation[:, None]
    else:
        world = forward_kinematics(rig.skeleton, rotations, motion.root_translation)
        world_rot, world_pos = world.rotations[:, free], world.positions[:, free]
    # A free bone's channels from its world pose [G | p] and its Blender parent's [G_b | p_b]:
    # [G_b W_b^T W | G_b W_b^T (h - h_b) + p_b] [B | s l] = [G | p]   (W, h the rest frames).
    anchor_rot = np.broadcast_to(orient[free], (frames,) + orient[free].shape).copy()
    anchor_pos = np.broadcast_to(heads[free], (frames,) + heads[free].shape).copy()
    parented = np.flatnonzero(np.array(rig.blender_parents) >= 0)
    if parented.size:
        parent_ids = np.array(rig.blender_parents)[parented]
        g_b, p_b = world.rotations[:, parent_ids], world.positions[:, parent_ids]
        relative = g_b @ np.swapaxes(orient[parent_ids], -1, -2)
        anchor_rot[:, parented] = relative @ orient[free[parented]]
        anchor_pos[:, parented] = np.einsum("tkab,kb->tka", relative, heads[free[parented]] - heads[parent_ids]) + p_b
    rotations[:, free] = np.swapaxes(anchor_rot, -1, -2) @ world_rot
    location = np.einsum("tkba,tkb->tka", anchor_rot, world_pos - anchor_pos) / rig.scale
    moving = np.ptp(rotations.reshape(frames, count, 9), axis=0).max(axis=-1) > 0
    quaternions = np.broadcast_to(matrix_to_quaternion(rotations[0]), (frames, count, 4)).copy()
    quaternions[:, moving] = matrix_to_quaternion(rotations[:, moving])
    return quaternions, location


def motion_from_action(obj: bpy.types.Object, action: bpy.types.Action, scene: bpy.types.Scene) -> Motion:
    """The motion `action` plays on a single-rooted armature `obj` (a Planted body, a BVH import), read
    from its f-curves in bulk, on the armature's own rig skeleton (Blender's hierarchy).

    Frames: the action's keyed range, at the scene's frame rate. Rotation channels may be quaternions or
    Euler angles in any order; unkeyed bones hold their current pose. Only the root's location is read
    (the engine's skeletons have fixed bone offsets): for rigs keyed otherwise use `sample_motion`.
    """
    from . import keyframes

    rig = rig_from_armature(obj, twins=False)
    if len(rig.free) > 1:
        raise PlantedError(f"Armature '{obj.name}' has several root bones: use a single-rooted source armature.")
    start, end = keyframes.action_frame_range(action)
    frames = np.arange(start, end + 1, dtype=np.float64)
    curves = keyframes.read_channels(action, obj, frames)
    count = len(frames)
    rotations = np.empty((count, rig.skeleton.num_joints, 3, 3))
    for j, bone in enumerate(rig.bone_names):
        rotations[:, j] = _bone_rotations(obj.pose.bones[bone], curves, count)
    root = obj.pose.bones[rig.bone_names[0]]
    root_path = f'pose.bones["{bpy.utils.escape_identifier(root.name)}"].location'
    location = np.stack([curves.get((root_path, i), np.full(count, root.location[i])) for i in range(3)], axis=1)
    orient, heads = world_rest_frames(rig.skeleton)
    root_translation = heads[0] + rig.scale * location @ orient[0].T
    return Motion(rig.skeleton, rotations, root_translation, scene.render.fps / scene.render.fps_base)


def sample_motion(obj: bpy.types.Object, rig: Rig, frames: np.ndarray, scene: bpy.types.Scene) -> Motion:
    """The motion Blender shows on `rig`'s bones at scene `frames` (T,), whatever drives them (keys,
    constraints, drivers), read back from the evaluated pose frame by frame: exact, for export."""
    from engine.motion.kinematics import local_from_world

    bones = obj.pose.bones
    ids = np.array([bones.find(n) for n in rig.bone_names])
    world = np.array(obj.matrix_world, dtype=np.float64)
    buffer = np.empty(16 * len(bones), dtype=np.float32)
    rotations = np.empty((len(frames), rig.skeleton.num_joints, 3, 3))
    root = np.empty((len(frames), 3))
    current = scene.frame_current
    try:
        for t, frame in enumerate(frames):
            scene.frame_set(int(frame))
            bones.foreach_get("matrix", buffer)
            pose = world @ np.swapaxes(buffer.reshape(-1, 4, 4), -1, -2)[ids].astype(np.float64)
            rotations[t] = axes.BLENDER_TO_ENGINE @ (pose[:, :3, :3] / rig.scale)
            root[t] = axes.points_to_engine(pose[0, :3, 3])
    finally:
        scene.frame_set(current)
    local = local_from_world(rig.skeleton, rotations)
    return Motion(rig.skeleton, local, root, scene.render.fps / scene.render.fps_base)


def _bone_rotations(pose_bone, curves: dict, count: int) -> np.ndarray:
    """(T, 3, 3) one pose bone's rotation relative to rest, from its keyed channels or its current pose."""
    from engine.rotations import euler_to_matrix, quaternion_to_matrix

    prefix = f'pose.bones["{bpy.utils.escape_identifier(pose_bone.name)}"].'
    mode = pose_bone.rotation_mode
    if mode == "QUATERNION":
        now = np.array(pose_bone.rotation_quaternion)
        q = np.stack([curves.get((prefix + "rotation_quaternion", i), np.full(count, now[i])) for i in range(4)], 1)
        return quaternion_to_matrix(q / np.linalg.norm(q, axis=1, keepdims=True))
    if mode == "AXIS_ANGLE":
        return np.broadcast_to(np.array(pose_bone.matrix_basis)[:3, :3], (count, 3, 3)).copy()
    now = np.array(pose_bone.rotation_euler)
    angles = np.stack([curves.get((prefix + "rotation_euler", i), np.full(count, now[i])) for i in range(3)], 1)
    # Blender's 'XYZ' turns about X first, i.e. R = Rz @ Ry @ Rx: the engine's order string reversed.
    order = mode[::-1]
    return euler_to_matrix(angles[:, ["XYZ".index(axis) for axis in order]], order)
