"""Retarget in Blender: read the source armature's motion, run the engine's retarget and foot-pinning IK on
the target rig's skeleton, and bake the result into a new action on the target.

The engine solves on the target's deform skeleton. Onto a Rigify rig with Bake onto = Controls (the
default there) the result is keyed on its FK and IK controls (core.control_rig) and the rig's own
constraints drive its deform bones while it plays. Otherwise bones are baked as pose channels of the
deform bones (and their ancestors). Rigs whose deform bones follow control bones through constraints
(Rigify's DEF- bones copy its ORG/tweak bones) would ignore those keys: with `drive_deform_bones` the new
action keys the influence of those constraints to 0, so while it plays the baked deform skeleton moves
the mesh exactly as the engine computed (what game export needs); without it the constraints move the
deform bones, so a Rigify rig's controls are keyed instead (as with Controls). The constraints
themselves (mute, influence setting) are never edited, and the action the rig had before is kept with a
fake user (core.safekeeping); a failed bake leaves the rig as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

from engine.body.joints import SMPL_JOINT_NAMES
from engine.errors import PlantedError
from engine.motion.motion import Contacts, Motion
from engine.retarget.bonemap import BoneMap

from . import body, control_rig, keyframes, markers, rig, safekeeping


@dataclass(frozen=True)
class RetargetOptions:
    """foot_lock: pin planted feet on the target; flat_feet: planted feet lie flat; blend_seconds: pinning
    fades in/out over this long; contact_sensitivity in [0, 1]: how readily a foot counts as planted;
    drive_deform_bones: key the constraints on baked deform bones off; bake_onto: "CONTROLS" (a Rigify rig's
    FK/IK controls; other rigs get their deform bones) or "DEFORM"."""

    foot_lock: bool = True
    flat_feet: bool = False
    blend_seconds: float = 0.1
    contact_sensitivity: float = 0.5
    drive_deform_bones: bool = True
    bake_onto: str = "CONTROLS"


def lock_settings(contact_sensitivity: float, flat_feet: bool, blend_seconds: float):
    """The engine's FootLockSettings from the panel's words: sensitivity 0.5 gives the engine's default
    hysteresis (on 0.6, off 0.4); 1 plants at 0.3, 0 only at 0.9."""
    from engine.retarget.footlock import FootLockSettings

    on = 0.9 - 0.6 * float(np.clip(contact_sensitivity, 0.0, 1.0))
    return FootLockSettings(contact_on=on, contact_off=on - 0.2, blend_seconds=blend_seconds,
                            level_planted_feet=flat_feet)


@dataclass(frozen=True)
class RetargetOutcome:
    """What a retarget did: the new action's name, FS (mm) before and after pinning, how many constraints
    the new action turns off (keyed influence 0), and the user's previous action, kept (fake user)."""

    action: str
    fs_before_mm: float | None
    fs_after_mm: float | None
    constraints_off: int
    frames: int
    planted: np.ndarray | None = None  # (T, 4) the source's planted heel/toe frames (left heel, toe, right ...)
    kept_action: str | None = None
    controls: int = 0  # controls keyed (Rigify's FK and IK controls), 0 for a deform-bone bake

    def summary(self, target: str) -> str:
        line = f"Baked {self.frames} frames onto '{target}' as the new action '{self.action}'"
        if self.controls:
            line += f" on {self.controls} of its controls (legs on IK, arms on FK)"
        if self.fs_before_mm is not None and self.fs_after_mm is not None:
            planted = None if self.planted is None else int(self.planted.any(axis=1).sum())
            over = "" if planted is None else f" over the source's {planted} planted frames"
            line += f"; foot sliding{over} {self.fs_before_mm:.2f} mm -> {self.fs_after_mm:.2f} mm"
        if self.constraints_off:
            line += (f"; it keys the influence of {self.constraints_off} constraints on the baked bones to 0 "
                     "(the constraints themselves are unchanged)")
        if self.kept_action:
            line += (f"; your action '{self.kept_action}' is kept (fake user): pick it in the Action Editor "
                     "to switch back")
        return line


