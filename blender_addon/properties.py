"""The add-on's settings: one PropertyGroup per owner (Scene.planted), attached once, removed on unregister."""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)


def _is_armature(_self, obj) -> bool:
    return obj.type == "ARMATURE"


class PLANTED_PG_bone_pair(bpy.types.PropertyGroup):
    """One row of the bone map: an SMPL joint and the target rig's bone that follows it."""

    joint: StringProperty(name="SMPL joint", description="Joint of the source (SMPL) skeleton")
    bone: StringProperty(name="Bone", description="Bone of the target rig that follows the joint (empty: none)")


class PLANTED_PG_settings(bpy.types.PropertyGroup):
    """Everything the panel shows: capture, retarget and export settings of this scene."""

    # Capture
    video_path: StringProperty(name="Video", subtype="FILE_PATH", description="Video of one person to capture")
    model_source: EnumProperty(
        name="Model",
        items=(
            ("DEFAULT", "Default", "The estimation model that ships with Planted"),
            ("FILE", "File", "An ONNX model file of your own (it must follow Planted's model contract)"),
        ),
        default="DEFAULT",
    )
    model_path: StringProperty(name="Model file", subtype="FILE_PATH", description="ONNX model file")
    device: EnumProperty(
        name="Device",
        items=(
            ("auto", "Auto", "The GPU (CUDA) when it works, else the CPU"),
            ("cuda", "CUDA", "An NVIDIA GPU through ONNX Runtime's CUDA provider"),
            ("cpu", "CPU", "The processor only"),
        ),
        default="auto",
    )
    estimator: EnumProperty(
        name="Estimator",
        description="What turns the person's keypoints into motion",
        items=(
            ("fit", "Fit", "The body fitted to the keypoints over the whole clip, from a standing start"),
            ("network", "Network", "The estimation network alone: fast, coarse (the shipped model is a first one, "
             "trained on a CPU)"),
            ("network+fit", "Network + fit", "The network's poses start the fit (the most accurate today)"),
        ),
        default="network+fit",
    )
    keypoints: EnumProperty(
        name="Keypoints",
        description="The pretrained keypoint networks that find the person's joints in each frame",
        items=(
            ("fast", "Fast", "MoveNet Lightning and BlazePose lite: quickest, least accurate"),
            ("balanced", "Balanced", "MoveNet Thunder and BlazePose full: the default"),
            ("accurate", "Accurate", "MoveNet Thunder and BlazePose heavy: best on hard poses, slowest"),
        ),
        default="balanced",
    )
    use_frame_range: BoolProperty(name="Frame range", description="Capture only part of the video", default=False)
    video_frame_start: IntProperty(name="First", description="First video frame (0-based)", min=0, default=0)
    video_frame_end: IntProperty(name="Last", description="Last video frame, included (0: to the end)", min=0)
    smoothing: FloatProperty(
        name="Smoothing", description="How strongly jitter is filtered out (0: off, 1: the default, 2: strong)",
        min=0.0, max=2.0, default=1.0,
    )
    contact_sensitivity: FloatProperty(
        name="Contact sensitivity",
        description="How readily a foot counts as planted on the ground (capture and retarget)",
        min=0.0, max=1.0, default=0.5,
    )
    foot_lock: BoolProperty(name="Lock feet", description="Pin each foot while it is planted", default=True)
    build_mesh: BoolProperty(name="Body mesh", description="Also create the skinned body mesh", default=True)
    video_background: BoolProperty(
        name="Video as background", description="Show the video behind the scene camera", default=False
    )
    timing: EnumProperty(
        name="Timing",
        description="How the motion's frame rate meets the scene's",
        items=(
            ("KEEP", "Keep scene rate", "Keep the scene's frame rate and range; the motion is resampled to the "
             "scene's rate so that it plays at its own speed"),
            ("MATCH", "Match scene", "Set the scene's frame rate and range to the motion's (this retimes "
             "everything else animated in the scene)"),
        ),
        default="KEEP",
    )

    # Retarget
    source: PointerProperty(
        name="Source", type=bpy.types.Object, poll=_is_armature,
        description="Armature holding the motion (a Planted body or any SMPL-named armature)",
    )
    target: PointerProperty(
        name="Target", type=bpy.types.Object, poll=_is_armature, description="Your rig, which receives the motion"
    )
    bone_map: CollectionProperty(type=PLANTED_PG_bone_pair)
    bone_map_index: IntProperty(name="Bone", default=0)
    retarget_foot_lock: BoolProperty(
        name="Pin planted feet", description="Hold each planted foot still on the target rig (leg IK)", default=True
    )
    flat_feet: BoolProperty(
        name="Flat feet", description="Planted heels and toes rest on one flat ground level", default=False
    )
    blend_seconds: FloatProperty(
        name="Blend time", description="Time over which a foot eases onto its pin and off again",
        min=0.0, max=1.0, default=0.1, subtype="TIME_ABSOLUTE", unit="TIME_ABSOLUTE",
    )
    bake_onto: EnumProperty(
        name="Bake onto",
        description="Which bones of the target receive the keys",
        items=(
            ("CONTROLS", "Controls", "A Rigify rig's FK and IK controls (legs on IK, arms on FK): edit the result "
             "with the rig's own controls. Other rigs get their deform bones"),
            ("DEFORM", "Deform bones", "The deform bones only (what a game engine reads)"),
        ),
        default="CONTROLS",
    )
    drive_deform_bones: BoolProperty(
        name="Drive deform bones",
        description="With Bake onto Deform bones: the new action turns off the constraints on the baked bones so "
        "the keys drive them; off: the rig's controls are keyed too, and its constraints follow them",
        default=True,
    )

    # Export
    export_bones: EnumProperty(
        name="Bones",
        description="Which bones the FBX or BVH file holds",
        items=(
            ("DEFORM", "Deform bones only", "The bones that move the mesh, with their motion as it plays (for "
             "game engines)"),
            ("ALL", "All bones", "Every bone of the rig, controls and mechanism included"),
        ),
        default="DEFORM",
    )


classes = (PLANTED_PG_bone_pair, PLANTED_PG_settings)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


def register() -> None:
    _register_classes()
    bpy.types.Scene.planted = PointerProperty(type=PLANTED_PG_settings)


def unregister() -> None:
    del bpy.types.Scene.planted
    _unregister_classes()
