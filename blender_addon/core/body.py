"""Put a motion into the scene: a new collection holding an armature, its action, and the skinned body.

Nothing existing is modified or renamed: every datablock is new, and Blender suffixes names that
are taken (".001"), so new names never collide with the user's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import bpy
import numpy as np

from engine.body.model import BodyModel
from engine.motion.motion import Motion
from engine.motion.resample import resample_motion, scene_frame_of
from engine.rotations import sign_continuous

from . import armature, keyframes, markers, rig, timing

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BodyObjects:
    """What `create_body` made (names, so that they survive undo)."""

    collection: str
    armature: str
    action: str
    mesh: str | None
    frames: int = 0  # keys of the new action, one per scene frame
    fps: float = 0.0  # the rate they are keyed at (the scene's, after a match_scene the motion's)

    def timing_note(self, source_frames: int, source_fps: float) -> str:
        """How the source's frames became the scene's, for a report line."""
        if abs(self.fps - source_fps) < 1e-6 * source_fps:
            return f"{self.frames} frames at {self.fps:g} fps"
        return (f"{source_frames} frames at {source_fps:g} fps, resampled to {self.frames} frames at the "
                f"scene's {self.fps:g} fps")


@dataclass(frozen=True)
class BodyShape:
    """The body model and shape of a captured person: betas (10,)."""

    model: BodyModel
    betas: np.ndarray


def create_body(
    context: bpy.types.Context,
    motion: Motion,
    name: str,
    shape: BodyShape | None = None,
    frame_start: int = 1,
    intervals: dict[str, list[tuple[int, int]]] | None = None,
    match_scene: bool = True,
) -> BodyObjects:
    """Build `motion` as a new armature (bones named like its joints) with a new action keyed from
    frame_start, contact curves when the motion has contacts, planted interval markers when given
    (motion frames, 0-based), and the skinned mesh of `shape` when given.

    match_scene: set the scene's frame rate and range to the motion's (T frames at its fps). Otherwise
    the scene's rate and range are left alone and the motion is resampled to the scene's rate
    (engine.motion.resample), so it plays at its own speed: 120 fps mocap becomes 24 keys a second in a 24 fps scene.
    """
    source_fps = float(motion.fps)
    if not match_scene:
        motion = resample_motion(motion, timing.scene_fps(context.scene))
        if intervals:
            intervals = {foot: [(scene_frame_of(a, source_fps, motion.fps),
                                 scene_frame_of(b, source_fps, motion.fps)) for a, b in spans]
                         for foot, spans in intervals.items()}
    collection = bpy.data.collections.new(name)
    context.scene.collection.children.link(collection)
    arm_obj = armature.build_armature(motion.skeleton, name, collection, context)
    write_motion(arm_obj, rig.rig_from_armature(arm_obj), motion, name, frame_start)
    action = arm_obj.animation_data.action
    if motion.contacts is not None:
        markers.write_contact_curves(arm_obj, action, motion.contacts.probability, frame_start)
    if intervals:
        markers.add_interval_markers(context.scene, intervals, frame_start, arm_obj.name)
    mesh_name = None
    if shape is not None:
        mesh_obj = _body_mesh(shape, motion, arm_obj, collection, name)
        mesh_name = mesh_obj.name
    if match_scene:
        _match_scene(context.scene, motion, frame_start)
    for obj in context.view_layer.objects:
        obj.select_set(False)
    arm_obj.select_set(True)
    context.view_layer.objects.active = arm_obj
    return BodyObjects(collection.name, arm_obj.name, action.name, mesh_name, motion.num_frames, float(motion.fps))


def write_motion(obj: bpy.types.Object, target: rig.Rig, motion: Motion, name: str, frame_start: int):
    """Key `motion` onto `target`'s pose bones in a new action: quaternions on every bone that moves,
    location on its free bones (the root, ...); bones that never move get their (constant) pose without
    keys. The baked bones are switched to quaternion rotation."""
    quaternions, location = rig.pose_channels(motion, target)
    quaternions = sign_continuous(quaternions)
    moving = np.ptp(quaternions, axis=0).max(axis=-1) > 1e-7
    moving[list(target.free)] = True
    channels, columns = [], []
    for j in np.flatnonzero(moving):
        bone = target.bone_names[j]
        path = f'pose.bones["{bpy.utils.escape_identifier(bone)}"].rotation_quaternion'
        channels += [keyframes.Channel(path, i, bone) for i in range(4)]
        columns.append(quaternions[:, j])
    for r, j in enumerate(target.free):
        root = target.bone_names[j]
        root_path = f'pose.bones["{bpy.utils.escape_identifier(root)}"].location'
        channels += [keyframes.Channel(root_path, i, root) for i in range(3)]
        columns.append(location[:, r])
    values = np.concatenate(columns, axis=1)
    for j, bone in enumerate(target.bone_names):
        pose_bone = obj.pose.bones[bone]
        pose_bone.rotation_mode = "QUATERNION"
        pose_bone.location = (0.0, 0.0, 0.0)
        pose_bone.scale = (1.0, 1.0, 1.0)
        pose_bone.rotation_quaternion = quaternions[0, j]
    action = keyframes.new_action(obj, name)
    keyframes.write_channels(action, obj, channels, values, frame_start)
    return action


def _body_mesh(shape: BodyShape, motion: Motion, arm_obj, collection, name):
    model = shape.model
    rest_joints = model.rest_joints(shape.betas)
    skeleton_rest = rig.world_rest_frames(motion.skeleton)[1]
    names = motion.skeleton.names
    if tuple(model.joint_names) == tuple(names):
        gap = float(np.abs(rest_joints - skeleton_rest).max())
        if gap > 1e-3:
            logger.warning("body mesh joints differ from the motion's skeleton by %.1f mm", gap * 1e3)
    return armature.build_body_mesh(
        f"{name} body", model.rest_vertices(shape.betas), model.faces, model.weights, tuple(model.joint_names),
        arm_obj, collection,
    )


def _match_scene(scene: bpy.types.Scene, motion: Motion, frame_start: int) -> None:
    fps = float(motion.fps)
    rounded = max(1, int(round(fps)))
    scene.render.fps = rounded
    scene.render.fps_base = rounded / fps
    scene.frame_start = frame_start
    scene.frame_end = frame_start + motion.num_frames - 1
