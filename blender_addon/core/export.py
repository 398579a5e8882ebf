"""FBX and BVH export of an armature (and its skinned meshes), written atomically.

FBX: y up / -z forward (what game engines and DCC tools expect), metres written as FBX units, no
leaf bones, the armature's current action baked on every frame, nothing simplified.
BVH: the engine's writer (y up, metres, world-aligned joint frames, ZYX channels), so it reads like
any mocap file instead of Blender's z-up export.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import bpy
import numpy as np

from engine.atomic import atomic_path
from engine.errors import PlantedError

from . import keyframes, timing
from .rig import bake_bone_names, rig_from_armature, sample_motion


def _check_target(path: str, suffix: str, name: str) -> Path:
    """The file to write: `path` with `suffix`; a folder (an existing one, or a path ending in a
    separator, as the file browser gives with an empty file name) gets the file name `name` + suffix."""
    if not path:
        raise PlantedError(f"Choose a file to write ({suffix}).")
    given = bpy.path.abspath(path)
    if os.path.isdir(given) or given.endswith(("/", os.sep)):
        target = Path(given) / f"{bpy.path.clean_name(name)}{suffix}"
    else:
        target = Path(given).with_suffix(suffix)
    if not target.parent.is_dir():
        raise PlantedError(f"Folder {target.parent} does not exist: choose another place to save.")
    if not os.access(target.parent, os.W_OK):
        raise PlantedError(f"Folder {target.parent} is not writable: choose another place to save.")
    return target


def _action_of(obj: bpy.types.Object) -> bpy.types.Action:
    anim = obj.animation_data
    if anim is None or anim.action is None:
        raise PlantedError(f"Armature '{obj.name}' has no action to export: capture or retarget a motion first.")
    return anim.action


@contextmanager
def _selected(context: bpy.types.Context, objects: list[bpy.types.Object]):
    """Select exactly `objects` (first one active) for an exporter, then restore the user's selection."""
    layer = context.view_layer
    before = [o for o in layer.objects if o.select_get()]
    active = layer.objects.active
    try:
        for obj in before:
            obj.select_set(False)
        for obj in objects:
            obj.select_set(True)
        layer.objects.active = objects[0]
        yield
    finally:
        for obj in objects:
            obj.select_set(False)
        for obj in before:
            obj.select_set(True)
        layer.objects.active = active


def export_fbx(context: bpy.types.Context, armature: bpy.types.Object, path: str, deform_only: bool = True) -> str:
    """Write `armature`, the meshes it deforms, and its action to `path` (.fbx); `deform_only`: only its
    deform bones (their motion as Blender evaluates it), else every bone. Returns a report line."""
    target = _check_target(path, ".fbx", armature.name)
    action = _action_of(armature)
    meshes = [o for o in armature.children if o.type == "MESH"]
    start, end = keyframes.action_frame_range(action)
    scene = context.scene
    frame_range = scene.frame_start, scene.frame_end
    scene.frame_start, scene.frame_end = start, end
    try:
        with _selected(context, [armature, *meshes]), atomic_path(target, what="FBX") as temp:
            result = bpy.ops.export_scene.fbx(
                filepath=str(temp), check_existing=False, use_selection=True,
                object_types={"ARMATURE", "MESH"}, global_scale=1.0, apply_unit_scale=True,
                apply_scale_options="FBX_SCALE_UNITS", axis_forward="-Z", axis_up="Y",
                add_leaf_bones=False, primary_bone_axis="Y", secondary_bone_axis="X",
                armature_nodetype="NULL", use_armature_deform_only=deform_only,
                bake_anim=True, bake_anim_use_all_bones=True, bake_anim_use_nla_strips=False,
                bake_anim_use_all_actions=False, bake_anim_force_startend_keying=True, bake_anim_step=1.0,
                bake_anim_simplify_factor=0.0, use_mesh_modifiers=False, path_mode="AUTO",
            )
            if "FINISHED" not in result:
                raise PlantedError(f"Blender's FBX exporter did not finish writing {target}.")
    finally:
        scene.frame_start, scene.frame_end = frame_range
    if deform_only:
        deform = sum(b.use_deform for b in armature.data.bones)
        bones = f"{len(bake_bone_names(armature))} bones ({deform} deform bones and the bones they hang from)"
    else:
        bones = f"all {len(armature.data.bones)} bones"
    return (f"Wrote {target}: {armature.name}, {bones}, {len(meshes)} mesh(es), frames {start}-{end} at "
            f"{timing.scene_fps(scene):g} fps, {_size(target)}")


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB"


def export_bvh(context: bpy.types.Context, armature: bpy.types.Object, path: str, deform_only: bool = True) -> str:
    """Write `armature`'s action to `path` (.bvh) with the engine's BVH writer: its deform bones and their
    ancestors (`deform_only`), else every bone. Returns a report line."""
    from engine.motion.bvh import write_bvh

    target = _check_target(path, ".bvh", armature.name)
    # The deform bones and their ancestors: the skeleton a game or DCC tool wants (all of a simple rig),
    # as Blender evaluates it on every frame of the action.
    start, end = keyframes.action_frame_range(_action_of(armature))
    rig = rig_from_armature(armature, bake_bone_names(armature) if deform_only else None)
    motion = sample_motion(armature, rig, np.arange(start, end + 1), context.scene)
    write_bvh(motion, target)  # the writer converts bone frames to BVH's and writes atomically
    return (f"Wrote {target}: {motion.skeleton.num_joints} joints, frames {start}-{end} "
            f"({motion.num_frames}) at {motion.fps:g} fps")
