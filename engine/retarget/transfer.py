"""Retarget and pin the feet with the source's contacts: what the CLI and the Blender add-on call.

Contacts belong to the performance, not to the rig: they come from the source (its own, a capture's,
or detected on the source motion from its heels' and toes' height and speed, before its feet move
differently on a rig of other proportions). The target's feet are pinned on the source's planted
frames, each heel and toe at its ground level plus the source's height above its own ground there
(scaled by the leg-length ratio): a foot the source rests on the floor rests on the floor on the target
too, whatever its proportions make it do before pinning. Foot sliding is reported over those frames.
World y up, metres, frames at the motion's fps.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.motion.motion import Contacts, Motion
from engine.motion.skeleton import Skeleton
from engine.retarget.alignment import ReferencePose, reference_pose
from engine.retarget.bonemap import SOURCE_FLAG, TARGET_FLAG, BoneMap, resolve_bone_map
from engine.retarget.footlock import FootLockReport, FootLockSettings, lock_feet
from engine.retarget.retarget import joint_pairs, leg_length, pair_index, retarget

# The foot lock's settings for a retarget: the pelvis may lower up to 10 cm, as a rig of other proportions
# (thigh to shin) bends its legs into another height in a squat or a lunge: 8.7 cm for the MocapBank clip
# onto SMPL, where 5 cm (the capture's default) left a planted heel 3.6 cm above the floor.
RETARGET_LOCK_SETTINGS = FootLockSettings(max_pelvis_drop=0.1)


@dataclass(frozen=True, eq=False)
class RetargetResult:
    """What `retarget_and_lock` made.

    motion: on the target, feet pinned (when asked); unlocked: the same before pinning.
    report: the foot lock's FootLockReport (None without locking); its planted frames are the source's.
    contacts: the source's contacts used, per foot and per heel/toe; contacts_detected: True when they
    were detected on the source motion (it had none). root_scale: target / source leg length.
    reference: the source pose the bone frames were aligned in. source_map, target_map: the bone maps.
    """

    motion: Motion
    unlocked: Motion
    report: FootLockReport | None
    contacts: Contacts
    contacts_detected: bool
    root_scale: float
    reference: ReferencePose
    source_map: BoneMap
    target_map: BoneMap

    def summary(self) -> str:
        """Lines for the user: the reference pose, where the contacts came from, and the foot lock's result."""
        where = "detected on the source motion" if self.contacts_detected else "the source's own"
        lines = [f"reference pose: {self.reference.reason}", f"contacts: {where}"]
        if self.report is not None:
            lines.append(self.report.summary())
        return "\n".join(lines)


def retarget_and_lock(
    motion: Motion,
    target: Skeleton,
    bone_map: BoneMap | None = None,
    source_map: BoneMap | None = None,
    settings: FootLockSettings = RETARGET_LOCK_SETTINGS,
    foot_lock: bool = True,
    reference_frame: int | None = None,
    flags: tuple[str, str] = (SOURCE_FLAG, TARGET_FLAG),
) -> RetargetResult:
    """`motion` retargeted onto `target` (`retarget.retarget`) and its feet pinned on the source's planted frames.

    bone_map / source_map: the target's and the source's maps (None: auto-mapped). settings: the foot
    lock's. reference_frame: the source frame its bone frames are aligned in (None: its rest when that is
    a standing body, else its straightest standing frame). flags: the options that pass the two maps,
    named in errors (the CLI's by default).
    """
    source_map = resolve_bone_map(motion.skeleton, source_map, flags[0])
    bone_map = resolve_bone_map(target, bone_map, flags[1])
    pairs = joint_pairs(source_map, motion.skeleton, bone_map, target, flags)
    src_index, tgt_index = pair_index(pairs)
    root_scale = leg_length(target, tgt_index) / leg_length(motion.skeleton, src_index)
    reference = reference_pose(motion, src_index, reference_frame)
    unlocked = retarget(motion, target, bone_map=bone_map, source_map=source_map, root_scale=root_scale,
                        reference_frame=reference.frame, flags=flags)
    contacts, detected = unlocked.contacts, motion.contacts is None
    if not foot_lock:
        return RetargetResult(unlocked, unlocked, None, contacts, detected, root_scale, reference, source_map,
                              bone_map)
    locked, report = lock_feet(unlocked, contacts, settings, bone_map)
    return RetargetResult(locked, unlocked, report, contacts, detected, root_scale, reference, source_map, bone_map)
