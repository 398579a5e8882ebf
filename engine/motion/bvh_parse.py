"""BVH text into joints and channel values: the HIERARCHY's joints (names, parents, OFFSETs, channels, end
sites) and the MOTION's frames, in file units and degrees, as the file has them. `engine.motion.bvh`
turns them into a Motion.
"""

from __future__ import annotations

import logging
import pathlib
import re
from dataclasses import dataclass

import numpy as np

from engine.errors import MotionFileError
from engine.rotations import euler_to_matrix

log = logging.getLogger(__name__)

_AXES = "XYZ"


class BvhJoint:
    __slots__ = ("name", "parent", "offset", "channels", "end_offset")

    def __init__(self, name: str, parent: int):
        self.name = name
        self.parent = parent
        self.offset = np.zeros(3)
        self.channels: list[str] = []
        self.end_offset = np.zeros(3)


def parse_hierarchy(tokens: list[str], path: pathlib.Path) -> list[BvhJoint]:
    """The joints of a HIERARCHY section (tokens between HIERARCHY and MOTION)."""
    joints: list[BvhJoint] = []
    stack: list[int | None] = []  # joint index per open brace; None for an End Site block
    pending: BvhJoint | None = None
    in_end_site = False
    i = 0

    def number(k: int) -> float:
        try:
            return float(tokens[k])
        except (IndexError, ValueError):
            raise MotionFileError(f"{path}: expected a number after OFFSET/CHANNELS, found {tokens[k:k + 1]}") from None

    while i < len(tokens):
        tok = tokens[i]
        upper = tok.upper()
        if upper in ("ROOT", "JOINT"):
            if upper == "ROOT" and joints:
                raise MotionFileError(f"{path}: more than one ROOT; split the file into one skeleton per file")
            parent = next((s for s in reversed(stack) if s is not None), -1) if stack else -1
            if upper == "JOINT" and parent < 0:
                raise MotionFileError(f"{path}: JOINT {tokens[i + 1]!r} outside the ROOT's braces")
            pending = BvhJoint(tokens[i + 1], parent)
            joints.append(pending)
            i += 2
        elif upper == "END":
            in_end_site = True
            i += 2  # "End Site"
        elif tok == "{":
            stack.append(None if in_end_site else len(joints) - 1)
            i += 1
        elif tok == "}":
            if not stack:
                raise MotionFileError(f"{path}: unbalanced braces in HIERARCHY")
            closed = stack.pop()
            if closed is None:
                in_end_site = False
            i += 1
        elif upper == "OFFSET":
            offset = np.array([number(i + 1), number(i + 2), number(i + 3)])
            if in_end_site:
                owner = next(s for s in reversed(stack) if s is not None)
                if not np.any(joints[owner].end_offset):
                    joints[owner].end_offset = offset
            elif pending is not None:
                pending.offset = offset
            i += 4
        elif upper == "CHANNELS":
            n = int(number(i + 1))
            names = tokens[i + 2:i + 2 + n]
            for name in names:
                if not re.fullmatch(r"[XYZ](position|rotation)", name, flags=re.IGNORECASE):
                    raise MotionFileError(f"{path}: joint {joints[-1].name!r} has an unknown channel {name!r}")
            joints[-1].channels = [c[0].upper() + c[1:].lower() for c in names]
            i += 2 + n
        else:
            raise MotionFileError(f"{path}: unexpected word {tok!r} in HIERARCHY")
    if stack:
        raise MotionFileError(f"{path}: HIERARCHY ends with unclosed braces")
    if not joints:
        raise MotionFileError(f"{path}: no ROOT joint in HIERARCHY")
    return joints


def channel_rotations(angles_deg: np.ndarray, axes: str) -> np.ndarray:
    """(T, G, n) degrees for rotation channels about `axes` (file order) -> (T, G, 3, 3)."""
    rad = np.deg2rad(angles_deg)
    if len(axes) == 3:
        return euler_to_matrix(rad, axes)
    out = np.broadcast_to(np.eye(3), rad.shape[:2] + (3, 3)).copy()
    for k, axis in enumerate(axes):
        angles = np.zeros(rad.shape[:2] + (3,))
        angles[..., 0] = rad[..., k]
        out = out @ euler_to_matrix(angles, axis + "".join(a for a in _AXES if a != axis))
    return out


