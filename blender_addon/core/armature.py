"""Build what a motion plays on: an armature on a skeleton's rest joints, and the skinned body mesh."""

from __future__ import annotations

import bpy
import numpy as np

from engine.motion.skeleton import Skeleton

from . import axes
from .rig import world_rest_frames

_MIN_BONE_LENGTH = 0.03  # metres: leaf bones with no end site get at least this length


def build_armature(
    skeleton: Skeleton, name: str, collection: bpy.types.Collection, context: bpy.types.Context
) -> bpy.types.Object:
    """A new armature object whose bones sit on `skeleton`'s rest joints (world, object at the origin).

    Each bone points at its chain child (the child continuing the parent's direction; straight up for
    the root) or, at a leaf, along its parent's direction; bones are unconnected so every joint
    keeps its exact rest position.
    """
    _, heads = world_rest_frames(skeleton)
    tails = _bone_tails(skeleton, heads)
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    collection.objects.link(obj)
    context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        edit_bones = []
        for j, joint in enumerate(skeleton.names):
            bone = data.edit_bones.new(joint)
            bone.head = axes.points_to_blender(heads[j])
            bone.tail = axes.points_to_blender(tails[j])
            bone.roll = 0.0
            if skeleton.parents[j] >= 0:
                bone.parent = edit_bones[skeleton.parents[j]]
            edit_bones.append(bone)
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
    for pose_bone in obj.pose.bones:
        pose_bone.rotation_mode = "QUATERNION"
    return obj


def _bone_tails(skeleton: Skeleton, heads: np.ndarray) -> np.ndarray:
    """(J, 3) a tail per joint: at the child continuing the chain, else along the parent's direction."""
    tails = np.empty_like(heads)
    for j, parent in enumerate(skeleton.parents):
        direction = _chain_direction(skeleton.parents, heads, j)
        children = np.flatnonzero(skeleton.parents == j)
        reach = [heads[c] - heads[j] for c in children if np.linalg.norm(heads[c] - heads[j]) > 1e-4]
        if reach:
            best = max(reach, key=lambda v: float(np.dot(v / np.linalg.norm(v), direction)))
            tails[j] = heads[j] + best
        else:
            end = skeleton.end_offsets[j]
            length = max(np.linalg.norm(end), _MIN_BONE_LENGTH)
            if parent >= 0:
                length = max(length, 0.5 * np.linalg.norm(heads[j] - heads[parent]))
            tails[j] = heads[j] + direction * length
    return tails


def _chain_direction(parents: np.ndarray, heads: np.ndarray, joint: int) -> np.ndarray:
    """Unit direction (engine frame) from the nearest ancestor whose head differs from `joint`'s, else
    straight up. A joint sitting on its parent's head (CMU's thumbs) would otherwise get a zero-length
    bone, which Blender 4.2 and 4.5 delete on leaving edit mode."""
    child, parent = joint, parents[joint]
    while parent >= 0:
        direction = heads[child] - heads[parent]
        norm = np.linalg.norm(direction)
        if norm > 1e-6:
            return direction / norm
        child, parent = parent, parents[parent]
    return np.array([0.0, 1.0, 0.0])


def build_body_mesh(
    name: str,
    vertices: np.ndarray,
    faces: np.ndarray,
    weights: np.ndarray,
    joint_names: tuple[str, ...],
    armature: bpy.types.Object,
    collection: bpy.types.Collection,
) -> bpy.types.Object:
    """A mesh skinned to `armature`: vertices (V, 3) engine world metres at rest, faces (F, 3),
    weights (V, J) over `joint_names` (the armature's bone names). Blender's linear blend skinning
    with these groups is the engine's LBS (no pose correctives)."""
    mesh = bpy.data.meshes.new(name)
    points = axes.points_to_blender(np.asarray(vertices, dtype=np.float64)).astype(np.float32)
    faces = np.asarray(faces, dtype=np.int32)
    mesh.vertices.add(points.shape[0])
    mesh.vertices.foreach_set("co", points.ravel())
    mesh.loops.add(faces.size)
    mesh.loops.foreach_set("vertex_index", faces.ravel())
    mesh.polygons.add(faces.shape[0])
    mesh.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
    mesh.update()
    mesh.validate()
    obj = bpy.data.objects.new(name, mesh)
    collection.objects.link(obj)
    weights = np.asarray(weights)
    for j, joint in enumerate(joint_names):
        group = obj.vertex_groups.new(name=joint)
        ids = np.flatnonzero(weights[:, j] > 1e-6)
        for vertex, weight in zip(ids.tolist(), weights[ids, j].tolist(), strict=True):
            group.add([vertex], weight, "REPLACE")
    modifier = obj.modifiers.new("Armature", "ARMATURE")
    modifier.object = armature
    modifier.use_deform_preserve_volume = False
    obj.parent = armature
    return obj

