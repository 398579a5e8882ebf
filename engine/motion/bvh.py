"""BVH motion files: read into a Motion (metres, y up) and write a Motion back, vectorised over frames.

Reading handles every channel order, 6 channels on every joint (Bandai Namco style, where a joint's
position channels equal its offset), end sites, and CMU units. A joint with position channels sits at
those values in its parent's frame (they replace its OFFSET); only the root's are kept per frame, as
Motion holds rotations and a root path. Rotation channels compose in file order (intrinsic), in degrees.

Units: a BVH file has none. `units="auto"` picks, among m, cm, mm, inch and cmu, the unit that makes
the rest skeleton's largest extent (its height, or arm span) closest to 1.7 m on a log scale; CMU's
unit is an inch / 0.45 = 0.0254 / 0.45 m (about 0.0564 m). Pass `units` or `scale` (metres per file
unit, wins over `units`) for anything that is not a human-sized figure.
"""

from __future__ import annotations

import logging
import math
import os
import pathlib
import re

import numpy as np

from engine.atomic import atomic_path
from engine.errors import MotionFileError
from engine.motion.kinematics import forward_kinematics, rest_world_transforms
from engine.motion.motion import Motion
from engine.motion.skeleton import Skeleton
from engine.rotations import euler_to_matrix, matrix_to_euler

log = logging.getLogger(__name__)

# Metres per file unit.
UNIT_SCALES: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu": 0.0254 / 0.45}
_TYPICAL_FIGURE_EXTENT_M = 1.7
_AXES = "XYZ"


class _Joint:
    __slots__ = ("name", "parent", "offset", "channels", "end_offset")

    def __init__(self, name: str, parent: int):
        self.name = name
        self.parent = parent
        self.offset = np.zeros(3)
        self.channels: list[str] = []
        self.end_offset = np.zeros(3)


def _parse_hierarchy(tokens: list[str], path: pathlib.Path) -> list[_Joint]:
    """The joints of a HIERARCHY section (tokens between HIERARCHY and MOTION)."""
    joints: list[_Joint] = []
    stack: list[int | None] = []  # joint index per open brace; None for an End Site block
    pending: _Joint | None = None
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
            pending = _Joint(tokens[i + 1], parent)
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


def _fps_from_frame_time(frame_time: float) -> float:
    """Frames per second; snapped to the nearest integer when within 0.1 % (0.0083333 s -> 120)."""
    fps = 1.0 / frame_time
    nearest = round(fps)
    return float(nearest) if nearest > 0 and abs(fps - nearest) <= 1e-3 * fps else fps


def detect_units(skeleton_extent: float) -> str:
    """The unit among UNIT_SCALES that makes an extent (file units) closest to 1.7 m on a log scale."""
    if not skeleton_extent > 0:
        return "m"
    return min(UNIT_SCALES, key=lambda u: abs(math.log(skeleton_extent * UNIT_SCALES[u] / _TYPICAL_FIGURE_EXTENT_M)))


def _rest_extent(skeleton: Skeleton) -> float:
    rest = rest_world_transforms(skeleton)
    tips = rest.positions[0] + np.einsum("jab,jb->ja", rest.rotations[0], skeleton.end_offsets)
    points = np.concatenate([rest.positions[0], tips])
    return float(np.max(points.max(0) - points.min(0)))


def _channel_rotations(angles_deg: np.ndarray, axes: str) -> np.ndarray:
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


def _read_frames(text: str, num_channels: int, path: pathlib.Path) -> tuple[np.ndarray, float]:
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


