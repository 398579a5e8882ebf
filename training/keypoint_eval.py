"""The pretrained keypoint networks on LSP / LSPET photos: predictions (cached) and PCK.

Two ways in, as the benchmark reports them:
- "crop": the whole 224 x 224 photo (a square 1.5x the person's joint box) resized to the network's input;
  no detector.
- "roi": the way `planted capture` sees a person: our person detector on the photo, BlazePose's rotated
  region from its keypoints, then the region BlazePose's own landmarks give (as on the next video frame:
  the stage's tracking, converged on a still image); MoveNet on the same region times its crop scale.
  Where the detector finds nobody, the whole photo is the region.

PCK@0.2: a joint is right when within 0.2 x the torso (|left shoulder - right hip|) of the label, over the
12 limb joints of LSP-14 that are labelled. Left and right are the person's own in the labels and the models.
Predictions are cached under .cache/keypoint_eval/ (keyed by split, model, mode and settings).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from engine.body.keypoints import LSP14_NAMES
from engine.keypoints.roi import Roi
from engine.keypoints.sets import LSP_LIMB_NAMES, LSP_LIMB_TO_BODY23
from training.data.lsp import LspSet, torso_size

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "keypoint_eval"
PHOTO_SIDE = 224
LSP_LIMB_ROWS = np.array([LSP14_NAMES.index(n) for n in LSP_LIMB_NAMES])


def whole_photo_rois(n: int) -> Roi:
    return Roi(np.full((n, 2), (PHOTO_SIDE - 1) / 2), np.full(n, float(PHOTO_SIDE)), np.zeros(n))


def detector_rois(data: LspSet, detector) -> tuple[Roi, np.ndarray]:
    """BlazePose regions from our person detector on each photo (N,), and which photos it found someone in."""
    from engine.keypoints.roi import BLAZEPOSE_ROI_SCALE, roi_from_alignment

    rois = whole_photo_rois(len(data))
    found = np.zeros(len(data), bool)
    for i in range(len(data)):
        detections = detector.detect(data.image(i))
        if detections:
            kp = detections[0].keypoints
            r = roi_from_alignment(kp[0], kp[1], BLAZEPOSE_ROI_SCALE)
            rois.centre[i], rois.size[i], rois.rotation[i] = r.centre[0], r.size[0], r.rotation[0]
            found[i] = True
    return rois, found


def _cache_path(kind: str, data: LspSet, settings: dict) -> Path:
    key = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    return CACHE / f"{data.name}_{len(data)}_{kind}_{key}.npz"


def cached(kind: str, data: LspSet, settings: dict, compute) -> dict[str, np.ndarray]:
    path = _cache_path(kind, data, settings)
    if path.is_file():
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    arrays = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return arrays


def pck(points_body23: np.ndarray, data: LspSet, threshold: float = 0.2) -> tuple[float, np.ndarray]:
    """PCK over the labelled limb joints: (overall, per limb joint (12,) in LSP_LIMB_NAMES order)."""
    dist, labelled = normalised_errors(points_body23, data)
    correct = np.where(np.isfinite(dist), dist <= threshold, False) & labelled
    per_joint = correct.sum(axis=0) / np.maximum(labelled.sum(axis=0), 1)
    return float(correct.sum() / max(labelled.sum(), 1)), per_joint


def normalised_errors(points_body23: np.ndarray, data: LspSet) -> tuple[np.ndarray, np.ndarray]:
    """(N, 12) limb-joint errors / torso (NaN where unpredicted) and (N, 12) scored mask: labelled joints of
    photos whose torso is labelled."""
    pred = points_body23[:, LSP_LIMB_TO_BODY23]
    truth = data.joints[:, LSP_LIMB_ROWS]
    torso = torso_size(data.joints, data.labelled)
    dist = np.linalg.norm(pred - truth, axis=-1) / np.where(np.isfinite(torso), torso, 1.0)[:, None]
    return dist, data.labelled[:, LSP_LIMB_ROWS] & np.isfinite(torso)[:, None]


def predict_pair(data: LspSet, movenet: str, blazepose: str, mode: str, threads: int = 2) -> dict[str, np.ndarray]:
    """Both networks' raw outputs on every photo, the way `mode` says (module docstring), cached.

    Returns movenet (N, 17, 3) x, y, score; blazepose (N, 33, 5) x, y, z, visibility, presence; pose_flag (N,);
    roi (N, 4); found (N,) whether the detector found the person (roi mode; True in crop mode).
    """
    from engine.keypoints.stage import KeypointStage

    settings = {"movenet": movenet, "blazepose": blazepose, "mode": mode, "version": 1}

    def compute() -> dict[str, np.ndarray]:
        stage = KeypointStage(device="cpu", threads=threads, models=(movenet, blazepose))
        if mode == "crop":
            whole = whole_photo_rois(len(data))
            parts = []
            for start in range(0, len(data), 16):
                idx = np.arange(start, min(start + 16, len(data)))
                images = [data.image(i) for i in idx]
                bp, mn = stage.blazepose.run(images, whole[idx]), stage.movenet.run(images, whole[idx])
                parts.append(stage.combine(bp, mn))
            found = np.ones(len(data), bool)
        elif mode == "roi":
            from engine.capture.detector import BlazePoseDetector

            seeds, found = detector_rois(data, BlazePoseDetector(threads=threads))
            parts = []
            for start in range(0, len(data), 16):
                idx = np.arange(start, min(start + 16, len(data)))
                parts.append(stage.still([data.image(i) for i in idx], seeds[idx]))
        else:
            raise ValueError(f"mode {mode!r}")
        return {"movenet": np.concatenate([p.movenet for p in parts]),
                "blazepose": np.concatenate([p.blazepose for p in parts]),
                "pose_flag": np.concatenate([p.pose_flag for p in parts]),
                "roi": np.concatenate([p.roi for p in parts]), "found": found}

    return cached("pair", data, settings, compute)
