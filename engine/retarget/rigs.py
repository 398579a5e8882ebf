"""Built-in rigs: SMPL's skeleton from rest joints, the name tables of common rigs, and auto-mapping.

Name tables (matched case-insensitively, after dropping a "namespace:" prefix and SMPL FBX's
"m_avg_"/"f_avg_"): SMPL, SMPL FBX (L_Hip...), Mixamo (`mixamorig:` names), Rigify deform bones
(DEF-*; metarig names too), Unreal-style game rigs (UE5 and UE4 / MakeHuman game_engine: pelvis,
thigh_l, calf_l, foot_l, ball_l, ...), MakeHuman default, CMU motion builder names (MakeHuman cmu_mb,
the Xia/"mb2" BVH files), and the CMU BVH conversion (LeftHip, LeftKnee, lowerback, Chest...).

`{side}` in a template stands for left/right, `{c}` for l/r. Where a rig has more joints than SMPL
(five spine bones, twist bones) the table picks the joint whose bone plays SMPL's part; the others
ride along with their parents.
"""

from __future__ import annotations

import json
import logging
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.body.joints import SMPL_JOINT_NAMES, SMPL_PARENTS
from engine.errors import PlantedError
from engine.motion.anatomy import chain_order_errors, find_body_parts
from engine.motion.kinematics import rest_world_transforms
from engine.motion.skeleton import Skeleton
from engine.retarget.bonemap import BoneMap

log = logging.getLogger(__name__)

_SIDED = ("hip", "knee", "ankle", "foot", "collar", "shoulder", "elbow", "wrist", "hand")

