"""Planted intervals made visible: a per-foot contact curve on the armature and timeline markers.

The curves are custom properties of the armature object ("planted_contact_L", "planted_contact_R"),
keyed in the motion's action, so they travel with it; the retarget operator reads them back as
the motion's contacts.
"""

from __future__ import annotations

import bpy
import numpy as np

from . import keyframes

CONTACT_PROPERTIES = ("planted_contact_L", "planted_contact_R")  # (left foot, right foot)
_MARKER_PREFIX = "planted"


def write_contact_curves(obj: bpy.types.Object, action: bpy.types.Action, probability: np.ndarray, frame_start: int):
    """Key each foot's contact probability (T, 2) in [0, 1] (columns left, right) as a custom property curve."""
    for name in CONTACT_PROPERTIES:
        obj[name] = 0.0
        obj.id_properties_ui(name).update(min=0.0, max=1.0, description="Planted: foot contact probability")
    channels = [keyframes.Channel(f'["{name}"]', 0, "Planted contacts") for name in CONTACT_PROPERTIES]
    keyframes.write_channels(action, obj, channels, np.asarray(probability), frame_start)


def read_contact_curves(obj: bpy.types.Object, action: bpy.types.Action, frames: np.ndarray) -> np.ndarray | None:
    """(T, 2) contact probabilities sampled at `frames`, or None when the action has no contact curves."""
    values = keyframes.read_channels(action, obj, frames)
    columns = [values.get((f'["{name}"]', 0)) for name in CONTACT_PROPERTIES]
    if any(c is None for c in columns):
        return None
    return np.clip(np.stack(columns, axis=1), 0.0, 1.0)


def add_interval_markers(
    scene: bpy.types.Scene, intervals: dict[str, list[tuple[int, int]]], frame_start: int, label: str
) -> list[bpy.types.TimelineMarker]:
    """Timeline markers at the start ("<label> L down") and end ("<label> L up") of each planted interval.

    intervals: foot ("L" or "R") -> [(first, last)] motion frames (0-based, last included).
    """
    added = []
    for foot, spans in intervals.items():
        for first, last in spans:
            added.append(scene.timeline_markers.new(f"{label} {foot} down", frame=frame_start + int(first)))
            added.append(scene.timeline_markers.new(f"{label} {foot} up", frame=frame_start + int(last)))
    return added


def planted_intervals(planted: np.ndarray) -> dict[str, list[tuple[int, int]]]:
    """Planted frames (T, 4) over the engine's foot points (left heel, left toe, right heel, right toe)
    -> each foot's intervals {"L": [(first, last)], "R": [...]} (a foot is planted while its heel or toe is)."""
    from engine.retarget.contacts import runs

    planted = np.asarray(planted, dtype=bool)
    feet = {"L": planted[:, 0] | planted[:, 1], "R": planted[:, 2] | planted[:, 3]}
    return {foot: [(int(a), int(b) - 1) for a, b in runs(mask)] for foot, mask in feet.items()}
