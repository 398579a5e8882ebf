"""Export the selected body or rig as FBX or BVH, with defaults that import cleanly elsewhere."""

from __future__ import annotations

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ExportHelper

from engine.errors import PlantedError

from ..core import export as export_core
from .common import ensure_object_mode, run_reported


def _armature(context) -> bpy.types.Object:
    obj = context.active_object
    if obj is None or obj.type != "ARMATURE":
        raise PlantedError("Select the armature to export (make it the active object) and try again.")
    return obj


class _ExportArmature(ExportHelper):
    """What both exports share: the file browser and the run. A subclass sets `export` to its format's
    core function, export(context, armature, path, deform_only) -> report line."""

    bl_options = {"REGISTER"}

    def execute(self, context):
        ensure_object_mode(context)
        deform_only = context.scene.planted.export_bones == "DEFORM"
        return run_reported(self, lambda: self.export(context, _armature(context), self.filepath, deform_only))


class PLANTED_OT_export_fbx(bpy.types.Operator, _ExportArmature):
    """Export the active armature (and its body mesh) with its action baked, as FBX"""

    bl_idname = "planted.export_fbx"
    bl_label = "Export FBX"

    filename_ext = ".fbx"
    filter_glob: StringProperty(default="*.fbx", options={"HIDDEN"})
    export = staticmethod(export_core.export_fbx)


class PLANTED_OT_export_bvh(bpy.types.Operator, _ExportArmature):
    """Export the active armature's action as BVH (y up, metres)"""

    bl_idname = "planted.export_bvh"
    bl_label = "Export BVH"

    filename_ext = ".bvh"
    filter_glob: StringProperty(default="*.bvh", options={"HIDDEN"})
    export = staticmethod(export_core.export_bvh)


classes = (PLANTED_OT_export_fbx, PLANTED_OT_export_bvh)
register, unregister = bpy.utils.register_classes_factory(classes)