# rig name -> canonical joint (sided ones without "left_"/"right_") -> candidate names, best first.
RIG_NAME_TABLES: dict[str, dict[str, tuple[str, ...]]] = {
    "smpl": {
        "pelvis": ("pelvis",), "spine1": ("spine1",), "spine2": ("spine2",), "spine3": ("spine3",),
        "neck": ("neck",), "head": ("head",),
        **{j: (f"{{side}}_{j}",) for j in _SIDED},
    },
    "smpl_fbx": {
        "pelvis": ("pelvis",), "spine1": ("spine1",), "spine2": ("spine2",), "spine3": ("spine3",),
        "neck": ("neck",), "head": ("head",),
        **{j: (f"{{c}}_{j}",) for j in _SIDED},
    },
    "mixamo": {
        "pelvis": ("hips",), "spine1": ("spine",), "spine2": ("spine1",), "spine3": ("spine2",),
        "neck": ("neck",), "head": ("head",),
        "hip": ("{side}upleg",), "knee": ("{side}leg",), "ankle": ("{side}foot",), "foot": ("{side}toebase",),
        "collar": ("{side}shoulder",), "shoulder": ("{side}arm",), "elbow": ("{side}forearm",),
        "wrist": ("{side}hand",), "hand": ("{side}handmiddle1", "{side}handindex1"),
    },
    "cmu_mb": {
        "pelvis": ("hips",), "spine1": ("lowerback",), "spine2": ("spine",), "spine3": ("spine1",),
        "neck": ("neck1", "neck"), "head": ("head",),
        "hip": ("{side}upleg",), "knee": ("{side}leg",), "ankle": ("{side}foot",), "foot": ("{side}toebase",),
        "collar": ("{side}shoulder",), "shoulder": ("{side}arm",), "elbow": ("{side}forearm",),
        "wrist": ("{side}hand",), "hand": ("{side}handindex1", "{side}handfinger1", "{side}fingerbase"),
    },
    "cmu_bvh": {
        "pelvis": ("hips",), "spine1": ("lowerback",), "spine2": ("chest",), "spine3": ("chest2",),
        "neck": ("neck",), "head": ("head",),
        "hip": ("{side}hip",), "knee": ("{side}knee",), "ankle": ("{side}ankle",), "foot": ("{side}toe",),
        "collar": ("{side}collar",), "shoulder": ("{side}shoulder",), "elbow": ("{side}elbow",),
        "wrist": ("{c}hand", "{side}wrist"), "hand": ("{c}fingers",),
    },
    "rigify": {
        "pelvis": ("def-spine", "spine"), "spine1": ("def-spine.001", "spine.001"),
        "spine2": ("def-spine.002", "spine.002"), "spine3": ("def-spine.003", "spine.003"),
        "neck": ("def-spine.004", "spine.004"), "head": ("def-spine.006", "spine.006"),
        "hip": ("def-thigh.{c}", "thigh.{c}"), "knee": ("def-shin.{c}", "shin.{c}"),
        "ankle": ("def-foot.{c}", "foot.{c}"), "foot": ("def-toe.{c}", "toe.{c}"),
        "collar": ("def-shoulder.{c}", "shoulder.{c}"), "shoulder": ("def-upper_arm.{c}", "upper_arm.{c}"),
        "elbow": ("def-forearm.{c}", "forearm.{c}"), "wrist": ("def-hand.{c}", "hand.{c}"),
        "hand": ("def-f_middle.01.{c}", "f_middle.01.{c}"),
    },
    "unreal5": {
        "pelvis": ("pelvis",), "spine1": ("spine_01",), "spine2": ("spine_03",), "spine3": ("spine_05",),
        "neck": ("neck_01",), "head": ("head",),
        "hip": ("thigh_{c}",), "knee": ("calf_{c}",), "ankle": ("foot_{c}",), "foot": ("ball_{c}",),
        "collar": ("clavicle_{c}",), "shoulder": ("upperarm_{c}",), "elbow": ("lowerarm_{c}",),
        "wrist": ("hand_{c}",), "hand": ("middle_01_{c}", "middle_metacarpal_{c}"),
    },
    "unreal": {  # UE4 mannequin; MakeHuman's game_engine rig uses the same names
        "pelvis": ("pelvis",), "spine1": ("spine_01",), "spine2": ("spine_02",), "spine3": ("spine_03",),
        "neck": ("neck_01",), "head": ("head",),
        "hip": ("thigh_{c}",), "knee": ("calf_{c}",), "ankle": ("foot_{c}",), "foot": ("ball_{c}",),
        "collar": ("clavicle_{c}",), "shoulder": ("upperarm_{c}",), "elbow": ("lowerarm_{c}",),
        "wrist": ("hand_{c}",), "hand": ("middle_01_{c}",),
    },
    "makehuman": {  # MakeHuman / anny "default" skeleton
        "pelvis": ("root",), "spine1": ("spine04",), "spine2": ("spine02",), "spine3": ("spine01",),
        "neck": ("neck01",), "head": ("head",),
        "hip": ("upperleg01.{c}",), "knee": ("lowerleg01.{c}",), "ankle": ("foot.{c}",),
        "foot": ("toe3-1.{c}", "toe2-1.{c}", "toe1-1.{c}"),
        "collar": ("clavicle.{c}",), "shoulder": ("upperarm01.{c}",), "elbow": ("lowerarm01.{c}",),
        "wrist": ("wrist.{c}",), "hand": ("finger3-1.{c}",),
    },
}

# Each SMPL joint's bone points at this child (used to align rest poses); None: no single child.
SMPL_BONE_CHILD: dict[str, str | None] = {
    "pelvis": None, "spine1": "spine2", "spine2": "spine3", "spine3": "neck", "neck": "head", "head": None,
    **{f"{s}_{a}": f"{s}_{b}" for s in ("left", "right") for a, b in (
        ("hip", "knee"), ("knee", "ankle"), ("ankle", "foot"), ("collar", "shoulder"), ("shoulder", "elbow"),
        ("elbow", "wrist"), ("wrist", "hand"))},
    **{f"{s}_{a}": None for s in ("left", "right") for a in ("foot", "hand")},
}


def normalise_bone_name(name: str) -> str:
    """Lowercase, without a "namespace:" prefix or SMPL FBX's "m_avg_"/"f_avg_"."""
    base = name.rsplit(":", 1)[-1].strip().lower()
    return re.sub(r"^[mf]_avg_", "", base)