def read_bvh(path: str | os.PathLike, units: str = "auto", scale: float | None = None) -> Motion:
    """Read a BVH file into a Motion in metres (y up, as BVH files are).

    units: "auto" (see the module docstring), or one of "m", "cm", "mm", "inch", "cmu".
    scale: metres per file unit; overrides `units`.
    Returns a Motion with world-aligned rest frames (identity rest rotations), rotations (T, J, 3, 3),
    root_translation (T, 3) metres and the file's fps.
    """
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise MotionFileError(f"cannot read BVH file {path}: {err.strerror}") from None
    head, motion_text = _split_sections(text, path)
    tokens = head.replace("{", " { ").replace("}", " } ").split()
    if not tokens or tokens[0].upper() != "HIERARCHY":
        raise MotionFileError(f"{path}: not a BVH file (it must start with HIERARCHY)")
    joints = _parse_hierarchy(tokens[1:], path)
    columns: list[tuple[int, str]] = [(j, c) for j, joint in enumerate(joints) for c in joint.channels]
    data, frame_time = _read_frames(motion_text, len(columns), path)

    skeleton_units = Skeleton.from_offsets(
        [jt.name for jt in joints], [jt.parent for jt in joints], [jt.offset for jt in joints],
        [jt.end_offset for jt in joints],
    )
    if scale is None:
        if units == "auto":
            units = detect_units(_rest_extent(skeleton_units))
            log.info("%s: units detected as %s", path.name, units)
        if units not in UNIT_SCALES:
            raise MotionFileError(f"unknown units {units!r}; use 'auto' or one of {sorted(UNIT_SCALES)}")
        scale = UNIT_SCALES[units]
    if not scale > 0:
        raise MotionFileError(f"scale must be positive metres per file unit, got {scale}")

    num_frames, num_joints = data.shape[0], len(joints)
    rotations = np.broadcast_to(np.eye(3), (num_frames, num_joints, 3, 3)).copy()
    by_axes: dict[str, list[tuple[int, list[int]]]] = {}
    positions: dict[int, list[int]] = {}
    for j, joint in enumerate(joints):
        cols = [k for k, (jj, _) in enumerate(columns) if jj == j]
        rot = [(k, c[0]) for k, c in zip(cols, joint.channels, strict=True) if c.endswith("rotation")]
        pos = {c[0]: k for k, c in zip(cols, joint.channels, strict=True) if c.endswith("position")}
        if rot:
            by_axes.setdefault("".join(a for _, a in rot), []).append((j, [k for k, _ in rot]))
        if pos:
            positions[j] = [pos.get(a, -1) for a in _AXES]
    for axes, members in by_axes.items():
        idx = np.array([m[0] for m in members])
        cols = np.array([m[1] for m in members])
        rotations[:, idx] = _channel_rotations(data[:, cols], axes)

    offsets = np.array([jt.offset for jt in joints])
    root_translation = np.broadcast_to(offsets[0], (num_frames, 3)).copy()
    for j, cols in positions.items():
        values = np.where(np.array(cols) >= 0, data[:, cols], offsets[j])
        if j == 0:
            root_translation = values
        elif num_frames and np.max(np.abs(values - offsets[j])) * scale > 1e-3:
            log.warning("%s: joint %r moves away from its OFFSET; per-joint translations are not kept",
                        path.name, joints[j].name)
    skeleton = Skeleton.from_offsets(
        skeleton_units.names, skeleton_units.parents, offsets * scale, skeleton_units.end_offsets * scale
    )
    return Motion(skeleton=skeleton, rotations=rotations, root_translation=root_translation * scale,
                  fps=_fps_from_frame_time(frame_time))


def _split_sections(text: str, path: pathlib.Path) -> tuple[str, str]:
    """(HIERARCHY text, MOTION text)."""
    match = re.search(r"^\s*MOTION\s*$", text, flags=re.MULTILINE | re.IGNORECASE)
    if not match:
        raise MotionFileError(f"{path}: no MOTION section; the file is not a complete BVH")
    return text[:match.start()], text[match.end():]


