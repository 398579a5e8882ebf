"""Find a humanoid skeleton's body parts by its structure, with bone names only as anchors.

Names tell sides and a few anchors (a hand or wrist, a foot or ankle, a head); the rest comes from the
hierarchy: the knee is the foot's nearest thigh-or-shin-named (else first distinct) ancestor, the chest
is where the two arms meet, the pelvis where the legs meet the spine, the spine joints lie between.
That covers every naming family seen in the wild (Mixamo, HumanIK, Xsens, OptiTrack, Vicon/SFU,
Rokoko, MakeHuman, Unity humanoid, Unreal, Rigify; `_L`, `.L`, `Left`, `l_` sides; UpperLeg, LowerLeg,
Thigh, Shin, Calf, UpLeg, LoLeg, ...) without a table per family.

Results are SMPL joint names (engine.body.joints) -> joint index. Lengths in the skeleton's own units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from engine.motion.skeleton import Skeleton

# Normalised stems (lowercase letters only) per body part, best first.
KNEE_STEMS = ("lowerleg", "loleg", "lowleg", "shin", "calf", "knee", "leg", "crus")
HIP_STEMS = ("upperleg", "upleg", "thigh", "femur", "hip")
ANKLE_STEMS = ("foot", "ankle")
TOE_STEMS = ("toebase", "toes", "toe", "ball", "footend")
COLLAR_STEMS = ("clavicle", "collar", "collarbone")
UPPER_ARM_STEMS = ("upperarm", "uparm", "arm", "shoulder", "humerus")
ELBOW_STEMS = ("lowerarm", "loarm", "lowarm", "forearm", "elbow")
WRIST_STEMS = ("hand", "wrist")
FINGER_STEMS = ("handmiddle", "middle", "inhandmiddle", "handindex", "index", "fingers", "finger", "handend")
_VOCABULARY = frozenset(KNEE_STEMS + HIP_STEMS + ANKLE_STEMS + TOE_STEMS + COLLAR_STEMS + UPPER_ARM_STEMS
                        + ELBOW_STEMS + WRIST_STEMS + FINGER_STEMS + ("hipjoint", "thumb"))
_SIDE_WORDS = {"left": "left", "l": "left", "lft": "left",
               "right": "right", "r": "right", "rt": "right", "rgt": "right"}


@dataclass(frozen=True)
class BoneName:
    """side: "left", "right" or None; stem: the name's letters, lowercase, without side or numbering;
    index: its trailing number (0 when none); continuation: a second segment of a split bone (Blender's
    `.001`, MakeHuman's `upperarm02`, a twist or roll bone), never the bone itself."""

    side: str | None
    stem: str
    index: int
    continuation: bool


def parse_bone_name(name: str) -> BoneName:
    """Side, stem and numbering of a bone name ("mixamorig:LeftUpLeg", "UpperLeg_L", "DEF-thigh.L.001", "l_hip")."""
    base = name.rsplit(":", 1)[-1].strip()
    base = re.sub(r"^(?:DEF|ORG|MCH)[-_.]", "", base, flags=re.IGNORECASE)
    base = re.sub(r"^[mf]_avg_", "", base.lstrip("_"), flags=re.IGNORECASE)
    blender_copy = re.search(r"\.(\d{3})$", base)
    if blender_copy:
        base = base[: blender_copy.start()]
    side = None
    match = (re.fullmatch(r"(left|right)[ _.\-]?(.+)", base, flags=re.IGNORECASE)
             or re.fullmatch(r"(.+?)[ _.\-]?(left|right)", base, flags=re.IGNORECASE)
             or re.fullmatch(r"(.+?)[ _.\-](l|r|lft|rt|rgt)", base, flags=re.IGNORECASE)
             or re.fullmatch(r"(l|r)[ _.\-](.+)", base, flags=re.IGNORECASE))
    if match:
        first, second = match.group(1), match.group(2)
        word, base = (first, second) if first.lower() in _SIDE_WORDS else (second, first)
        side = _SIDE_WORDS[word.lower()]
    else:
        glued = re.fullmatch(r"([LRlr])([A-Za-z].*)", base)
        if glued and (glued.group(2)[0].isupper() or _stem_of(glued.group(2))[0] in _VOCABULARY):
            side, base = _SIDE_WORDS[glued.group(1).lower()], glued.group(2)
    stem, index = _stem_of(base)
    twist = bool(re.search(r"twist|roll|share|bend|corrective", stem))
    split = (bool(blender_copy) or index >= 2) and stem in _VOCABULARY
    return BoneName(side, stem, index, continuation=split or twist)


def _stem_of(text: str) -> tuple[str, int]:
    letters = re.sub(r"[^a-z0-9]", "", text.lower())
    match = re.fullmatch(r"([a-z]+?)(\d*)", letters)
    if not match:
        return letters, 0
    return match.group(1), int(match.group(2) or 0)


def ancestors(parents: np.ndarray, j: int) -> list[int]:
    """Joint j's ancestors, nearest first."""
    out = []
    j = int(parents[j])
    while j >= 0:
        out.append(j)
        j = int(parents[j])
    return out


def common_ancestor(parents: np.ndarray, joints) -> int:
    """The deepest joint that is `joints` or an ancestor of every one of them."""
    chains = [[j] + ancestors(parents, j) for j in joints]
    shared = set(chains[0]).intersection(*chains[1:])
    return next(j for j in chains[0] if j in shared)


def rest_positions_of(skeleton: Skeleton) -> np.ndarray:
    """(J, 3) rest positions in the skeleton's units, from offsets alone (world-aligned or not: lengths count)."""
    from engine.motion.kinematics import rest_world_transforms

    return rest_world_transforms(skeleton).positions[0]


def figure_span(skeleton: Skeleton) -> float:
    """The longest path of bones between two tips (End Sites included), in the skeleton's units.

    Independent of the rest pose: a person measures about 2.3 m from toe to fingertip along the bones
    (1.6 m for a child, 2.7 m with long fingers).
    """
    parents = np.asarray(skeleton.parents)
    lengths = np.linalg.norm(skeleton.offsets, axis=1)
    lengths[0] = 0.0
    down = np.linalg.norm(skeleton.end_offsets, axis=1)
    best = 0.0
    for j in range(len(parents) - 1, 0, -1):
        p = parents[j]
        reach = down[j] + lengths[j]
        best = max(best, reach + down[p])
        down[p] = max(down[p], reach)
    return float(max(best, down[0]))


class _Finder:
    def __init__(self, skeleton: Skeleton):
        self.parents = np.asarray(skeleton.parents)
        self.names = [parse_bone_name(n) for n in skeleton.names]
        self.children: dict[int, list[int]] = {}
        for j, p in enumerate(self.parents):
            self.children.setdefault(int(p), []).append(j)
        rest = rest_positions_of(skeleton)
        self.rest = rest
        self.tiny = 0.01 * max(figure_span(skeleton), 1e-9)

    def named(self, j: int, stems, side: str | None = None) -> bool:
        n = self.names[j]
        return n.stem in stems and not n.continuation and (side is None or n.side == side)

    def anchor(self, stems, side: str | None) -> int | None:
        """The shallowest joint of `side` whose stem is one of `stems` (earlier stems win at equal depth)."""
        found = [j for j in range(len(self.parents)) if self.named(j, stems, side)]
        if not found:
            return None
        depth = {j: len(ancestors(self.parents, j)) for j in found}
        return min(found, key=lambda j: (depth[j], stems.index(self.names[j].stem)))

    def distinct_ancestors(self, j: int) -> list[int]:
        """Ancestors at another place than j (not zero-length helpers) and not twist or split segments."""
        return [a for a in ancestors(self.parents, j)
                if np.linalg.norm(self.rest[a] - self.rest[j]) > self.tiny and not self.names[a].continuation]

    def up_from(self, j: int, stems, stop: int | None = None) -> int | None:
        """The nearest ancestor of j named by `stems`, else its nearest distinct ancestor (never `stop` or above)."""
        chain = self.distinct_ancestors(j)
        if stop is not None and stop in chain:
            chain = chain[: chain.index(stop)]
        for a in chain:
            if self.names[a].stem in stems:
                return a
        return chain[0] if chain else None

    def below(self, j: int, stems, depth: int = 2) -> int | None:
        """A descendant of j within `depth` levels named by `stems` (earlier stems first), or None."""
        found, level = [], [j]
        for _ in range(depth):
            level = [c for p in level for c in self.children.get(p, [])]
            found += level
        for stem in stems:
            for c in found:
                if self.names[c].stem == stem and self.names[c].index <= 1:
                    return c
        return None


def find_body_parts(skeleton: Skeleton) -> dict[str, int]:
    """SMPL joint name -> joint index for the parts found; the legs need a foot (or ankle) named per side.

    Sided parts come from a side's foot/ankle and hand/wrist upwards; the chest is where the arms meet,
    the pelvis where the legs and the chest meet; the spine joints (spine1, spine2, spine3 = chest) lie
    between, the neck and head above the chest. Parts that cannot be found are left out.
    """
    f = _Finder(skeleton)
    out: dict[str, int] = {}
    for side in ("left", "right"):
        ankle = f.anchor(ANKLE_STEMS, side)
        if ankle is not None:
            knee = f.up_from(ankle, KNEE_STEMS)
            hip = f.up_from(knee, HIP_STEMS) if knee is not None else None
            toe = f.below(ankle, TOE_STEMS) or _only_child(f, ankle)
            out.update({k: v for k, v in ((f"{side}_ankle", ankle), (f"{side}_knee", knee), (f"{side}_hip", hip),
                                          (f"{side}_foot", toe)) if v is not None})
        wrist = f.anchor(WRIST_STEMS, side)
        if wrist is not None:
            elbow = f.up_from(wrist, ELBOW_STEMS)
            shoulder = f.up_from(elbow, UPPER_ARM_STEMS) if elbow is not None else None
            out.update({k: v for k, v in ((f"{side}_wrist", wrist), (f"{side}_elbow", elbow),
                                          (f"{side}_shoulder", shoulder)) if v is not None})
            hand = f.below(wrist, FINGER_STEMS)
            if hand is not None:
                out[f"{side}_hand"] = hand
    _trunk(f, out)
    _collars(f, out)
    unique: dict[str, int] = {}
    for name, j in out.items():  # a joint plays one part: the first found (anchors come first)
        if j not in unique.values():
            unique[name] = j
    return unique


def _only_child(f: _Finder, j: int) -> int | None:
    kids = [c for c in f.children.get(j, []) if np.linalg.norm(f.rest[c] - f.rest[j]) > f.tiny]
    return kids[0] if len(kids) == 1 else None


def _trunk(f: _Finder, out: dict[str, int]) -> None:
    """Pelvis, spine1-3, neck and head from where the legs and arms meet."""
    hips = [out[k] for k in ("left_hip", "right_hip") if k in out]
    shoulders = [out[k] for k in ("left_shoulder", "right_shoulder") if k in out]
    chest = common_ancestor(f.parents, shoulders) if len(shoulders) == 2 else None
    if not hips:
        return
    pelvis = common_ancestor(f.parents, hips + ([chest] if chest is not None else []))
    out["pelvis"] = pelvis
    if chest is None or chest == pelvis:
        return
    above = ancestors(f.parents, chest)
    path = [chest] + above[: above.index(pelvis)]  # the pelvis is an ancestor of the chest, by construction
    path = [j for j in reversed(path) if np.linalg.norm(f.rest[j] - f.rest[f.parents[j]]) > f.tiny or j == chest]
    out["spine3"] = chest
    if len(path) >= 2:
        out["spine1"] = path[0]
    if len(path) >= 3:
        out["spine2"] = path[len(path) // 2]
    arms = {a for s in shoulders for a in [s] + ancestors(f.parents, s)}
    head = f.anchor(("head",), None)
    if head is not None and chest in ancestors(f.parents, head):
        neck_chain = [j for j in reversed(ancestors(f.parents, head)) if chest in ancestors(f.parents, j)]
        neck = next((j for j in neck_chain if np.linalg.norm(f.rest[j] - f.rest[chest]) > f.tiny), None)
        out["head"] = head
        if neck is not None and neck != head:
            out["neck"] = neck
        return
    # No head named (pose estimators stop at the neck): the chest's non-arm chain, neck first, head last.
    chain, j = [], chest
    while True:
        kids = [c for c in f.children.get(j, []) if c not in arms]
        if not kids:
            break
        j = kids[0]
        chain.append(j)
    if chain:
        out["neck"] = chain[0]
    if len(chain) >= 2:
        out["head"] = chain[-1]


def _collars(f: _Finder, out: dict[str, int]) -> None:
    """Each collar: between the chest and the upper arm, a collar-named joint first, else the nearest sided one."""
    chest = out.get("spine3")
    for side in ("left", "right"):
        shoulder = out.get(f"{side}_shoulder")
        if shoulder is None:
            continue
        between = f.distinct_ancestors(shoulder)
        if chest is not None and chest in between:
            between = between[: between.index(chest)]
        sided = [a for a in between if f.names[a].side == side]
        named = [a for a in sided if f.names[a].stem in COLLAR_STEMS]
        if named or sided:
            out[f"{side}_collar"] = (named or sided)[0]


def chain_order_errors(parents: np.ndarray, parts: dict[str, int]) -> list[str]:
    """SMPL joints of `parts` that do not descend from the part above them (a wrong guess), named."""
    from engine.body.joints import SMPL_JOINT_NAMES, SMPL_PARENTS

    bad = []
    for name, j in parts.items():
        p = SMPL_PARENTS[SMPL_JOINT_NAMES.index(name)]
        while p >= 0 and SMPL_JOINT_NAMES[p] not in parts:
            p = SMPL_PARENTS[p]
        if p >= 0 and parts[SMPL_JOINT_NAMES[p]] not in ancestors(parents, j):
            bad.append(name)
    return bad
