"""Write and read animation in bulk: one NEW action per call, never one keyframe_insert per frame.

Where the f-curves live differs between Blender versions (layered actions from 4.4): compat.ActionChannels
finds them. Frames are Blender scene frames; values are whatever the data path holds (quaternions
(w, x, y, z), locations in armature units, custom property values).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import bpy
import numpy as np

from . import compat

logger = logging.getLogger(__name__)

_LINEAR = 1  # Keyframe.interpolation enum value of 'LINEAR'


@dataclass(frozen=True)
class Channel:
    """One animated value: `data_path`[`index`], shown under `group` in the graph editor."""

    data_path: str
    index: int
    group: str


def new_action(obj: bpy.types.Object, name: str) -> bpy.types.Action:
    """A new, empty action named after `name` (Blender adds .001 etc. if taken), assigned to `obj`."""
    action = bpy.data.actions.new(name)
    compat.ActionChannels(action, obj, create=True).assign(obj)
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
    bag = compat.ActionChannels(action, obj, create=True)
    co = np.empty((num_frames, 2), dtype=np.float32)
    co[:, 0] = np.arange(frame_start, frame_start + num_frames, dtype=np.float32)
    interpolation = np.full(num_frames, _LINEAR, dtype=np.int32)
    for column, channel in enumerate(channels):
        fcurve = bag.new(channel.data_path, channel.index, channel.group)
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
    for fcurve in compat.ActionChannels(action, obj, create=False).fcurves:
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