def _world_aligned(motion: Motion) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets (J, 3), end offsets (J, 3) and local rotations (T, J, 3, 3) for world-aligned joint frames.

    BVH has no rest orientations: a rig whose joint frames are turned at rest (Blender bones) is written
    with each joint's rest frame rotated back to the world's, and its rotations conjugated to match.
    """
    sk = motion.skeleton
    if np.allclose(sk.rest_rotations, np.eye(3), atol=1e-12):
        return sk.offsets, sk.end_offsets, motion.rotations
    rest = rest_world_transforms(sk).rotations[0]
    parents = np.asarray(sk.parents)
    parent_rest = np.concatenate([np.eye(3)[None], rest[parents[1:]]])
    offsets = np.einsum("jab,jb->ja", parent_rest, sk.offsets)
    offsets[0] = sk.offsets[0]
    end_offsets = np.einsum("jab,jb->ja", rest, sk.end_offsets)
    world = forward_kinematics(sk, motion.rotations, motion.root_translation).rotations
    delta = world @ np.swapaxes(rest, -1, -2)[None]
    parent_delta = np.concatenate([np.broadcast_to(np.eye(3), delta[:, :1].shape), delta[:, parents[1:]]], axis=1)
    return offsets, end_offsets, np.swapaxes(parent_delta, -1, -2) @ delta


def _hierarchy_text(names, parents, offsets, end_offsets, order: str, fmt) -> tuple[str, list[int]]:
    """The HIERARCHY text and the joints in the order it lists them (depth first), which the frames follow."""
    children: dict[int, list[int]] = {}
    for j, p in enumerate(parents):
        children.setdefault(int(p), []).append(j)
    lines = ["HIERARCHY"]
    listed: list[int] = []

    def emit(j: int, depth: int) -> None:
        listed.append(j)
        pad = "\t" * depth
        kind = "ROOT" if j == 0 else "JOINT"
        lines.append(f"{pad}{kind} {names[j]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}\tOFFSET {' '.join(fmt(v) for v in offsets[j])}")
        rot = " ".join(f"{a}rotation" for a in order)
        if j == 0:
            lines.append(f"{pad}\tCHANNELS 6 Xposition Yposition Zposition {rot}")
        else:
            lines.append(f"{pad}\tCHANNELS 3 {rot}")
        for c in children.get(j, []):
            emit(c, depth + 1)
        if not children.get(j):
            lines.extend([f"{pad}\tEnd Site", f"{pad}\t{{",
                          f"{pad}\t\tOFFSET {' '.join(fmt(v) for v in end_offsets[j])}", f"{pad}\t}}"])
        lines.append(f"{pad}}}")

    emit(0, 0)
    return "\n".join(lines) + "\n", listed


def write_bvh(motion: Motion, path: str | os.PathLike, units: str = "m", rotation_order: str = "ZYX") -> None:
    """Write a Motion as BVH, atomically (a temporary file in the same folder, then a rename).

    units: the file's unit (values are metres divided by UNIT_SCALES[units]). rotation_order: the
    Euler channel order of every joint, e.g. "ZYX" (R = Rz @ Ry @ Rx). The root gets 6 channels.
    Joints are listed depth first (as BVH nests them), so a skeleton in another order reads back reordered.
    """
    path = pathlib.Path(path)
    if units not in UNIT_SCALES:
        raise MotionFileError(f"unknown units {units!r}; use one of {sorted(UNIT_SCALES)}")
    order = rotation_order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise MotionFileError(f"rotation_order must be a permutation of XYZ, got {rotation_order!r}")
    per_metre = 1.0 / UNIT_SCALES[units]
    offsets, end_offsets, local = _world_aligned(motion)

    def fmt(v: float) -> str:
        return f"{v:.9g}"

    header, listed = _hierarchy_text(motion.skeleton.names, motion.skeleton.parents, offsets * per_metre,
                                     end_offsets * per_metre, order, fmt)
    euler = np.rad2deg(matrix_to_euler(local[:, listed], order))  # (T, J, 3) in the file's joint order
    frames = np.concatenate([motion.root_translation * per_metre, euler.reshape(motion.num_frames, -1)], axis=1)
    header += f"MOTION\nFrames: {motion.num_frames}\nFrame Time: {1.0 / motion.fps:.12g}\n"
    with atomic_path(path, error=MotionFileError, what="BVH") as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(header)
        np.savetxt(f, frames, fmt="%.9g", delimiter=" ")
