"""The 3D Viewport sidebar tab "Planted": capture, retarget, export. Panels only draw; operators act."""

from __future__ import annotations

import bpy

from .operators.capture import PLANTED_OT_capture
from .operators.export import PLANTED_OT_export_bvh, PLANTED_OT_export_fbx
from .operators.motion_import import PLANTED_OT_import_motion
from .operators.retarget import (
    PLANTED_OT_bone_map_detect,
    PLANTED_OT_bone_map_load,
    PLANTED_OT_bone_map_save,
    PLANTED_OT_retarget,
)


class _PlantedPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Planted"


class PLANTED_UL_bone_map(bpy.types.UIList):
    """Rows of the bone map: SMPL joint on the left, the target rig's bone (editable) on the right."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        target = context.scene.planted.target
        row = layout.row(align=True)
        row.label(text=item.joint)
        if target is not None and target.type == "ARMATURE":
            row.prop_search(item, "bone", target.data, "bones", text="")
        else:
            row.prop(item, "bone", text="")


class VIEW3D_PT_planted_capture(_PlantedPanel, bpy.types.Panel):
    bl_label = "Capture"

    def draw(self, context):
        settings = context.scene.planted
        layout = self.layout
        layout.prop(settings, "video_path")
        layout.prop(settings, "model_source")
        if settings.model_source == "FILE":
            layout.prop(settings, "model_path")
        layout.prop(settings, "device")
        layout.prop(settings, "estimator")
        layout.prop(settings, "keypoints")
        row = layout.row(align=True)
        row.prop(settings, "use_frame_range")
        sub = row.row(align=True)
        sub.enabled = settings.use_frame_range
        sub.prop(settings, "video_frame_start")
        sub.prop(settings, "video_frame_end")
        layout.prop(settings, "smoothing", slider=True)
        layout.prop(settings, "contact_sensitivity", slider=True)
        layout.prop(settings, "foot_lock")
        layout.prop(settings, "build_mesh")
        layout.prop(settings, "video_background")
        layout.prop(settings, "timing")
        layout.operator(PLANTED_OT_capture.bl_idname, icon="SEQUENCE")
        layout.operator(PLANTED_OT_import_motion.bl_idname, icon="IMPORT")


class VIEW3D_PT_planted_retarget(_PlantedPanel, bpy.types.Panel):
    bl_label = "Retarget"

    def draw(self, context):
        settings = context.scene.planted
        layout = self.layout
        layout.prop(settings, "source")
        layout.prop(settings, "target")
        row = layout.row(align=True)
        row.operator(PLANTED_OT_bone_map_detect.bl_idname, icon="BONE_DATA")
        row.operator(PLANTED_OT_bone_map_load.bl_idname, text="", icon="FILEBROWSER")
        row.operator(PLANTED_OT_bone_map_save.bl_idname, text="", icon="FILE_TICK")
        layout.template_list(
            PLANTED_UL_bone_map.__name__, "", settings, "bone_map", settings, "bone_map_index", rows=6
        )
        layout.prop(settings, "retarget_foot_lock")
        col = layout.column()
        col.enabled = settings.retarget_foot_lock
        col.prop(settings, "flat_feet")
        col.prop(settings, "blend_seconds")
        col.prop(settings, "contact_sensitivity", slider=True)
        layout.prop(settings, "bake_onto")
        row = layout.row()
        row.enabled = settings.bake_onto == "DEFORM"
        row.prop(settings, "drive_deform_bones")
        layout.operator(PLANTED_OT_retarget.bl_idname, icon="ARMATURE_DATA")


class VIEW3D_PT_planted_export(_PlantedPanel, bpy.types.Panel):
    bl_label = "Export"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        self.layout.prop(context.scene.planted, "export_bones")
        row = self.layout.row(align=True)
        row.operator(PLANTED_OT_export_fbx.bl_idname, icon="EXPORT")
        row.operator(PLANTED_OT_export_bvh.bl_idname, icon="EXPORT")


classes = (PLANTED_UL_bone_map, VIEW3D_PT_planted_capture, VIEW3D_PT_planted_retarget, VIEW3D_PT_planted_export)
register, unregister = bpy.utils.register_classes_factory(classes)
