"""Stick-figure sheets: a source motion and its retarget side by side, a few frames, front and side views.

    sheet(source, result, path, frames=4)

Each row is one frame; columns: source from the front, target from the front, source from the side,
target from the side. The front view looks at the body along its forward axis (the hip line runs
across the picture), the side view along its hip line. Left limbs red, right blue, the trunk grey; a
green dot marks a heel or toe the source has planted on that frame; the line is each figure's floor
(its feet's ground level). Metres to pixels at one scale for both figures; joints above the pelvis (a
root left at the origin) are not drawn. Written with OpenCV.
"""

from __future__ import annotations

import pathlib

import cv2
import numpy as np

from engine.motion.anatomy import ancestors, parse_bone_name
from engine.motion.kinematics import world_transforms
from engine.retarget.contacts import foot_speeds, ground_levels

PANEL = (300, 220)  # height, width in pixels
METRES_TALL = 2.3
COLOURS = {"left": (60, 60, 220), "right": (220, 120, 40), None: (90, 90, 90)}


def _axes(positions: np.ndarray, index: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(across, forward) unit horizontal vectors of a pose: the hip line and the way the body faces."""
    across = positions[index["left_hip"]] - positions[index["right_hip"]]
    across[1] = 0.0
    across /= max(float(np.linalg.norm(across)), 1e-9)
    return across, np.cross(across, [0.0, 1.0, 0.0])


def _panel(positions, parents, sides, horizontal, floor, centre, planted_points, pelvis: int) -> np.ndarray:
    """One view: positions (J, 3) projected onto (horizontal, up), the floor at `floor` metres. Joints above
    the pelvis in the hierarchy (a root that stays at the origin, Unreal's root) are not drawn."""
    h, w = PANEL
    img = np.full((h, w, 3), 255, np.uint8)
    scale = h / METRES_TALL
    base = h - 20

    def pixel(p):
        return (int(round(w / 2 + scale * float(np.dot(p - centre, horizontal)))),
                int(round(base - scale * (float(p[1]) - floor))))

    cv2.line(img, (0, base), (w, base), (0, 0, 0), 1)
    above = set(ancestors(np.asarray(parents), pelvis))
    for j, p in enumerate(parents):
        if p >= 0 and p not in above:
            cv2.line(img, pixel(positions[p]), pixel(positions[j]), COLOURS[sides[j]], 2, cv2.LINE_AA)
    for point in planted_points:
        cv2.circle(img, pixel(point), 4, (40, 170, 40), -1, cv2.LINE_AA)
    return img


def sheet(source, result, path: str | pathlib.Path, frames: int = 4, title: str = "") -> pathlib.Path:
    """Write the PNG sheet for `source` and `result` (a transfer.RetargetResult) to `path`."""
    path = pathlib.Path(path)
    src_idx = result.source_map.indices(source.skeleton)
    tgt_idx = result.target_map.indices(result.motion.skeleton)
    src = world_transforms(source).positions
    tgt = world_transforms(result.motion).positions
    picks = np.linspace(0, source.num_frames - 1, frames).round().astype(int)
    planted = result.report.planted if result.report is not None else np.zeros((source.num_frames, 4), bool)
    feet = ("left_ankle", "left_foot", "right_ankle", "right_foot")

    def points(positions, index):
        return np.stack([positions[:, index.get(n, index[n.replace("foot", "ankle")])] for n in feet], axis=1)

    src_feet, tgt_feet = points(src, src_idx), points(tgt, tgt_idx)
    src_floor = float(ground_levels(*foot_speeds(src_feet, source.fps)).min())
    tgt_floor = float(ground_levels(*foot_speeds(tgt_feet, source.fps)).min())
    src_sides = [parse_bone_name(n).side for n in source.skeleton.names]
    tgt_sides = [parse_bone_name(n).side for n in result.motion.skeleton.names]
    rows = []
    for t in picks:
        across, forward = _axes(src[t], src_idx)
        cells = []
        for horizontal in (across, forward):
            for pos, feet_pos, index, parents, sides, floor in (
                    (src[t], src_feet[t], src_idx, source.skeleton.parents, src_sides, src_floor),
                    (tgt[t], tgt_feet[t], tgt_idx, result.motion.skeleton.parents, tgt_sides, tgt_floor)):
                cells.append(_panel(pos, parents, sides, horizontal, floor, pos[index["pelvis"]],
                                    feet_pos[planted[t]], index["pelvis"]))
        row = np.concatenate(cells, axis=1)
        cv2.putText(row, f"frame {t}", (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        rows.append(row)
    header = np.full((28, rows[0].shape[1], 3), 255, np.uint8)
    labels = "source front | target front | source side | target side"
    cv2.putText(header, f"{title}   {labels}", (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    image = np.concatenate([header] + rows, axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")
    return path