def detect_bone_map(target: bpy.types.Object) -> tuple[BoneMap, list[str]]:
    """The engine's name-based bone map for the target armature, and the SMPL joints it could not map."""
    from engine.retarget.rigs import auto_map

    return auto_map(rig.rig_from_armature(target, rig.bake_bone_names(target)).skeleton)


def require_humanoid(target: bpy.types.Object, bone_map: BoneMap) -> None:
    """PlantedError when the detected map lacks the joints a retarget needs (the rig is not a humanoid
    Planted knows by its bone names), naming what the user can do in the panel."""
    from engine.retarget.bonemap import REQUIRED_JOINTS

    missing = [joint for joint in REQUIRED_JOINTS if joint not in bone_map.joints]
    if missing:
        raise PlantedError(
            f"Detect Bone Map found no humanoid bones in '{target.name}' (no bone named like {', '.join(missing[:3])}"
            f"{', ...' if len(missing) > 3 else ''}): choose a humanoid rig as Target, or fill the bone map "
            "list by hand (or Load Bone Map).")


def set_rows(settings, bone_map: BoneMap) -> None:
    """Show `bone_map` in the panel's editable list: one row per SMPL joint, in SMPL's order."""
    settings.bone_map.clear()
    for joint in SMPL_JOINT_NAMES:
        row = settings.bone_map.add()
        row.joint = joint
        row.bone = bone_map.joints.get(joint, "")
    settings.bone_map_index = 0


def rows_to_bone_map(settings, target: bpy.types.Object) -> BoneMap:
    """The bone map the user sees in the list; PlantedError if it names bones the target lacks."""
    joints = {row.joint: row.bone for row in settings.bone_map if row.bone}
    missing = [bone for bone in joints.values() if bone not in target.data.bones]
    if missing:
        raise PlantedError(f"The bone map names bones '{target.name}' does not have: {', '.join(missing[:6])}.")
    return BoneMap(joints=joints, rig="custom")


def source_motion(context: bpy.types.Context, source: bpy.types.Object) -> Motion:
    """The motion on the source armature (its action), with the contact curves as its contacts."""
    anim = source.animation_data
    if anim is None or anim.action is None:
        raise PlantedError(f"Armature '{source.name}' has no action: capture or import a motion first.")
    motion = rig.motion_from_action(source, anim.action, context.scene)
    start, _ = keyframes.action_frame_range(anim.action)
    frames = np.arange(start, start + motion.num_frames, dtype=np.float64)
    contacts = markers.read_contact_curves(source, anim.action, frames)
    if contacts is None:
        return motion
    return Motion(motion.skeleton, motion.rotations, motion.root_translation, motion.fps, Contacts(contacts))


