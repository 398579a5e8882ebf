"""A picture of Examples for a person to look at: each crop with its front 2D keypoints, and side and top views.

`example_grid(examples, path)` tiles the crops (engine.render.keypoints.contact_sheet) with their labelled
keypoints drawn in the superset's skeleton, coloured by the person's side (left orange, right blue, centre
green, as the engine's drawings). Where an Example has 3D keypoints, two small panels beside its crop show
the L_CVF targets as the losses compute them (training.losses.cvf.view_targets: root-centred at the mid-hip,
orthographic, divided by 1.2 m): side = (z, y) (depth across, down down) and top = (x, z) (right across,
depth down).
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from training.data.superset import SUPERSET_NAMES

_LIMBS = [("ankle", "knee"), ("knee", "hip"), ("wrist", "elbow"), ("elbow", "shoulder"), ("shoulder", "hip")]
_BONE_NAMES = (
    [(f"{s}_{a}", f"{s}_{b}") for s in ("left", "right") for a, b in _LIMBS]
    + [(f"{s}_shoulder", "neck") for s in ("left", "right")]
    + [(f"coco_{s}_{a}", f"coco_{s}_{b}") for s in ("left", "right") for a, b in _LIMBS]
    + [(f"{s}_{a}", f"{s}_{b}") for s in ("left", "right") for a, b in (("heel", "big_toe"), ("big_toe", "small_toe"),
                                                                          ("eye", "ear"))]
    + [(f"coco_{s}_ankle", f"{s}_heel") for s in ("left", "right")] + [(f"{s}_eye", "nose") for s in ("left", "right")]
    + [("neck", "head_top"), ("left_hip", "right_hip"), ("coco_left_hip", "coco_right_hip"),
       ("coco_left_shoulder", "coco_right_shoulder")]
)
BONES: list[tuple[int, int]] = [(SUPERSET_NAMES.index(a), SUPERSET_NAMES.index(b)) for a, b in _BONE_NAMES]
_RGB = {"left": (255, 140, 0), "right": (30, 144, 255), "centre": (50, 205, 50)}
ROOT_IDS = (SUPERSET_NAMES.index("left_hip"), SUPERSET_NAMES.index("right_hip"))
PANEL = 128  # px, each side/top panel's side


def _side(name: str) -> str:
    parts = name.split("_")
    return "left" if "left" in parts else "right" if "right" in parts else "centre"


def draw_skeleton(image: np.ndarray, points: np.ndarray, confidence: np.ndarray, radius: int = 3) -> np.ndarray:
    """A copy of image (H, W, 3) uint8 RGB with the superset's (K, 2) px points drawn where confidence > 0."""
    out = np.ascontiguousarray(image).copy()
    show = (confidence > 0) & np.isfinite(points).all(axis=1)
    for a, b in BONES:
        if show[a] and show[b]:
            cv2.line(out, tuple(np.round(points[a]).astype(int)), tuple(np.round(points[b]).astype(int)),
                     _RGB[_side(SUPERSET_NAMES[b])], 1, cv2.LINE_AA)
    for k in np.flatnonzero(show):
        cv2.circle(out, tuple(np.round(points[k]).astype(int)), radius, _RGB[_side(SUPERSET_NAMES[k])], -1,
                   cv2.LINE_AA)
    return out


def view_panels(keypoints_3d: np.ndarray) -> np.ndarray:
    """(2 * PANEL, PANEL, 3) uint8: the side view above the top view of (K, 4) camera-frame keypoints."""
    import torch

    from training.losses.cvf import view_targets

    side, top, weight = view_targets(torch.from_numpy(keypoints_3d[None].astype(np.float32)), ROOT_IDS)
    panels = []
    for title, coords in (("side z,y", side[0].numpy()), ("top x,z", top[0].numpy())):
        panel = np.full((PANEL, PANEL, 3), 40, np.uint8)
        cv2.line(panel, (PANEL // 2, 0), (PANEL // 2, PANEL), (70, 70, 70), 1)
        cv2.line(panel, (0, PANEL // 2), (PANEL, PANEL // 2), (70, 70, 70), 1)
        px = (coords + 1.0) * (PANEL / 2.0)  # [-1, 1] -> the panel
        panel = draw_skeleton(panel, px, weight[0].numpy(), radius=2)
        cv2.putText(panel, title, (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (230, 230, 230), 1, cv2.LINE_AA)
        panels.append(panel)
    return np.concatenate(panels, axis=0)


def example_cell(example) -> np.ndarray:
    """One Example's picture: its crop with the front keypoints, and side/top panels when it has 3D."""
    front = draw_skeleton(example.image, example.keypoints_2d[:, :2], example.keypoints_2d[:, 2])
    h = front.shape[0]
    if (example.keypoints_3d[:, 3] > 0).any():
        panels = view_panels(example.keypoints_3d)
    else:
        panels = np.full((2 * PANEL, PANEL, 3), 40, np.uint8)
        cv2.putText(panels, "2D only", (30, PANEL), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (200, 200, 200), 1, cv2.LINE_AA)
    panels = cv2.resize(panels, (round(PANEL * h / (2 * PANEL)), h), interpolation=cv2.INTER_AREA)
    return np.concatenate([front, panels], axis=1)


def example_grid(examples, path: str | os.PathLike, columns: int = 4, labels: list[str] | None = None,
                 cell_height: int = 256) -> np.ndarray:
    """Write a PNG grid of the Examples (module docstring) to `path`; returns the picture (RGB).

    labels: one caption per example (default: source and key)."""
    from engine.render.keypoints import contact_sheet
    from engine.render.png import write_png

    examples = list(examples)
    if not examples:
        raise ValueError("example_grid needs at least one example")
    labels = labels or [f"{e.source}:{e.key}"[-32:] for e in examples]
    sheet = contact_sheet([example_cell(e) for e in examples], labels, cell_height=cell_height, columns=columns)
    write_png(path, sheet, what="example grid")
    return sheet
