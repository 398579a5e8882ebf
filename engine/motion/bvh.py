"""BVH motion files: read into a Motion (metres, y up) and write a Motion back, vectorised over frames.

Reading handles every channel order (several in one file), 6 channels on every joint, end sites, and
the conventions a file leaves unsaid (`engine.motion.conventions`): its unit (m, dm, cm, mm, inch, CMU;
detected from the figure's size), its up axis (detected from where the chest is above the feet), a
frame rate a hair off an integer, and where the translation lives: the root's position channels, or,
where the root stays put, those of the joint below it (the root is moved along that path).
A non-root joint's position channels replace its OFFSET (their median, where they move but do not carry
the body). Rotation channels compose in file order (intrinsic), in degrees.
"""

from __future__ import annotations

import logging
import os
import pathlib

import numpy as np

from engine.atomic import atomic_path
from engine.errors import MotionFileError
from engine.motion.bvh_parse import ParsedBvh, parse_bvh
from engine.motion.conventions import (
    UNIT_SCALES,
    FileConventions,
    change_basis,
    detect_up,
    resolve_scale,
    snap_fps,
    up_to_y,
)
from engine.motion.kinematics import forward_kinematics, rest_world_transforms
from engine.motion.motion import Motion
from engine.motion.skeleton import Skeleton
from engine.rotations import matrix_to_euler

log = logging.getLogger(__name__)

__all__ = ["UNIT_SCALES", "read_bvh", "read_bvh_conventions", "write_bvh"]

# Metres a joint's position channels may wander from their median and still count as a constant offset.
_STILL_M = 1e-3


def _single_child_chain(parents: np.ndarray, j: int) -> bool:
    """Whether every ancestor of j has exactly one child (moving the root moves only j's subtree)."""
    counts = np.bincount(parents[parents >= 0], minlength=len(parents))
    p = int(parents[j])
    while p >= 0:
        if counts[p] != 1:
            return False
        p = int(parents[p])
    return True