def retarget_onto(
    context: bpy.types.Context, source: bpy.types.Object, target: bpy.types.Object, bone_map: BoneMap,
    options: RetargetOptions,
) -> RetargetOutcome:
    """Bake `source`'s motion onto `target` (a new action), pinned feet computed on the target's skeleton."""
    if source == target:
        raise PlantedError("Source and target are the same armature: choose your rig as the target.")
    bone_map.require()
    motion = source_motion(context, source)
    # The engine solves on the mapped bones and their ancestors; every other deform bone keeps its rest
    # pose relative to its parent (what the engine does with unmapped joints), unkeyed.
    mapped = tuple(bone_map.joints.values())
    baked = rig.bake_bone_names(target, mapped)
    # The engine solves on the mapped bones, their twins and the ancestors of both; every other deform
    # bone keeps its rest pose relative to its parent (what the engine does with unmapped joints).
    twins = rig.find_twins(target, baked, of=mapped)
    solved = rig.rig_from_armature(target, rig.bake_bone_names(target, mapped + tuple(twins), deform=False))
    result = engine_retarget(motion, solved, bone_map, options)
    start, _ = keyframes.action_frame_range(source.animation_data.action)
    kept = target.animation_data.action if target.animation_data is not None else None
    has_controls = control_rig.is_control_rig(target)
    # With Drive deform bones off the rig's constraints move its deform bones: only keys on its controls play.
    onto_controls = has_controls and (options.bake_onto == "CONTROLS" or not options.drive_deform_bones)
    drive = options.drive_deform_bones and not onto_controls
    posed = tuple(b.name for b in target.pose.bones) if has_controls else baked
    name = f"{target.name} {source.name}"
    with safekeeping.restored_on_failure(target, posed):
        _reset_pose(target, posed)
        controls = 0
        if onto_controls:
            action = keyframes.new_action(target, name)
            controls = len(control_rig.bake_controls(target, action, solved, result.motion, start).controls)
        else:
            action = body.write_motion(target, solved, result.motion, name, start)
        planted = None
        if result.report is not None:
            planted = np.asarray(result.report.planted, dtype=bool)
            feet = np.stack([planted[:, 0] | planted[:, 1], planted[:, 2] | planted[:, 3]], axis=1)
            markers.write_contact_curves(target, action, feet.astype(np.float32), start)
        off = _key_constraints_off(target, action, baked, start) if drive else 0
    kept_name = safekeeping.keep_action(kept if kept is not action else None)
    return RetargetOutcome(action.name, result.fs_before_mm, result.fs_after_mm, off, result.motion.num_frames,
                           planted, kept_name, controls)


@dataclass(frozen=True)
class EngineRetarget:
    """motion: on the rig's skeleton (pinned when asked); report: the engine's FootLockReport or None."""

    motion: Motion
    report: object | None

    @property
    def fs_before_mm(self) -> float | None:
        return None if self.report is None else self.report.fs_before_mm

    @property
    def fs_after_mm(self) -> float | None:
        return None if self.report is None else self.report.fs_after_mm


def engine_retarget(motion: Motion, target: rig.Rig, bone_map: BoneMap, options: RetargetOptions) -> EngineRetarget:
    """The engine's retarget onto the rig's skeleton, then its foot-contact-pinned IK there."""
    from engine.retarget.footlock import lock_feet
    from engine.retarget.retarget import retarget

    retargeted = retarget(motion, target.skeleton, bone_map)
    if not options.foot_lock:
        return EngineRetarget(retargeted, None)
    settings = lock_settings(options.contact_sensitivity, options.flat_feet, options.blend_seconds)
    locked, report = lock_feet(retargeted, retargeted.contacts, settings, bone_map)
    return EngineRetarget(locked, report)


def _reset_pose(obj: bpy.types.Object, bone_names: tuple[str, ...]) -> None:
    """Put the bones at rest (no pose-mode offsets left over from before the bake)."""
    for name in bone_names:
        pose_bone = obj.pose.bones[name]
        pose_bone.location = (0.0, 0.0, 0.0)
        pose_bone.rotation_quaternion = (1.0, 0.0, 0.0, 0.0)
        pose_bone.rotation_euler = (0.0, 0.0, 0.0)
        pose_bone.scale = (1.0, 1.0, 1.0)


def _key_constraints_off(obj: bpy.types.Object, action: bpy.types.Action, bone_names: tuple[str, ...],
                         frame: int) -> int:
    """Key influence 0 (one key at `frame`, held) in `action` for the live constraints of the baked bones,
    so the action's keys drive them while it plays; returns how many. Muted constraints are left out."""
    channels = []
    for name in bone_names:
        bone = bpy.utils.escape_identifier(name)
        for constraint in obj.pose.bones[name].constraints:
            if not constraint.mute:
                path = f'pose.bones["{bone}"].constraints["{bpy.utils.escape_identifier(constraint.name)}"].influence'
                channels.append(keyframes.Channel(path, 0, "Planted: constraints off"))
    if channels:
        keyframes.write_channels(action, obj, channels, np.zeros((1, len(channels))), frame)
    return len(channels)
