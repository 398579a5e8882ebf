"""Pseudo-labels for real video frames: 2D from the keypoint stage, 3D (theta, beta, contacts) from the body fit.

    .venv/bin/python -m training.data.pseudo_labels --videos pose_1.mp4 pose_squats.mp4 ... -o labels.npz \\
        [--annotation multiview_labels.npz] [--start N --end N --stride N] [--keypoints balanced]

A single video goes through `planted capture`'s own pipeline (engine.capture.pipeline.capture: the detector,
the keypoint stage, the body fit over the clip in the video camera's frame). A video whose name is a camera
of a multi-view annotation (training.annotate's labels file, given with --annotation: the paper's annotator,
better than one view's fit) takes that annotation's body, seen from that camera, instead.

The labels file (.npz, allow_pickle=False) is small: no pixels; the frames are read from the videos when the
Examples are made (training.data.pseudo_examples). N samples (one person in one frame of one view):
    video (N,) str, frame (N,) int64        the video file and its frame (the file's index, the engine's decoding)
    view (N,) str, method (N,) str          the calibration's camera name ('' for one video); "fit" or "multiview"
    keypoints_2d (N, KS, 3)                 the stage's points in frame px + confidence, superset order (KS = 42)
    keypoints_3d (N, KS, 4)                 the fitted body's keypoints, metres, camera frame (x right, y down,
                                            z forward) + confidence
    pose (N, 72), betas (N, 10)             SMPL axis-angle, the root's relative to the camera frame
    trans (N, 3)                            the body's AMASS translation in the camera frame (metres)
    contact_bits (N, ceil(Vc / 8)) uint8    per sole vertex (the body model's contact vertices, left first):
                                            np.unpackbits(bits, axis=1, count=num_contact_vertices)
    has_contact (N,) bool, num_contact_vertices ()
    center (N, 2), height (N,)              the crop window in frame px (the stage's points' box, padded)
    reprojection_px (N,), confidence (N,)   the fit's median keypoint error in that view; the stage's median
                                            confidence over the 17 COCO points
    weight (N,)                             confidence / (1 + (reprojection / (0.05 * person height))^2)
    body_model_id (), version ()
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from engine.errors import PlantedError
from training.data.crop import CROP_SIZE, keypoint_window
from training.data.files import DatasetFileError, field, load_npz
from training.data.superset import (
    COCO17_TO_SUPERSET,
    FEET6_TO_SUPERSET,
    NUM_SUPERSET,
    SUPERSET_NAMES,
    coco_name,
)

log = logging.getLogger(__name__)
VERSION = 1
# A frame's 2D labels are confident enough to place a crop from this stage confidence on.
MIN_CONFIDENCE = 0.3
# The fit's reprojection error, as a share of the person's height, at which a sample's weight halves.
HALF_WEIGHT_ERROR = 0.05
# Eq. 4's delta: a sole vertex of a planted foot within this of the ground (or of the foot's lowest point,
# where one camera's depth leaves the foot floating) is in contact.
CONTACT_DELTA_M = 0.025
_BODY_KEYPOINT_SETS = ("lsp14", "h36m17", "coco17", "feet6")
# Which body-model keypoint fills which superset row (training.body.KEYPOINT_SETS's choice: H36M's nose
# regressor is SPIN's jaw).
_H36M_ROWS = {"pelvis": "pelvis", "thorax": "thorax", "spine": "spine", "nose": "jaw", "head": "head"}


def body23_to_superset(points: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """(T, 23, 2) BODY23 px and (T, 23) confidence -> (T, KS, 3): COCO limbs to the coco_* rows, the face to
    the shared rows, the feet to the feet rows; NaN points get confidence 0."""
    out = np.zeros((len(points), NUM_SUPERSET, 3))
    ok = np.isfinite(points).all(-1)
    values = np.concatenate([np.where(ok[..., None], points, 0.0), np.where(ok, confidence, 0.0)[..., None]], -1)
    out[:, COCO17_TO_SUPERSET] = values[:, :17]
    out[:, FEET6_TO_SUPERSET] = values[:, 17:]
    return out


def superset_keypoints_3d(body_model, rotations: np.ndarray, betas: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """(T, KS, 4) the posed body's keypoints (the frame `rotations` and `trans` are in, metres) + confidence 1
    on every row the body model regresses (all but none: every superset point has a regressor)."""
    from engine.body.lbs import body_forward

    out = body_forward(body_model, rotations, betas, trans, vertices=False, keypoint_sets=_BODY_KEYPOINT_SETS)
    result = np.zeros((len(rotations), NUM_SUPERSET, 4))
    for set_name in _BODY_KEYPOINT_SETS:
        for k, name in enumerate(body_model.keypoint_names[set_name]):
            if set_name == "h36m17":
                name = _H36M_ROWS.get(name, "")
            elif set_name == "coco17":
                name = coco_name(name)
            if name in SUPERSET_NAMES:
                row = SUPERSET_NAMES.index(name)
                result[:, row, :3] = out.keypoints[set_name][:, k]
                result[:, row, 3] = 1.0
    return result


def sole_contacts(body_model, rotations: np.ndarray, betas: np.ndarray, trans: np.ndarray, ground,
                  foot_contact: np.ndarray) -> np.ndarray:
    """(T, Vc) bool per sole vertex (left sole's, then right's) from one camera's fit: a vertex of a planted foot
    (contact probability >= 0.5) within CONTACT_DELTA_M of the ground, or of the foot's lowest point when the
    whole foot hovers above it (monocular depth)."""
    from engine.fit.contacts import sole_vertices
    from engine.fit.state import State

    soles = sole_vertices(body_model, State(rotations=rotations, trans=trans, betas=np.asarray(betas, np.float64)))
    height = ground.signed_distance(soles)  # (T, Vc) metres above the plane
    left = body_model.num_left_contact_vertices
    out = np.zeros(height.shape, bool)
    for foot, part in enumerate((slice(0, left), slice(left, None))):
        h = height[:, part]
        reference = np.maximum(h.min(axis=1, keepdims=True), 0.0)
        out[:, part] = (h < reference + CONTACT_DELTA_M) & (foot_contact[:, foot:foot + 1] >= 0.5)
    return out


def sample_weight(reprojection_px: np.ndarray, confidence: np.ndarray, height_px: np.ndarray) -> np.ndarray:
    """(T,) the module docstring's weight; 0 where the fit's error is unknown."""
    share = reprojection_px / np.maximum(height_px, 1.0)
    weight = np.clip(confidence, 0, 1) / (1.0 + (share / HALF_WEIGHT_ERROR) ** 2)
    return np.where(np.isfinite(weight), weight, 0.0)


def _person_height(kp2d: np.ndarray) -> np.ndarray:
    """(T,) px: the vertical extent of each frame's confident points (0 with none)."""
    sure = kp2d[..., 2] >= MIN_CONFIDENCE
    top = np.where(sure, kp2d[..., 1], np.inf).min(axis=1)
    bottom = np.where(sure, kp2d[..., 1], -np.inf).max(axis=1)
    return np.where(sure.any(axis=1), bottom - top, 0.0)