def _expand(table: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for joint, templates in table.items():
        if joint in _SIDED:
            for side, c in (("left", "l"), ("right", "r")):
                out[f"{side}_{joint}"] = tuple(t.format(side=side, c=c) for t in templates)
        else:
            out[joint] = templates
    return out


def map_with_table(skeleton: Skeleton, rig: str) -> BoneMap:
    """The bone map that rig `rig`'s name table gives `skeleton` (possibly partial)."""
    return _map_names(tuple(skeleton.names), rig)


@lru_cache(maxsize=256)
def _map_names(names: tuple[str, ...], rig: str) -> BoneMap:
    table = _expand(RIG_NAME_TABLES[rig])
    by_name: dict[str, str] = {}
    for name in names:
        by_name.setdefault(normalise_bone_name(name), name)
    joints: dict[str, str] = {}
    for smpl_name in SMPL_JOINT_NAMES:
        for candidate in table[smpl_name]:
            bone = by_name.get(candidate)
            if bone is not None and bone not in joints.values():
                joints[smpl_name] = bone
                break
    return BoneMap(joints=joints, rig=rig)


def structure_map(skeleton: Skeleton) -> BoneMap:
    """The bone map `engine.motion.anatomy` finds from the skeleton's structure (names only as anchors)."""
    parts = find_body_parts(skeleton)
    return BoneMap(joints={n: skeleton.names[parts[n]] for n in SMPL_JOINT_NAMES if n in parts}, rig="structure")


def _checked(bone_map: BoneMap, skeleton: Skeleton) -> BoneMap:
    """`bone_map` without the joints that break SMPL's chain order in the skeleton (a hip not above its knee)."""
    index = {n: skeleton.names.index(b) for n, b in bone_map.joints.items()}
    bad = chain_order_errors(np.asarray(skeleton.parents), index)
    if not bad:
        return bone_map
    return BoneMap(joints={n: b for n, b in bone_map.joints.items() if n not in bad}, rig=bone_map.rig)


def auto_map(skeleton: Skeleton) -> tuple[BoneMap, list[str]]:
    """Map a skeleton's joints to SMPL's 24: every built-in rig's name table and the skeleton's structure.

    Each candidate is checked against the hierarchy (a thigh above its shin, a shin above its foot, ...);
    the one that maps most wins (ties go to a name table, listed first), and the structure's finds fill
    the joints it left out. Returns (bone_map, unmapped): the SMPL joint names still unmapped, which the
    caller should report. `bone_map.rig` names the table, with "+structure" where the structure helped.
    """
    return _auto_map(tuple(skeleton.names), tuple(int(p) for p in skeleton.parents),
                     np.asarray(skeleton.offsets).tobytes(), skeleton)


@lru_cache(maxsize=128)
def _auto_map(names, parents, offsets_key, skeleton: Skeleton) -> tuple[BoneMap, list[str]]:
    structure = _checked(structure_map(skeleton), skeleton)
    tables = [_checked(map_with_table(skeleton, rig), skeleton) for rig in RIG_NAME_TABLES]
    best = max(tables + [structure], key=lambda m: len(m.joints))
    if best is not structure:
        used = set(best.joints.values())
        extra = {n: b for n, b in structure.joints.items() if n not in best.joints and b not in used}
        if extra:
            best = _checked(BoneMap(joints={**best.joints, **extra}, rig=f"{best.rig}+structure"), skeleton)
    unmapped = best.unmapped
    if unmapped:
        log.warning("auto-mapped a %s rig; no joint found for %s", best.rig, ", ".join(unmapped))
    return best, unmapped


def describe_mapping(bone_map: BoneMap, unmapped: list[str]) -> str:
    """One line for the user: how the map was found, how many joints it maps, which it could not."""
    line = f"bone map ({bone_map.rig}): {len(bone_map.joints)} of {len(SMPL_JOINT_NAMES)} joints mapped"
    return line + (f"; not found: {', '.join(unmapped)}" if unmapped else "")


def smpl_skeleton(rest_joints: np.ndarray) -> Skeleton:
    """SMPL's 24-joint Skeleton from rest joint positions (24, 3) metres (J_regressor @ v_template).

    World-aligned joint frames (identity rest rotations), SMPL's names and order; the root's offset is
    the pelvis's rest position.
    """
    rest_joints = np.asarray(rest_joints, dtype=np.float64)
    if rest_joints.shape != (24, 3):
        raise ValueError(f"rest_joints must be (24, 3), got {rest_joints.shape}")
    parents = np.asarray(SMPL_PARENTS)
    offsets = rest_joints.copy()
    offsets[1:] -= rest_joints[parents[1:]]
    return Skeleton.from_offsets(SMPL_JOINT_NAMES, parents, offsets)


def smpl_rest_joints(body_model_path: str | None = None) -> np.ndarray:
    """(24, 3) metres: the active body model's rest joints (the free model unless a path is given)."""
    from engine.body.active import load_active_body_model

    return np.asarray(load_active_body_model(body_model_path).rest_joints(), dtype=np.float64)


# Limb bones straightened into SMPL's T-pose by `tpose_rest_joints_from`: legs down, arms out.
_TPOSE_DIRECTIONS: dict[str, tuple[float, float, float]] = {
    "left_knee": (0, -1, 0), "right_knee": (0, -1, 0), "left_ankle": (0, -1, 0), "right_ankle": (0, -1, 0),
    "left_elbow": (1, 0, 0), "right_elbow": (-1, 0, 0), "left_wrist": (1, 0, 0), "right_wrist": (-1, 0, 0),
    "left_hand": (1, 0, 0), "right_hand": (-1, 0, 0),
}


def tpose_rest_joints_from(skeleton: Skeleton, bone_map: BoneMap) -> np.ndarray:
    """(24, 3) metres: SMPL-ordered T-pose rest joints with another rig's bone lengths.

    Each SMPL bone takes the length between its mapped joints in `skeleton`'s rest pose; limbs point
    straight down (legs) or out (arms) as in SMPL's T-pose, other bones keep the rig's rest direction.
    For development and tests where no body model file is at hand.
    """
    bone_map.require(tuple(SMPL_JOINT_NAMES))
    index = bone_map.indices(skeleton)
    rest = rest_world_transforms(skeleton).positions[0]
    out = np.zeros((24, 3))
    out[0] = rest[index["pelvis"]]
    for j in range(1, 24):
        name, parent = SMPL_JOINT_NAMES[j], SMPL_PARENTS[j]
        bone = rest[index[name]] - rest[index[SMPL_JOINT_NAMES[parent]]]
        length = np.linalg.norm(bone)
        direction = np.asarray(_TPOSE_DIRECTIONS.get(name, bone / max(length, 1e-9)), dtype=np.float64)
        out[j] = out[parent] + length * direction
    return out


RIGS_FILE = Path(__file__).resolve().parents[1] / "assets" / "rigs.json"


@lru_cache(maxsize=1)
def _rig_definitions() -> dict:
    try:
        doc = json.loads(RIGS_FILE.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise PlantedError(f"the built-in rig definitions {RIGS_FILE} are missing or damaged ({err}); reinstall "
                           "Planted or rebuild them with scripts/build_rig_definitions.py") from None
    return doc["rigs"]


def builtin_rig_names() -> tuple[str, ...]:
    """Names `builtin_rig` accepts: "smpl" (the active body model) and the rigs in engine/assets/rigs.json."""
    return ("smpl",) + tuple(sorted(_rig_definitions()))


def builtin_rig(name: str, body_model_path: str | None = None) -> Skeleton:
    """A built-in rig's rest skeleton: metres, y up, facing +z, world-aligned joint frames.

    "smpl": from the active body model's rest joints. "mixamo", "game_engine" (Unreal mannequin names),
    "cmu_mb", "makehuman": MPFB2's rigs on MakeHuman's default body (A-pose), standing on y = 0.
    """
    if name == "smpl":
        return smpl_skeleton(smpl_rest_joints(body_model_path))
    rigs = _rig_definitions()
    if name not in rigs:
        raise PlantedError(f"unknown rig {name!r} for --target: use one of {', '.join(builtin_rig_names())}, "
                           "or a BVH file")
    rig = rigs[name]
    return Skeleton.from_offsets(rig["names"], rig["parents"], rig["offsets"], rig["end_offsets"])
