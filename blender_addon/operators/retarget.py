"""Retarget: detect, edit, save and load the bone map; bake the motion onto the target rig with planted feet."""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ExportHelper, ImportHelper

from engine.errors import PlantedError

from ..core import retarget as retarget_core
from .common import ensure_object_mode, run_reported


def _target(context) -> bpy.types.Object:
    settings = context.scene.planted
    target = settings.target
    if target is None:
        active = context.active_object
        if active is not None and active.type == "ARMATURE" and active != settings.source:
            target = active
    if target is None or target.type != "ARMATURE":
        raise PlantedError("No target armature: set Target in the Planted panel or select your rig.")
    return target


def _source(context) -> bpy.types.Object:
    source = context.scene.planted.source
    if source is None or source.type != "ARMATURE":
        raise PlantedError("No source armature: set Source to the captured (or imported) body in the Planted panel.")
    return source


class PLANTED_OT_bone_map_detect(bpy.types.Operator):
    """Map the target rig's bones to SMPL's joints by their names (Rigify, Mixamo, Unreal, MakeHuman, ...)"""

    bl_idname = "planted.bone_map_detect"
    bl_label = "Detect Bone Map"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        def work():
            target = _target(context)
            bone_map, unmapped = retarget_core.detect_bone_map(target)
            retarget_core.require_humanoid(target, bone_map)
            retarget_core.set_rows(context.scene.planted, bone_map)
            missing = f"; not found: {', '.join(unmapped)}" if unmapped else ""
            return f"Detected a {bone_map.rig} rig: {len(bone_map.joints)} of 24 joints mapped{missing}"

        return run_reported(self, work)


class PLANTED_OT_bone_map_save(bpy.types.Operator, ExportHelper):
    """Save the bone map as a JSON preset"""

    bl_idname = "planted.bone_map_save"
    bl_label = "Save Bone Map"
    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})

    def execute(self, context):
        from engine.retarget.bonemap import save_bone_map

        def work():
            bone_map = retarget_core.rows_to_bone_map(context.scene.planted, _target(context))
            path = save_bone_map(bone_map, Path(bpy.path.abspath(self.filepath)))
            return f"Saved bone map ({len(bone_map.joints)} joints) to {path.name}"

        return run_reported(self, work)


class PLANTED_OT_bone_map_load(bpy.types.Operator, ImportHelper):
    """Load a bone map JSON preset into the list"""

    bl_idname = "planted.bone_map_load"
    bl_label = "Load Bone Map"
    bl_options = {"REGISTER", "UNDO"}
    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})

    def execute(self, context):
        from engine.retarget.bonemap import load_bone_map

        def work():
            bone_map = load_bone_map(Path(bpy.path.abspath(self.filepath)))
            retarget_core.set_rows(context.scene.planted, bone_map)
            return f"Loaded bone map '{bone_map.rig}' ({len(bone_map.joints)} joints)"

        return run_reported(self, work)


class PLANTED_OT_retarget(bpy.types.Operator):
    """Bake the source motion onto the target rig as a new action, with planted feet pinned on the target"""

    bl_idname = "planted.retarget"
    bl_label = "Retarget and Bake"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        ensure_object_mode(context)
        settings = context.scene.planted

        def work():
            source, target = _source(context), _target(context)
            if not settings.bone_map:
                bone_map, _ = retarget_core.detect_bone_map(target)
                retarget_core.set_rows(settings, bone_map)
            bone_map = retarget_core.rows_to_bone_map(settings, target)
            options = retarget_core.RetargetOptions(
                foot_lock=settings.retarget_foot_lock, flat_feet=settings.flat_feet,
                blend_seconds=settings.blend_seconds, contact_sensitivity=settings.contact_sensitivity,
                drive_deform_bones=settings.drive_deform_bones, bake_onto=settings.bake_onto,
            )
            outcome = retarget_core.retarget_onto(context, source, target, bone_map, options)
            return outcome.summary(target.name)

        return run_reported(self, work)


classes = (PLANTED_OT_bone_map_detect, PLANTED_OT_bone_map_save, PLANTED_OT_bone_map_load, PLANTED_OT_retarget)
register, unregister = bpy.utils.register_classes_factory(classes)
