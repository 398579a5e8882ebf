"""Import a motion file (Planted/AMASS .npz or .bvh) as a new armature with its action."""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ImportHelper

from engine.errors import PlantedError

from ..core import body
from .common import ensure_object_mode, run_reported


def import_motion_file(context: bpy.types.Context, path: str, match_scene: bool, build_mesh: bool) -> str:
    """Build the motion in `path` into the scene. Returns the report line."""
    source = Path(bpy.path.abspath(path))
    if not source.is_file():
        raise PlantedError(f"Motion file not found: {source}. Choose an existing .npz or .bvh file.")
    suffix = source.suffix.lower()
    shape = None
    if suffix == ".bvh":
        from engine.motion.bvh import read_bvh

        motion = read_bvh(source)
    elif suffix == ".npz":
        from engine.body.active import load_active_body_model
        from engine.capture.motion_file import read_motion_file

        loaded = read_motion_file(source)
        motion = loaded.motion
        if build_mesh and "betas" in loaded.arrays:
            shape = body.BodyShape(load_active_body_model(), loaded.arrays["betas"])
    else:
        raise PlantedError(f"{source.name}: not a motion file Planted reads (.npz or .bvh).")
    made = body.create_body(context, motion, source.stem, shape=shape, match_scene=match_scene)
    return f"Imported {source.name} into '{made.armature}': {made.timing_note(motion.num_frames, motion.fps)}"


class PLANTED_OT_import_motion(bpy.types.Operator, ImportHelper):
    """Import a motion file (.npz from Planted or AMASS, or .bvh) as a new armature with a new action"""

    bl_idname = "planted.import_motion"
    bl_label = "Import Motion"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: StringProperty(default="*.npz;*.bvh", options={"HIDDEN"})

    def execute(self, context):
        ensure_object_mode(context)
        settings = context.scene.planted
        return run_reported(
            self, lambda: import_motion_file(context, self.filepath, settings.timing == "MATCH", settings.build_mesh)
        )


classes = (PLANTED_OT_import_motion,)
register, unregister = bpy.utils.register_classes_factory(classes)
