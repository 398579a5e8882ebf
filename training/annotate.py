"""Annotate a calibrated multi-view recording: foot poses and ground contacts (the paper's section 3.2).

    .venv/bin/python -m training.annotate --calibration Calib.qca.txt --videos cam01.mp4 cam02.mp4 ... \\
        -o labels.npz [--markers trial.trc] [--keypoints balanced] [--start N --end N]

Each video goes through the keypoint stage (engine.capture.pipeline.capture_keypoints: the person detector,
MoveNet and BlazePose, their real estimates); one body is fitted to every view's keypoints, its feet refitted
(Eq. 1-3), the ground found and every vertex labelled (Eq. 4) by engine.fit.multiview. Videos must be
synchronised (frame i of each shows the same instant); the cameras are matched to the videos by name
(cam01.mp4 <-> the calibration's camera cam01), else in order.

The labels file (.npz, allow_pickle=False), what the training data reads; world: the calibration's, y up,
metres; T frames at `fps`, V views, K = 23 keypoints (BODY23: COCO-17, then big toe, small toe, heel per foot):
    poses (T, 72) axis-angle, betas (10,), trans (T, 3)      SMPL parameters (AMASS's convention)
    joints (T, 24, 3), keypoints_3d (T, K, 3)                the fitted body's joints and keypoints
    vertex_contact_bits (T, ceil(Vb / 8)) uint8, num_vertices Vb: Eq. 4 labels, np.unpackbits(bits, axis=1,
                                                             count=Vb).astype(bool) gives (T, Vb)
    foot_contact (T, 2)                                      per-foot contact probability (left, right)
    ground_plane (4,)                                        (nx, ny, nz, d): n . x + d = 0, n up
    keypoints_2d (V, T, K, 2), keypoint_confidence (V, T, K) each view's keypoints (px) and confidences
    reprojection_px (V, T)                                   each view's median keypoint error after the refit
    camera_names (V,), camera_intrinsics (V, 3, 3), camera_rotation (V, 3, 3), camera_translation (V, 3),
    image_size (V, 2)                                        world -> camera x = R X + t, pixels u = K x
    frame_indices (T,), fps (), body_model_id (), keypoint_models (2,), annotator_version ()
With --markers, the per-marker 3D error against them is printed (both are estimates) and stored as
marker_names (M,), marker_error_mm (M,).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from engine.errors import PlantedError

VERSION = 1


def _views(tracked, cameras, weights) -> "object":
    from engine.capture.fit_reconstruct import observed_frames, person_height_px
    from engine.fit.terms import Views

    t = min(len(k.frame_indices) for k in tracked)
    points = np.stack([k.keypoints.points[:t] for k in tracked])
    conf = np.stack([np.where((k.ran & observed_frames(k.keypoints))[:t, None], k.keypoints.confidence[:t], 0.0)
                     for k in tracked])
    sigma = np.array([weights.sigma_2d * person_height_px(p, c) for p, c in zip(points, conf, strict=True)])
    return Views(cameras, points, conf, sigma), t


def match_cameras(videos: list[Path], cameras: list) -> list:
    """The calibration's camera for each video: by name (stem), else in order."""
    by_name = {c.name: c for c in cameras}
    if all(v.stem in by_name for v in videos):
        return [by_name[v.stem] for v in videos]
    if len(videos) != len(cameras):
        raise PlantedError(f"{len(videos)} videos but {len(cameras)} calibrated cameras ({', '.join(by_name)}), "
                           "and the video names do not match the cameras': give one video per camera")
    return list(cameras)


def run_annotation(calibration: Path, videos: list[Path], keypoints: str = "balanced", start: int = 0,
                   end: int | None = None, progress=None):
    """(Annotation, FitInput, tracked keypoints per view, cameras) for a recording."""
    from engine.body.active import load_active_body_model
    from engine.capture.pipeline import CaptureSettings, capture_keypoints
    from engine.fit.calibration import read_qualisys
    from engine.fit.multiview import MULTIVIEW_WEIGHTS, annotate, multiview_settings
    from engine.fit.sequence import FitInput

    cameras = match_cameras(videos, read_qualisys(calibration))
    settings = CaptureSettings(keypoints=keypoints, start=start, end=end, estimator="fit")
    tracked = [capture_keypoints(v, settings, progress=progress) for v in videos]
    for video, k, cam in zip(videos, tracked, cameras, strict=True):
        if (k.video.width, k.video.height) != tuple(cam.size) and abs(k.video.width - cam.size[0]) > 16:
            raise PlantedError(f"{video} is {k.video.width}x{k.video.height} but camera {cam.name} was calibrated "
                               f"at {cam.size[0]}x{cam.size[1]}: is it the right calibration?")
    views, t = _views(tracked, cameras, MULTIVIEW_WEIGHTS)
    inputs = FitInput(views=views, fps=tracked[0].fps)
    body = load_active_body_model()
    return annotate(body, inputs, multiview_settings(), progress=progress), inputs, tracked, cameras