def _channel_positions(values: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """(T, 3) a non-root joint's position in its parent's frame from its position channels (file units).

    Exporters disagree: most write the position (it replaces the OFFSET), Blender's writes the pose
    translation on top of the rest (it adds to the OFFSET). Whichever the channels lie closer to, the
    OFFSET or zero, says which: channels that stay within half the OFFSET's length of zero add to it.
    """
    median = np.median(values, axis=0) if len(values) else offset
    adds = np.linalg.norm(median) < 0.5 * np.linalg.norm(offset)
    return values + offset if adds else values


def _translation_and_offsets(parsed: ParsedBvh, skeleton: Skeleton, rotations: np.ndarray, scale: float):
    """(offsets (J, 3) file units, root path (T, 3) file units, the joint that carries the path).

    The root's position channels are its path (they replace its OFFSET). A non-root joint's channels
    that hold still set its offset; the first that move by more than the root does, below a root with no
    other children, carry the body: the root is moved so that joint follows its channels exactly.
    """
    offsets = skeleton.offsets.copy()
    positions = parsed.positions()
    num_frames = parsed.data.shape[0]
    root_path = positions.get(0, np.broadcast_to(offsets[0], (num_frames, 3))).copy()
    offsets[0] = root_path[0] if num_frames else offsets[0]
    carrier, parents = 0, np.asarray(skeleton.parents)
    root_range = float(np.ptp(root_path, axis=0).max(initial=0.0)) if num_frames else 0.0
    for j in sorted(k for k in positions if k > 0):
        values = _channel_positions(positions[j], offsets[j])
        median = np.median(values, axis=0) if num_frames else offsets[j]
        wander = float(np.abs(values - median).max(initial=0.0)) * scale
        if wander <= _STILL_M:
            offsets[j] = median
        elif carrier == 0 and np.ptp(values, axis=0).max() > max(root_range, 0.01 / scale) \
                and _single_child_chain(parents, j):
            offsets[j] = values[0]
            above = forward_kinematics(Skeleton.from_offsets(skeleton.names, parents, offsets), rotations,
                                       root_path, joints=[int(parents[j])]).rotations[:, int(parents[j])]
            root_path = root_path + np.einsum("tab,tb->ta", above, values - values[0])
            carrier = j
        else:
            offsets[j] = median
            log.warning("%s moves away from its OFFSET by up to %.1f mm; its median position is kept",
                        skeleton.names[j], wander * 1000)
    return offsets, root_path, skeleton.names[carrier]


def read_bvh_conventions(
    path: str | os.PathLike, units: str = "auto", scale: float | None = None, up: str = "auto",
) -> tuple[Motion, FileConventions]:
    """Read a BVH file into a Motion in metres, y up, and say which conventions were found and why.

    units: "auto", or a key of conventions.UNIT_SCALES ("m", "dm", "cm", "mm", "inch", "cmu").
    scale: metres per file unit; overrides `units`. up: "auto", or the file's up axis ("y", "z", "-y", ...).
    Returns (Motion with world-aligned rest frames, rotations (T, J, 3, 3), root_translation (T, 3) metres,
    fps; FileConventions).
    """
    path = pathlib.Path(path)
    parsed = parse_bvh(path)
    joints = parsed.joints
    names, parents = [jt.name for jt in joints], [jt.parent for jt in joints]
    raw = Skeleton.from_offsets(names, parents, [jt.offset for jt in joints], [jt.end_offset for jt in joints])
    rotations = parsed.rotations()
    units, scale, units_reason = resolve_scale(raw, units, scale)
    offsets, root_path, carrier = _translation_and_offsets(parsed, raw, rotations, scale)
    skeleton = Skeleton.from_offsets(names, parents, offsets * scale, raw.end_offsets * scale)
    file_fps = 1.0 / parsed.frame_time
    motion = Motion(skeleton=skeleton, rotations=rotations, root_translation=root_path * scale,
                    fps=snap_fps(parsed.frame_time))
    if up == "auto":
        up, up_reason = detect_up(motion)
    else:
        up_reason = "as given"
    motion = change_basis(motion, up_to_y(up))
    conventions = FileConventions(units, scale, units_reason, up, up_reason, motion.fps, file_fps, carrier)
    log.info("%s: %s", path.name, conventions.summary())
    return motion, conventions


def read_bvh(path: str | os.PathLike, units: str = "auto", scale: float | None = None, up: str = "auto") -> Motion:
    """Read a BVH file into a Motion in metres, y up (see `read_bvh_conventions`, which also says why)."""
    return read_bvh_conventions(path, units, scale, up)[0]


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


# An End Site a rig leaves at zero length (SMPL's hands, feet, head) continues its bone by this fraction,
# at least _MIN_END_SITE_M: importers (Blender) warn about, and drop, zero-length bones.
_END_SITE_FRACTION = 0.5
_MIN_END_SITE_M = 0.02


def _visible_end_sites(offsets: np.ndarray, end_offsets: np.ndarray) -> np.ndarray:
    """(J, 3) metres: end offsets with the zero-length ones replaced by a continuation of the joint's bone
    (half its length, at least 2 cm; straight up where the bone has no length either). World-aligned frames."""
    out = end_offsets.copy()
    length = np.linalg.norm(offsets, axis=1)
    empty = np.linalg.norm(end_offsets, axis=1) < 1e-9
    direction = np.where(length[:, None] > 1e-9, offsets / np.maximum(length, 1e-12)[:, None], [0.0, 1.0, 0.0])
    out[empty] = direction[empty] * np.maximum(_END_SITE_FRACTION * length[empty], _MIN_END_SITE_M)[:, None]
    return out


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
    Every leaf gets an End Site of non-zero length (`_visible_end_sites`).
    """
    path = pathlib.Path(path)
    if units not in UNIT_SCALES:
        raise MotionFileError(f"unknown units {units!r}; use one of {sorted(UNIT_SCALES)}")
    order = rotation_order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise MotionFileError(f"rotation_order must be a permutation of XYZ, got {rotation_order!r}")
    per_metre = 1.0 / UNIT_SCALES[units]
    offsets, end_offsets, local = _world_aligned(motion)
    end_offsets = _visible_end_sites(offsets, end_offsets)

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
