"""BoneMap: which joint of a rig plays each of SMPL's 24 joints, and its JSON file format.

A bone map describes ONE rig against the canonical joint set (SMPL's 24 names, engine.body.joints):
retargeting pairs a source and a target joint when both maps give them the same SMPL name. A rig
joint that no map names keeps its rest pose relative to its parent.

JSON format (UTF-8):

    {"format": "planted-bonemap", "version": 1, "rig": "mixamo",
     "joints": {"pelvis": "mixamorig:Hips", "left_hip": "mixamorig:LeftUpLeg", ...}}

Keys of "joints" are SMPL joint names; values are the rig's joint (bone) names.
"""

from __future__ import annotations

import json
import os
import pathlib
from dataclasses import dataclass, field

from engine.atomic import atomic_path
from engine.body.joints import SMPL_JOINT_NAMES
from engine.errors import BoneMapError
from engine.motion.skeleton import Skeleton

BONE_MAP_FORMAT = "planted-bonemap"
BONE_MAP_VERSION = 1

# Joints a retarget or foot lock cannot do without.
REQUIRED_JOINTS: tuple[str, ...] = (
    "pelvis", "left_hip", "left_knee", "left_ankle", "right_hip", "right_knee", "right_ankle",
)


@dataclass(frozen=True)
class BoneMap:
    """joints: SMPL joint name -> the rig's joint name. rig: a label (a built-in rig's name, or "custom")."""

    joints: dict[str, str] = field(default_factory=dict)
    rig: str = "custom"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.joints) - set(SMPL_JOINT_NAMES))
        if unknown:
            raise BoneMapError(
                f"bone map keys must be SMPL joint names; unknown: {', '.join(unknown)} "
                f"(valid: {', '.join(SMPL_JOINT_NAMES)})"
            )
        values = list(self.joints.values())
        dupes = sorted({v for v in values if values.count(v) > 1})
        if dupes:
            raise BoneMapError(f"bone map gives one rig joint to several SMPL joints: {', '.join(dupes)}")

    @property
    def unmapped(self) -> list[str]:
        """SMPL joint names this map leaves out, in SMPL order."""
        return [n for n in SMPL_JOINT_NAMES if n not in self.joints]

    def indices(self, skeleton: Skeleton, flag: str = "--bone-map") -> dict[str, int]:
        """SMPL name -> joint index in `skeleton`; BoneMapError names the bones the skeleton lacks (and `flag`,
        the option that passes this map)."""
        missing = [bone for bone in self.joints.values() if bone not in skeleton.names]
        if missing:
            raise BoneMapError(
                f"the bone map ({self.rig}) names bones the skeleton does not have: {', '.join(missing)}; "
                f"fix the joint names in the file given to {flag}, or pick the right skeleton"
            )
        return {smpl: skeleton.names.index(bone) for smpl, bone in self.joints.items()}

    def require(self, names: tuple[str, ...] = REQUIRED_JOINTS, flag: str = "--bone-map") -> None:
        """BoneMapError listing which of `names` the map lacks, and the option (`flag`) that would fix it."""
        missing = [n for n in names if n not in self.joints]
        if missing:
            raise BoneMapError(
                f"the bone map ({self.rig}) has no joint for {', '.join(missing)}; add them to a bone-map JSON "
                f"file ({BONE_MAP_FORMAT}) and pass it with {flag}"
            )

    def to_json(self) -> str:
        ordered = {n: self.joints[n] for n in SMPL_JOINT_NAMES if n in self.joints}
        doc = {"format": BONE_MAP_FORMAT, "version": BONE_MAP_VERSION, "rig": self.rig, "joints": ordered}
        return json.dumps(doc, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "<json>") -> BoneMap:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as err:
            raise BoneMapError(f"{source}: not valid JSON ({err.msg} at line {err.lineno})") from None
        if not isinstance(doc, dict) or doc.get("format") != BONE_MAP_FORMAT:
            raise BoneMapError(f"{source}: not a bone map (expected \"format\": \"{BONE_MAP_FORMAT}\")")
        if doc.get("version") != BONE_MAP_VERSION:
            raise BoneMapError(f"{source}: bone map version {doc.get('version')!r}; this Planted reads version 1")
        joints = doc.get("joints")
        if not isinstance(joints, dict) or not all(isinstance(v, str) for v in joints.values()):
            raise BoneMapError(f"{source}: \"joints\" must map SMPL joint names to bone names (strings)")
        return cls(joints=dict(joints), rig=str(doc.get("rig", "custom")))


def load_bone_map(path: str | os.PathLike) -> BoneMap:
    """Read a bone-map JSON file; BoneMapError says what is wrong with it."""
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise BoneMapError(f"cannot read bone map {path}: {err.strerror}") from None
    return BoneMap.from_json(text, source=str(path))


def save_bone_map(bone_map: BoneMap, path: str | os.PathLike) -> pathlib.Path:
    """Write a bone-map JSON file atomically (temporary file in the same folder, then a rename)."""
    path = pathlib.Path(path)
    with atomic_path(path, error=BoneMapError, what="bone map") as tmp:
        tmp.write_text(bone_map.to_json(), encoding="utf-8")
    return path


def resolve_bone_map(skeleton: Skeleton, bone_map: BoneMap | None, flag: str = "--bone-map") -> BoneMap:
    """`bone_map` checked against `skeleton`, or the auto-mapped one when None; errors name `flag`."""
    if bone_map is None:
        from engine.retarget.rigs import auto_map  # rigs imports this module

        bone_map, _ = auto_map(skeleton)
    bone_map.indices(skeleton, flag)
    return bone_map


# The options that pass each skeleton's bone map, named in errors (the CLI's words; the add-on passes its own).
SOURCE_FLAG = "--source-bone-map"
TARGET_FLAG = "--bone-map"
