"""The user's rig stays theirs: its action is kept, and a bake that fails leaves the rig as it was.

A bake assigns a NEW action to the target. The action it replaces (the animator's own work) would be
left with no users and vanish on save; `keep_action` gives it a fake user so that it is saved and can
be picked again in the Action Editor. `RigState` records what a bake writes on the rig (its action and
slot, the baked bones' rotation modes and pose channels) and puts it back when the bake fails or is
cancelled.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import bpy


@dataclass
class RigState:
    """What a bake changes on `obj`: its action (and slot), and per baked bone its rotation mode and pose."""

    object_name: str
    action: bpy.types.Action | None
    slot_handle: int | None
    bones: dict[str, tuple]

    @classmethod
    def record(cls, obj: bpy.types.Object, bone_names: tuple[str, ...]) -> RigState:
        anim = obj.animation_data
        action = anim.action if anim is not None else None
        slot = getattr(anim, "action_slot", None) if anim is not None else None
        bones = {}
        for name in bone_names:
            b = obj.pose.bones[name]
            bones[name] = (b.rotation_mode, tuple(b.location), tuple(b.rotation_quaternion),
                           tuple(b.rotation_euler), tuple(b.scale))
        return cls(obj.name, action, None if slot is None else slot.handle, bones)

    def restore(self, obj: bpy.types.Object) -> None:
        """Put the recorded action, slot and bone channels back on `obj`."""
        if obj.animation_data is not None or self.action is not None:
            anim = obj.animation_data or obj.animation_data_create()
            anim.action = self.action
            if self.action is not None and self.slot_handle is not None and hasattr(anim, "action_slot"):
                slot = next((s for s in self.action.slots if s.handle == self.slot_handle), None)
                if slot is not None:
                    anim.action_slot = slot
        for name, (mode, location, quaternion, euler, scale) in self.bones.items():
            b = obj.pose.bones[name]
            b.rotation_mode = mode
            b.location, b.rotation_quaternion, b.rotation_euler, b.scale = location, quaternion, euler, scale


@contextmanager
def restored_on_failure(obj: bpy.types.Object, bone_names: tuple[str, ...]):
    """Run a bake on `obj`; if it raises (an error, a cancel), remove the actions it made and restore the rig."""
    state = RigState.record(obj, bone_names)
    actions_before = set(bpy.data.actions)
    try:
        yield state
    except BaseException:
        state.restore(obj)
        for action in set(bpy.data.actions) - actions_before:
            bpy.data.actions.remove(action)
        raise


def keep_action(action: bpy.types.Action | None) -> str | None:
    """Give the user's `action` a fake user so it is saved even with no object playing it; its name, or None."""
    if action is None:
        return None
    action.use_fake_user = True
    return action.name