def _rows(video: str, frames, view: str, method: str, kp2d, kp3d, rotations, betas, trans, contact, has_contact,
          reprojection, body_model, size=CROP_SIZE) -> dict[str, np.ndarray]:
    """Label rows of one view's frames (T), keeping those with a crop to place (enough confident points)."""
    from engine.rotations import matrix_to_axis_angle

    t = len(frames)
    confidence = np.median(kp2d[:, COCO17_TO_SUPERSET, 2], axis=1)
    keep = ((kp2d[..., 2] >= MIN_CONFIDENCE).sum(axis=1) >= 6) & np.isfinite(reprojection)
    centers, heights = np.zeros((t, 2)), np.zeros(t)
    for i in np.flatnonzero(keep):
        sure = kp2d[i].copy()
        sure[:, 2] = np.where(sure[:, 2] >= MIN_CONFIDENCE, sure[:, 2], 0.0)
        centers[i], heights[i] = keypoint_window(sure, size)
    vc = contact.shape[1]
    rows = {
        "video": np.array([video] * t), "frame": np.asarray(frames, np.int64), "view": np.array([view] * t),
        "method": np.array([method] * t), "keypoints_2d": kp2d.astype(np.float32),
        "keypoints_3d": kp3d.astype(np.float32),
        "pose": matrix_to_axis_angle(rotations).reshape(t, 72).astype(np.float32),
        "betas": np.broadcast_to(np.asarray(betas, np.float32)[:10], (t, 10)).copy(),
        "trans": trans.astype(np.float32), "contact_bits": np.packbits(contact.astype(bool), axis=1),
        "has_contact": np.full(t, bool(has_contact)), "center": centers.astype(np.float32),
        "height": heights.astype(np.float32), "reprojection_px": reprojection.astype(np.float32),
        "confidence": confidence.astype(np.float32),
        "weight": sample_weight(reprojection, confidence, _person_height(kp2d)).astype(np.float32),
    }
    rows = {k: v[keep] for k, v in rows.items()}
    rows["num_contact_vertices"] = np.int64(vc)
    return rows


