"""Every difference between the Blender versions the add-on supports (4.2 LTS, 4.5 LTS, 5.0), in one place.

Actions: from 4.4 they are layered. F-curves live in channel bags, action.layers[].strips[].channelbags[],
one bag per action slot, and an object plays the slot assigned to it (AnimData.action_slot); 5.0 removed
the legacy action.fcurves and let channelbag.fcurves.new take the group. 4.2 and 4.3 keep every f-curve
on action.fcurves, grouped by action_group. `ActionChannels` and `action_fcurves` hide this; nothing
else in the add-on (or its tests) touches action.layers, action.slots or action.fcurves.

Process exit: see `exit_process` (bpy 4.2 and 4.5 at interpreter exit).
"""

from __future__ import annotations

import os
import shutil
import sys

import bpy

VERSION: tuple[int, int, int] = tuple(bpy.app.version)
LAYERED_ACTIONS = VERSION >= (4, 4, 0)
# Channelbag.fcurves.new(..., group_name=) came with 5.0; 4.4 and 4.5 put an f-curve in a group afterwards.
CHANNELBAG_NEW_TAKES_GROUP = VERSION >= (5, 0, 0)
# bpy module builds that do not survive interpreter exit while Python-defined classes are still registered
# (an add-on left enabled): 4.2.23 dies with SIGSEGV, 4.5.15 hangs for ever in a static destructor
# (measured, PyPI wheels); 5.0.1 exits normally. With everything unregistered all three exit cleanly.
EXIT_CRASHES = VERSION < (5, 0, 0)


class ActionChannels:
    """Creates and finds the f-curves of one action for one object, on either action API."""

    def __init__(self, action: bpy.types.Action, obj: bpy.types.Object, create: bool):
        self.action = action
        self.slot = None
        self._bag = None
        if LAYERED_ACTIONS:
            self.slot = _slot_for(action, obj, create)
            if self.slot is not None:
                if create and not action.layers:
                    action.layers.new("Layer").strips.new(type="KEYFRAME")
                strips = [s for layer in action.layers for s in layer.strips]
                if strips:
                    self._bag = strips[0].channelbag(self.slot, ensure=create)

    @property
    def fcurves(self):
        if LAYERED_ACTIONS:
            return self._bag.fcurves if self._bag is not None else ()
        return self.action.fcurves

    def new(self, data_path: str, index: int, group: str) -> bpy.types.FCurve:
        """A new f-curve on `data_path`[`index`], shown under `group`."""
        if not LAYERED_ACTIONS:
            return self.action.fcurves.new(data_path, index=index, action_group=group)
        if CHANNELBAG_NEW_TAKES_GROUP:
            return self._bag.fcurves.new(data_path, index=index, group_name=group)
        fcurve = self._bag.fcurves.new(data_path, index=index)
        fcurve.group = self._bag.groups.get(group) or self._bag.groups.new(group)
        return fcurve

    def assign(self, obj: bpy.types.Object) -> None:
        """Make `obj` play this action (and its slot, where actions have slots)."""
        if obj.animation_data is None:
            obj.animation_data_create()
        obj.animation_data.action = self.action
        if LAYERED_ACTIONS:
            obj.animation_data.action_slot = self.slot


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


def action_fcurves(action: bpy.types.Action) -> list[bpy.types.FCurve]:
    """Every f-curve of `action`, of all its slots, on either action API."""
    if not LAYERED_ACTIONS:
        return list(action.fcurves)
    return [fc for layer in action.layers for strip in layer.strips for bag in strip.channelbags
            for fc in bag.fcurves]


def exit_process(status: int) -> None:
    """End a headless bpy process with `status`, whatever bpy's own teardown would do.

    Call it last, after unregistering what the script registered. Where bpy's exit is known to crash or
    hang (EXIT_CRASHES) with anything still registered (an add-on enabled by the opened .blend, say), the
    process ends here with os._exit once stdout and stderr are flushed and Blender's session temp folder
    (the one thing its teardown removes that would outlive the process) is deleted. That is safe because
    every output is already complete by then: FBX, BVH and .blend files are written to a temp name and
    renamed before the writer returns, and headless bpy saves no preferences or session at exit.
    Elsewhere the interpreter exits normally.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    if not EXIT_CRASHES:
        sys.exit(status)
    tempdir = bpy.app.tempdir
    if tempdir and os.path.basename(os.path.normpath(tempdir)).startswith("blender_"):
        shutil.rmtree(tempdir, ignore_errors=True)
    os._exit(status)
