"""Tri-view figures as the paper's Figure 5: the input crop, then side and top views of the predicted and the
true bodies (SMPL's 24-joint skeleton, root-centred, orthographic, in the network's camera frame: x right,
y down, z forward). Prediction red, truth green; on the crop, the front 2D keypoints of both.
"""

from __future__ import annotations

import os
import pathlib

import cv2
import numpy as np
import torch

from engine.body.joints import SMPL_PARENTS
from engine.render.png import write_png
from training.config import Config
from training.data.example import Example
from training.geometry import CROP_SCALE_PX

PRED_RGB, TRUE_RGB = (220, 50, 50), (40, 170, 60)
PANEL = 320
EXTENT_M = 2.2  # metres across a view panel


def _skeleton(canvas: np.ndarray, points_px: np.ndarray, colour) -> None:
    for joint, parent in enumerate(SMPL_PARENTS):
        if parent >= 0:
            a, b = (tuple(int(v) for v in np.round(points_px[i] * 4)) for i in (joint, parent))
            cv2.line(canvas, a, b, colour, 2, cv2.LINE_AA, shift=2)
    for p in points_px:
        cv2.circle(canvas, tuple(int(v) for v in np.round(p * 4)), 12, colour, -1, cv2.LINE_AA, shift=2)


def _view_panel(pred: np.ndarray, true: np.ndarray | None, axes: tuple[int, int], flip: tuple[bool, bool],
                title: str) -> np.ndarray:
    """pred, true (24, 3) root-centred metres -> PANEL x PANEL RGB with both skeletons; axes: which camera
    axes become image x and y; flip: negate them."""
    canvas = np.full((PANEL, PANEL, 3), 245, np.uint8)
    cv2.line(canvas, (PANEL // 2, 0), (PANEL // 2, PANEL), (225, 225, 225), 1)
    cv2.line(canvas, (0, PANEL // 2), (PANEL, PANEL // 2), (225, 225, 225), 1)
    sign = np.array([-1.0 if f else 1.0 for f in flip])
    for points, colour in ((true, TRUE_RGB), (pred, PRED_RGB)):
        if points is None:
            continue
        uv = points[:, list(axes)] * sign / EXTENT_M * PANEL + PANEL / 2
        _skeleton(canvas, uv, colour)
    cv2.putText(canvas, title, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (40, 40, 40), 1, cv2.LINE_AA)
    return canvas


def _image_panel(example: Example, pred_front: np.ndarray | None, true_front: np.ndarray) -> np.ndarray:
    height, width = example.image.shape[:2]
    zoom = PANEL / height
    image = cv2.resize(example.image, (round(width * zoom), PANEL), interpolation=cv2.INTER_NEAREST)
    centre = np.array([width / 2.0, height / 2.0])
    for coords, colour in ((true_front, TRUE_RGB), (pred_front, PRED_RGB)):
        if coords is None:
            continue
        for p in (coords * CROP_SCALE_PX + centre) * zoom:
            cv2.circle(image, tuple(int(v) for v in np.round(p * 4)), 10, colour, 2, cv2.LINE_AA, shift=2)
    cv2.putText(image, "image", (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def triview_figure(example: Example, pred: dict, body, config: Config) -> np.ndarray:
    """(PANEL, W, 3) RGB: crop | side | top. pred: pred_* arrays of this one example (leading axis 1)."""
    gt_pose = torch.from_numpy(np.asarray(example.pose_rotmat, np.float32))[None]
    gt_betas = torch.from_numpy(np.asarray(example.betas, np.float32))[None]
    with torch.no_grad():
        true = body(gt_pose, gt_betas).joints[0].double().numpy()
        mine = body(torch.as_tensor(pred["pred_pose_rotmat"], dtype=torch.float32),
                    torch.as_tensor(pred["pred_betas"], dtype=torch.float32)).joints[0].double().numpy()
    # a 2D-only example (a photo) has no true body: only the prediction is drawn in the side and top views
    true, mine = (true - true[0]) if example.has_pose else None, mine - mine[0]
    names = config.body.keypoint_names
    from training.data.superset import select

    height, width = example.image.shape[:2]
    gt_front = select(example.keypoints_2d, names)[:, :2]
    gt_front = (gt_front - np.array([width / 2.0, height / 2.0])) / CROP_SCALE_PX
    pred_front = pred["pred_kp2d_front"][0] if "pred_kp2d_front" in pred else None
    panels = [
        _image_panel(example, pred_front, gt_front),
        _view_panel(mine, true, (2, 1), (False, False), "side (z right, y down)"),
        _view_panel(mine, true, (0, 2), (False, True), "top (x right, z up)"),
    ]
    return np.concatenate(panels, axis=1)


def write_triview_figure(path: str | os.PathLike, example: Example, pred: dict, body, config: Config) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_png(path, triview_figure(example, pred, body, config), what="tri-view figure")
