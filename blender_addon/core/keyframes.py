"""Write and read animation in bulk: one NEW action per call, never one keyframe_insert per frame.

Blender 4.4+ stores f-curves in layered actions (action.layers[].strips[].channelbags[].fcurves, bound
to the object through an action slot); 4.2 and 4.3 keep them on action.fcurves. `_Channels` hides the
difference. Frames are Blender scene frames; values are whatever the data path holds (quaternions
(w, x, y, z), locations in armature units, custom property values).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import bpy
import numpy as np

logger = logging.getLogger(__name__)

_LINEAR = 1  # Keyframe.interpolation enum value of 'LINEAR'
_LAYERED = bpy.app.version >= (4, 4, 0)


@dataclass(frozen=True)
class Channel:
    """One animated value: `data_path`[`index`], shown under `group` in the graph editor."""

    data_path: str
    index: int
    group: str


class _Channels:
    """Creates and finds f-curves of one action for one object, on either action API."""

    def __init__(self, action: bpy.types.Action, obj: bpy.types.Object, create: bool):
        self.action = action
        if _LAYERED:
            slot = _slot_for(action, obj, create)
            self._bag = None
            if slot is not None:
                if create and not action.layers:
                    action.layers.new("Layer").strips.new(type="KEYFRAME")
                strips = [s for layer in action.layers for s in layer.strips]
                if strips:
                    self._bag = strips[0].channelbag(slot, ensure=create)
            self.slot = slot
        else:
            self.slot = None

    @property
    def fcurves(self):
        if _LAYERED:
            return self._bag.fcurves if self._bag is not None else ()
        return self.action.fcurves

    def new(self, channel: Channel) -> bpy.types.FCurve:
        if _LAYERED:
            return self._bag.fcurves.new(channel.data_path, index=channel.index, group_name=channel.group)
        return self.action.fcurves.new(channel.data_path, index=channel.index, action_group=channel.group)


def _slot_for(action, obj, create: bool):
    anim = obj.animation_data
    if anim is not None and anim.action == action and anim.action_slot is not None:
        return anim.action_slot
    for slot in action.slots:
        if slot.target_id_type == "OBJECT":
            return slot
    if create:
        return action.slots.new(id_type="OBJECT", name=obj.name)
    return None


def new_action(obj: bpy.types.Object, name: str) -> bpy.types.Action:
    """A new, empty action named after `name` (Blender adds .001 etc. if taken), assigned to `obj`."""
    action = bpy.data.actions.new(name)
    if obj.animation_data is None:
        obj.animation_data_create()
    channels = _Channels(action, obj, create=True)
    obj.animation_data.action = action
    if _LAYERED:
        obj.animation_data.action_slot = channels.slot
    return action


def write_channels(
    action: bpy.types.Action, obj: bpy.types.Object, channels: list[Channel], values: np.ndarray, frame_start: int
) -> None:
    """Key `values` (T, C) on `channels` (C) at frames frame_start .. frame_start + T - 1, linear.

    Every f-curve is filled with one `keyframe_points.add(T)` and one `foreach_set('co', ...)`.
    """
    values = np.asarray(values, dtype=np.float32)
    num_frames = values.shape[0]
    if values.shape[1] != len(channels):
        raise ValueError(f"values have {values.shape[1]} columns for {len(channels)} channels")
    bag = _Channels(action, obj, create=True)
    co = np.empty((num_frames, 2), dtype=np.float32)
    co[:, 0] = np.arange(frame_start, frame_start + num_frames, dtype=np.float32)
    interpolation = np.full(num_frames, _LINEAR, dtype=np.int32)
    for column, channel in enumerate(channels):
        fcurve = bag.new(channel)
        points = fcurve.keyframe_points
        points.add(num_frames)
        co[:, 1] = values[:, column]
        points.foreach_set("co", co.ravel())
        points.foreach_set("interpolation", interpolation)
        fcurve.update()


def read_channels(
    action: bpy.types.Action, obj: bpy.types.Object, frames: np.ndarray
) -> dict[tuple[str, int], np.ndarray]:
    """Every f-curve of `obj`'s slot in `action`, sampled at `frames` (T,): {(data_path, index): (T,)}.

    Curves keyed on exactly those frames are read in bulk; any other curve is evaluated frame by frame.
    """
    frames = np.asarray(frames, dtype=np.float64)
    out = {}
    for fcurve in _Channels(action, obj, create=False).fcurves:
        points = fcurve.keyframe_points
        co = np.empty(2 * len(points), dtype=np.float32)
        points.foreach_get("co", co)
        co = co.reshape(-1, 2)
        if co.shape[0] == frames.shape[0] and np.array_equal(co[:, 0], frames.astype(np.float32)):
            values = co[:, 1].astype(np.float64)
        else:
            values = np.array([fcurve.evaluate(f) for f in frames])
        out[(fcurve.data_path, fcurve.array_index)] = values
    return out


def action_frame_range(action: bpy.types.Action) -> tuple[int, int]:
    """The first and last keyed frame of `action`, rounded to whole frames."""
    start, end = action.frame_range
    return int(round(start)), int(round(end))