def labels_from_capture(result, video: str, body_model) -> dict[str, np.ndarray]:
    """One video's CaptureResult (estimator "fit") -> label rows of its observed frames (camera frame)."""
    fit = result.fit
    if fit is None:
        raise PlantedError(f"{video}: the capture ran no body fit (estimator 'fit' or 'network+fit' is needed)")
    observed = result.reconstruction.masks.observed
    kp = result.keypoints
    kp2d = body23_to_superset(kp.points, np.where(observed[:, None], kp.confidence, 0.0))
    betas = fit.betas[:10]
    kp3d = superset_keypoints_3d(body_model, fit.rotations, betas, fit.trans)
    if fit.contacts is not None:
        contact = sole_contacts(body_model, fit.rotations, betas, fit.trans, fit.contacts.ground, fit.contacts.contact)
    else:
        contact = np.zeros((len(fit.trans), len(body_model.contact_vertex_ids)), bool)
    reprojection = np.where(observed, fit.reprojection_px[0], np.nan)
    return _rows(video, result.frame_indices, "", "fit", kp2d, kp3d, fit.rotations, betas, fit.trans, contact,
                 fit.contacts is not None, reprojection, body_model)


def labels_from_annotation(annotation: dict, path, view: int, video: str, body_model) -> dict[str, np.ndarray]:
    """training.annotate's labels (the calibration's y-up world) seen from camera `view` -> label rows in
    that camera's frame (x = R X + t, the calibration's convention)."""
    from engine.rotations import axis_angle_to_matrix

    t = len(field(annotation, "trans", path, (None, 3)))
    poses = field(annotation, "poses", path, (t, 72)).reshape(t, 24, 3)
    betas = field(annotation, "betas", path, (10,))
    trans = field(annotation, "trans", path, (t, 3))
    rotation = field(annotation, "camera_rotation", path, (None, 3, 3))[view]
    translation = field(annotation, "camera_translation", path, (None, 3))[view]
    points = field(annotation, "keypoints_2d", path, (None, t, 23, 2))[view]
    conf = field(annotation, "keypoint_confidence", path, (None, t, 23))[view]
    bits = field(annotation, "vertex_contact_bits", path, (t, None), "u")
    count = int(field(annotation, "num_vertices", path, ()))
    if count != body_model.num_vertices:
        raise DatasetFileError(f"{path}: labelled {count} vertices but the body model {body_model.model_id} has "
                               f"{body_model.num_vertices}: annotate with the active body model")
    rotations = axis_angle_to_matrix(poses)
    kp3d = superset_keypoints_3d(body_model, rotations, betas, trans)
    kp3d[..., :3] = kp3d[..., :3] @ rotation.T + translation
    camera_rotations = rotations.copy()
    camera_rotations[:, 0] = rotation @ rotations[:, 0]
    # the AMASS translation moves with the body about the rest pelvis J0: trans' = R (trans + J0) + t - J0
    pelvis = body_model.rest_joints(betas)[0]
    camera_trans = (trans + pelvis) @ rotation.T + translation - pelvis
    contact = np.unpackbits(bits, axis=1, count=count).astype(bool)[:, body_model.contact_vertex_ids]
    reprojection = field(annotation, "reprojection_px", path, (None, t))[view]
    frames = field(annotation, "frame_indices", path, (t,))
    return _rows(video, frames, str(annotation["camera_names"][view]), "multiview", body23_to_superset(points, conf),
                 kp3d, camera_rotations, betas, camera_trans, contact, True, reprojection, body_model)