def label_arrays(annotation, inputs, tracked, cameras, body_model) -> dict[str, np.ndarray]:
    from engine.body.lbs import body_forward
    from engine.rotations import matrix_to_axis_angle

    fit = annotation.fit
    t = len(fit.trans)
    out = body_forward(body_model, fit.rotations, np.broadcast_to(fit.betas, (t, len(fit.betas))), fit.trans,
                       vertices=False, keypoint_sets=("coco17", "feet6"))
    stage = tracked[0]
    return {
        "poses": matrix_to_axis_angle(fit.rotations).reshape(t, 72), "betas": fit.betas[:10], "trans": fit.trans,
        "joints": out.joints, "keypoints_3d": np.concatenate([out.keypoints["coco17"], out.keypoints["feet6"]], 1),
        "vertex_contact_bits": np.packbits(annotation.vertex_contact, axis=1),
        "num_vertices": np.int64(annotation.vertex_contact.shape[1]),
        "foot_contact": fit.contacts.contact if fit.contacts is not None else np.zeros((t, 2)),
        "ground_plane": np.append(annotation.ground.normal, annotation.ground.offset),
        "keypoints_2d": inputs.views.points.astype(np.float32), "keypoint_confidence": inputs.views.confidence,
        "reprojection_px": fit.reprojection_px, "camera_names": np.array([c.name for c in cameras]),
        "camera_intrinsics": np.stack([c.intrinsics for c in cameras]),
        "camera_rotation": np.stack([c.rotation for c in cameras]),
        "camera_translation": np.stack([c.translation for c in cameras]),
        "image_size": np.array([c.size for c in cameras]), "frame_indices": stage.frame_indices[:t],
        "fps": np.float64(stage.fps), "body_model_id": np.str_(body_model.model_id),
        "keypoint_models": np.array(["movenet", "blazepose"]), "annotator_version": np.int64(VERSION),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calibration", required=True, type=Path, help="Qualisys .qca.txt calibration")
    parser.add_argument("--videos", required=True, nargs="+", type=Path, help="one synchronised video per camera")
    parser.add_argument("-o", "--output", required=True, type=Path, help="labels file to write (.npz)")
    parser.add_argument("--markers", type=Path, help="a .trc of triangulated markers to compare with")
    parser.add_argument("--keypoints", default="balanced", choices=("fast", "balanced", "accurate"))
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--end", type=int, default=None)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        from engine.atomic import atomic_path
        from engine.body.active import load_active_body_model

        if args.output.suffix != ".npz":
            raise PlantedError(f"-o {args.output} must end in .npz")
        from engine.cli.capture import ProgressBars

        bars = ProgressBars(enabled=not args.quiet)
        try:
            annotation, inputs, tracked, cameras = run_annotation(args.calibration, args.videos, args.keypoints,
                                                                  args.start, args.end, progress=bars)
        finally:
            bars.close()
        arrays = label_arrays(annotation, inputs, tracked, cameras, load_active_body_model())
        lines = [f"reprojection (median px) {c.name}: {np.nanmedian(annotation.fit.reprojection_px[i]):.1f}"
                 for i, c in enumerate(cameras)]
        if args.markers:
            from engine.motion.trc import read_trc
            from training.markers import per_marker_error_mm

            errors = per_marker_error_mm(read_trc(args.markers), arrays["keypoints_3d"])
            arrays["marker_names"] = np.array(list(errors))
            arrays["marker_error_mm"] = np.array(list(errors.values()))
            lines.append("marker error (mm, against " + args.markers.name + "; both estimates): "
                         + json.dumps({k: round(v, 1) for k, v in errors.items()}))
        args.output.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(args.output, what="labels file") as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        contact_share = annotation.vertex_contact.any(axis=1).mean()
        print("\n".join([f"annotated {len(arrays['trans'])} frames of {len(cameras)} views -> {args.output}",
                         f"frames with a vertex on the ground: {100 * contact_share:.0f} %"] + lines))
        return 0
    except PlantedError as err:
        print(f"training.annotate: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
