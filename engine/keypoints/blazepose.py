"""BlazePose GHUM's landmark network on regions of interest: 33 body points in 2D and 3D, and the next region.

What MediaPipe's pose landmark graph does after the network, in numpy and batched over regions:
sigmoid on visibility and presence; the 2D points refined from the heatmap (the heatmap-weighted mean in a
7 x 7 window where the map is confident, MediaPipe's RefineLandmarksFromHeatmap); points mapped from the
region to the frame; world landmarks turned by the region's rotation into frame-aligned axes; the next
frame's region from auxiliary points 33 and 34.

The heatmap refinement, measured on LSP's train split and LSPET's first 1000 (whole photo, PCK@0.2, no
refinement / MediaPipe's cell corners / cell centres): full 0.768 / 0.783 / 0.787 and 0.424 / 0.436 / 0.434,
heavy 0.814 / 0.829 / 0.828 and 0.472 / 0.493 / 0.491. It stays on, with cell centres (the geometric choice;
the two offsets are within noise).

Units: 2D points in frame pixels (x right, y down); z in the same pixel scale, relative to the hips'
depth (smaller: nearer the camera); world landmarks in metres, origin between the hips, axes x right,
y down, z away from the camera (the frame's, as MediaPipe gives them).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.keypoints.models import model_spec, open_keypoint_session
from engine.keypoints.roi import BLAZEPOSE_ROI_SCALE, Roi, crops, roi_from_alignment
from engine.keypoints.sets import BLAZEPOSE_NUM_POINTS, BLAZEPOSE_ROI_POINTS

_OUTPUTS = ("landmarks", "pose_flag", "heatmap", "world_landmarks")
# MediaPipe's thresholds: a person is in the region when the flag is at least this (min_tracking_confidence),
# and a point is refined from the heatmap when its window's peak is at least this.
PRESENCE_THRESHOLD = 0.5
_REFINE_KERNEL = 7
_REFINE_MIN_CONFIDENCE = 0.5


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, np.float64), -60.0, 60.0)))


@dataclass(frozen=True, eq=False)
class BlazePoseOutput:
    """N regions' results (frame coordinates, see the module docstring).

    landmarks (N, 39, 3) x, y frame px and z; visibility, presence (N, 39) probabilities; pose_flag (N,)
    probability that a person is in the region; world (N, 33, 3) metres; rois: the regions they came from.
    """

    landmarks: np.ndarray
    visibility: np.ndarray
    presence: np.ndarray
    pose_flag: np.ndarray
    world: np.ndarray
    rois: Roi

    @property
    def found(self) -> np.ndarray:
        """(N,) bool: the network is sure a person is in the region."""
        return self.pose_flag >= PRESENCE_THRESHOLD

    def next_rois(self) -> Roi:
        """The regions to look in next frame, from the auxiliary points (MediaPipe's PoseLandmarksToRoi)."""
        start, end = BLAZEPOSE_ROI_POINTS
        return roi_from_alignment(self.landmarks[:, start, :2], self.landmarks[:, end, :2], BLAZEPOSE_ROI_SCALE)


def refine_from_heatmap(points: np.ndarray, heatmap: np.ndarray, side: int, cell_offset: float = 0.5) -> np.ndarray:
    """(N, K, 2) network coordinates (0..side) refined by (N, K, h, w) heatmap logits.

    Each point moves to the sigmoid-weighted mean cell position in the 7 x 7 window around its cell,
    where the window's peak is at least 0.5 (else it stays). cell_offset 0.5 takes cell centres (the
    geometric position of a cell); MediaPipe's calculator takes cell corners (0.0), half a cell up-left.
    """
    n, k, h, w = heatmap.shape
    half = _REFINE_KERNEL // 2
    cols = np.floor(points[..., 0] / side * w).astype(np.int64)
    rows = np.floor(points[..., 1] / side * h).astype(np.int64)
    inside = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
    window = np.arange(-half, half + 1)
    r_idx = rows[..., None] + window  # (N, K, 7)
    c_idx = cols[..., None] + window
    valid = ((r_idx >= 0) & (r_idx < h))[..., :, None] & ((c_idx >= 0) & (c_idx < w))[..., None, :]
    rr = np.clip(r_idx, 0, h - 1)[..., :, None]
    cc = np.clip(c_idx, 0, w - 1)[..., None, :]
    nn = np.arange(n)[:, None, None, None]
    kk = np.arange(k)[None, :, None, None]
    conf = np.where(valid, sigmoid(heatmap[nn, kk, rr, cc]), 0.0)  # (N, K, 7, 7)
    total = conf.sum(axis=(-1, -2))
    peak = conf.max(axis=(-1, -2))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_col = (conf * (c_idx[..., None, :] + cell_offset)).sum(axis=(-1, -2)) / total
        mean_row = (conf * (r_idx[..., :, None] + cell_offset)).sum(axis=(-1, -2)) / total
    use = inside & (peak >= _REFINE_MIN_CONFIDENCE) & (total > 0)
    out = np.array(points, np.float64)
    out[..., 0] = np.where(use, mean_col / w * side, out[..., 0])
    out[..., 1] = np.where(use, mean_row / h * side, out[..., 1])
    return out


class BlazePoseLandmarker:
    """One of the BlazePose landmark networks (lite, full, heavy) in ONNX Runtime.

    refine: refine 2D points from the heatmap (cell_offset: see refine_from_heatmap).
    """

    def __init__(self, name: str = "blazepose_full", device: str = "auto", threads: int | None = None,
                 refine: bool = True, cell_offset: float = 0.5):
        self.spec = model_spec(name, "blazepose")
        self.session = open_keypoint_session(self.spec, device, threads, _OUTPUTS)
        self.refine = refine
        self.cell_offset = cell_offset

    @property
    def side(self) -> int:
        return self.spec.input_size

    def run(self, frames: list[np.ndarray], rois: Roi) -> BlazePoseOutput:
        """Region n of frames[n] ((H, W, 3) uint8 RGB) through the network, as one batch."""
        images = crops(frames, rois, self.side, cv2.BORDER_REPLICATE).astype(np.float32) * np.float32(1 / 255)
        return self.decode(self.session.run(list(_OUTPUTS), {"image": images}), rois)

    def decode(self, outputs: list[np.ndarray], rois: Roi) -> BlazePoseOutput:
        """The network's raw outputs (in _OUTPUTS order) for `rois` -> frame coordinates."""
        raw, flag, heatmap, world = outputs
        n = len(raw)
        points = raw.reshape(n, BLAZEPOSE_NUM_POINTS, 5).astype(np.float64)
        xy = points[..., :2]
        if self.refine:
            xy = refine_from_heatmap(xy, heatmap, self.side, self.cell_offset)
        landmarks = np.empty((n, BLAZEPOSE_NUM_POINTS, 3))
        landmarks[..., :2] = rois.to_frame(xy, self.side)
        landmarks[..., 2] = points[..., 2] * (rois.size / self.side)[:, None]
        world_xyz = rois.rotate_to_frame(world.reshape(n, BLAZEPOSE_NUM_POINTS, 3)[:, :33].astype(np.float64))
        return BlazePoseOutput(landmarks=landmarks, visibility=sigmoid(points[..., 3]),
                               presence=sigmoid(points[..., 4]), pose_flag=flag.reshape(n).astype(np.float64),
                               world=world_xyz, rois=rois)