def concatenate(parts: list[dict[str, np.ndarray]], body_model) -> dict[str, np.ndarray]:
    """Label rows of several videos -> one labels file's arrays (module docstring)."""
    if not parts:
        raise PlantedError("no frames were labelled: no video showed a person clearly enough")
    keys = [k for k in parts[0] if k != "num_contact_vertices"]
    out = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    out.update(num_contact_vertices=np.int64(len(body_model.contact_vertex_ids)),
               body_model_id=np.str_(body_model.model_id), version=np.int64(VERSION))
    return out


def write_labels(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    from engine.atomic import atomic_path

    with atomic_path(path, what="pseudo-labels file") as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def label_videos(videos: list[Path], annotation: Path | None = None, start: int = 0, end: int | None = None,
                 stride: int = 1, keypoints: str = "balanced", progress=None, cancel=None
                 ) -> tuple[dict[str, np.ndarray], dict[str, tuple[int, float]]]:
    """Label every video (module docstring) -> (labels arrays, per video: (frames labelled, seconds))."""
    from engine.body.active import load_active_body_model
    from engine.capture.pipeline import CaptureSettings, capture

    body = load_active_body_model()
    multiview, names = {}, []
    if annotation is not None:
        multiview = load_npz(annotation, "a labels file of training.annotate")
        names = [str(n) for n in field(multiview, "camera_names", annotation, (None,), "U")]
    parts, report = [], {}
    for video in videos:
        t0 = time.perf_counter()
        if video.stem in names:
            rows = labels_from_annotation(multiview, annotation, names.index(video.stem), str(video), body)
        else:
            settings = CaptureSettings(start=start, end=end, stride=stride, keypoints=keypoints, foot_lock=False,
                                       estimator="fit")  # labels from the fit, not from our own network
            rows = labels_from_capture(capture(video, settings, progress=progress, cancel=cancel), str(video), body)
        parts.append(rows)
        report[str(video)] = (len(rows["frame"]), time.perf_counter() - t0)
        log.info("%s: %d frames labelled in %.1f s", video, *report[str(video)])
    return concatenate(parts, body), report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", required=True, nargs="+", type=Path, help="the videos to label")
    parser.add_argument("-o", "--output", required=True, type=Path, help="labels file to write (.npz)")
    parser.add_argument("--annotation", type=Path, help="training.annotate's labels for the videos named as its "
                        "cameras (cam01.mp4 ...): their multi-view body is used instead of one view's fit")
    parser.add_argument("--keypoints", default="balanced", choices=("fast", "balanced", "accurate"))
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--end", type=int, default=None)
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        if args.output.suffix != ".npz":
            raise PlantedError(f"-o {args.output} must end in .npz")
        missing = [str(v) for v in args.videos if not v.is_file()]
        if missing:
            raise PlantedError(f"--videos: no such file {', '.join(missing)}")
        if args.annotation is not None and not args.annotation.is_file():
            raise PlantedError(f"--annotation: no such file {args.annotation}")
        from engine.cli.capture import ProgressBars

        bars = ProgressBars(enabled=not args.quiet)
        try:
            arrays, report = label_videos(args.videos, args.annotation, args.start, args.end, args.stride,
                                          args.keypoints, progress=bars)
        finally:
            bars.close()
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_labels(args.output, arrays)
        lines = [f"{v}: {n} frames, {s:.1f} s" for v, (n, s) in report.items()]
        print("\n".join([f"labelled {len(arrays['frame'])} samples -> {args.output}"] + lines
                        + [f"mean weight {arrays['weight'].mean():.2f}, samples with a sole vertex in contact "
                           f"{100 * arrays['contact_bits'].any(axis=1).mean():.0f} %"]))
        return 0
    except KeyboardInterrupt:
        print("training.data.pseudo_labels: cancelled, nothing written", file=sys.stderr)
        return 130
    except PlantedError as err:
        print(f"training.data.pseudo_labels: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