def read_frames(text: str, num_channels: int, path: pathlib.Path) -> tuple[np.ndarray, float]:
    """(T, C) channel values and the frame time, from the MOTION section."""
    match = re.match(r"\s*Frames:\s*(\d+)\s*Frame\s+Time:\s*([0-9eE.+-]+)", text, flags=re.IGNORECASE)
    if not match:
        raise MotionFileError(f"{path}: MOTION section lacks 'Frames:' and 'Frame Time:' lines")
    frames, frame_time = int(match.group(1)), float(match.group(2))
    if not frame_time > 0:
        raise MotionFileError(f"{path}: Frame Time must be positive, got {frame_time}")
    body = text[match.end():]
    values = np.array(body.split(), dtype=np.float64) if body.strip() else np.zeros(0)
    needed = frames * num_channels
    if values.size < needed:
        raise MotionFileError(
            f"{path}: declares {frames} frames of {num_channels} channels but holds {values.size} values; "
            "the file is truncated"
        )
    if values.size > needed:
        log.warning("%s: %d values after the declared %d frames ignored", path, values.size - needed, frames)
    return values[:needed].reshape(frames, num_channels), frame_time


def split_sections(text: str, path: pathlib.Path) -> tuple[str, str]:
    """(HIERARCHY text, MOTION text)."""
    match = re.search(r"^\s*MOTION\s*$", text, flags=re.MULTILINE | re.IGNORECASE)
    if not match:
        raise MotionFileError(f"{path}: no MOTION section; the file is not a complete BVH")
    return text[:match.start()], text[match.end():]


@dataclass(frozen=True, eq=False)
class ParsedBvh:
    """joints: in file order; data: (T, C) channel values in file order (file units, degrees); frame_time: s."""

    joints: list[BvhJoint]
    data: np.ndarray
    frame_time: float

    @property
    def columns(self) -> list[tuple[int, str]]:
        """(joint index, channel name) of each column of `data`."""
        return [(j, c) for j, joint in enumerate(self.joints) for c in joint.channels]

    def rotations(self) -> np.ndarray:
        """(T, J, 3, 3) each joint's rotation channels composed in file order (intrinsic), identity without."""
        num_frames, num_joints = self.data.shape[0], len(self.joints)
        out = np.broadcast_to(np.eye(3), (num_frames, num_joints, 3, 3)).copy()
        by_axes: dict[str, list[tuple[int, list[int]]]] = {}
        col = 0
        for j, joint in enumerate(self.joints):
            rot = [(col + k, c[0]) for k, c in enumerate(joint.channels) if c.endswith("rotation")]
            col += len(joint.channels)
            if rot:
                by_axes.setdefault("".join(a for _, a in rot), []).append((j, [k for k, _ in rot]))
        for axes, members in by_axes.items():
            idx = np.array([m[0] for m in members])
            cols = np.array([m[1] for m in members])
            out[:, idx] = channel_rotations(self.data[:, cols], axes)
        return out

    def positions(self) -> dict[int, np.ndarray]:
        """Joint index -> (T, 3) its position channels (file units), the OFFSET standing in for a missing axis."""
        out: dict[int, np.ndarray] = {}
        col = 0
        for j, joint in enumerate(self.joints):
            cols = {c[0]: col + k for k, c in enumerate(joint.channels) if c.endswith("position")}
            col += len(joint.channels)
            if cols:
                out[j] = np.stack([self.data[:, cols[a]] if a in cols else np.full(len(self.data), joint.offset[i])
                                   for i, a in enumerate(_AXES)], axis=1)
        return out


def parse_bvh(path: pathlib.Path) -> ParsedBvh:
    """The joints and frames of a BVH file; MotionFileError says what is wrong with it."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise MotionFileError(f"cannot read BVH file {path}: {err.strerror}") from None
    head, motion_text = split_sections(text, path)
    tokens = head.replace("{", " { ").replace("}", " } ").split()
    if not tokens or tokens[0].upper() != "HIERARCHY":
        raise MotionFileError(f"{path}: not a BVH file (it must start with HIERARCHY)")
    joints = parse_hierarchy(tokens[1:], path)
    data, frame_time = read_frames(motion_text, sum(len(j.channels) for j in joints), path)
    return ParsedBvh(joints, data, frame_time)
