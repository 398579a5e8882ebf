"""The body fit on real footage: speed, the multi-view annotator and monocular capture against Pose2Sim's
markers, contacts, foot sliding and jitter on the real videos.

    .venv/bin/python scripts/bench/fit.py [--runs 3] [--json] [--quick]

- fit_fps: engine.fit.sequence.fit_sequence alone (both stages) on the keypoint stage's output of each real
  clip of ../shared/data/video, frames per second (median of --runs), 2 cores.
- The four-camera recording ../shared/data/multiview/pose2sim_single: the annotator (training.annotate:
  keypoint stage per camera, whole-body fit, foot refit, Eq. 4 contacts) against Pose2Sim's triangulated
  markers (.trc): multiview_marker_error_mm (mean over markers), and per marker; reprojection per view.
- Monocular capture from each camera alone (`planted capture --estimator fit`, and the untrained network's
  `--estimator network` as the baseline) against the same markers, taken into that camera's frame:
  monocular_pa_mpjpe_mm (per camera; PA-MPJPE per frame after Procrustes, mean) and MPJPE after aligning the
  pelvis; contact_f1: the capture's planted frames (both feet) against the markers' own (heel or big toe low
  and still, the motion's rule). Both sides are estimates: Pose2Sim's markers come from another 2D network,
  triangulated.
- The real videos: foot sliding after locking (mm, over planted frames); contact agreement, the F1 of the
  planted frames against the feet's height and speed in the final fitted motion (contact_agreement_fit, the
  fit against itself) and against the feet being still in the image (contact_agreement: heel and toe
  moving under 1 % of the person's height a frame in the keypoint stage's 2D points, an independent signal,
  but one that keypoint jitter alone breaks); and jitter: the mean acceleration (m/s^2) of the fitted joints
  against that of BlazePose's raw world landmarks.
--json: one object with those keys.
"""

from __future__ import annotations

import argparse
import json
import logging
import pathlib
import statistics
import sys
import time
from dataclasses import replace

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data"
CLIPS = ("pose_squats.mp4", "pose_1.mp4", "basketball_dribble.mp4")
MULTIVIEW = DATA / "multiview" / "pose2sim_single"


def mean_acceleration(points: np.ndarray, fps: float) -> float:
    """Mean |second difference| * fps^2 over frames and points (m/s^2), NaN-safe."""
    acc = np.linalg.norm(points[2:] - 2 * points[1:-1] + points[:-2], axis=-1) * fps * fps
    return float(np.nanmean(acc))


def image_still(result) -> np.ndarray:
    """(T, 2) per foot: heel and toe both move under 1 % of the person's height a frame (2D keypoints)."""
    from engine.capture.fit_reconstruct import person_height_px
    from engine.keypoints.sets import BODY23_NAMES

    kp = result.keypoints
    height = person_height_px(kp.points, kp.confidence)
    still = []
    for side in ("left", "right"):
        idx = [BODY23_NAMES.index(f"{side}_heel"), BODY23_NAMES.index(f"{side}_big_toe")]
        step = np.linalg.norm(np.diff(kp.points[:, idx], axis=0), axis=-1).max(axis=1) / height
        step = np.concatenate([[step[0]], step])
        still.append(step < 0.01)
    return np.stack(still, axis=1)


def fit_still(result, body) -> np.ndarray:
    """(T, 2) per foot: heel or toe low (under 4 cm above its ground level) and slow (under 0.3 m/s) in the
    final, levelled motion: the issue's literal check, the fit against itself."""
    from engine.render.views import final_body
    from engine.retarget.contacts import contact_probability_from_motion, foot_probability, planted_mask

    feet = final_body(result, body, camera_frame=False, vertices=False).keypoints["feet6"]
    names = body.keypoint_names["feet6"]
    points = feet[:, [names.index(n) for n in ("left_heel", "left_big_toe", "right_heel", "right_big_toe")]]
    return planted_mask(foot_probability(contact_probability_from_motion(points, result.fps)))


def f1(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / max(a.sum() + b.sum(), 1))


def bench_clips(runs: int) -> dict:
    from engine.body.active import load_active_body_model
    from engine.body.lbs import body_forward
    from engine.capture.fit_reconstruct import fit_input, fit_settings_for, observed_frames
    from engine.capture.pipeline import CaptureSettings, capture
    from engine.fit.sequence import fit_sequence

    body = load_active_body_model()
    out = {}
    for clip in CLIPS:
        result = capture(DATA / "video" / clip, CaptureSettings(estimator="fit"))
        kp = result.keypoints
        seen = observed_frames(kp)
        focal = result.reconstruction.focal_length_px
        settings = fit_settings_for(1.0)
        inputs = fit_input(kp, seen, (result.video.width, result.video.height), focal, result.fps, settings.weights)
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            fit_sequence(body, inputs, settings)
            times.append(time.perf_counter() - t)
        fit = result.fit
        joints = body_forward(body, fit.rotations, np.broadcast_to(fit.betas, (len(fit.trans), 10)), fit.trans,
                              vertices=False).joints
        raw = np.where(seen[:, None, None], kp.world, np.nan)
        fs_before, fs_after = result.foot_sliding_mm()
        out[clip] = {"contact_agreement_fit": f1(result.planted(), fit_still(result, body)),
            "frames": result.num_frames, "fit_fps": result.num_frames / statistics.median(times),
            "foot_sliding_mm_before_lock": fs_before, "foot_sliding_mm_after_lock": fs_after,
            "contact_agreement": f1(result.planted(), image_still(result)),
            "jitter_fit_ms2": mean_acceleration(joints[:, :22], result.fps),
            "jitter_blazepose_world_ms2": mean_acceleration(raw, result.fps),
            "reprojection_px": float(np.nanmedian(fit.reprojection_px)),
        }
    return out


def bench_multiview() -> dict:
    from engine.body.active import load_active_body_model
    from engine.motion.trc import read_trc
    from training.annotate import label_arrays, run_annotation
    from training.markers import joint_errors_mm, per_marker_error_mm

    videos = sorted(MULTIVIEW.glob("cam*.mp4"))
    t = time.perf_counter()
    annotation, inputs, tracked, cameras = run_annotation(MULTIVIEW / "Calib.qca.txt", videos)
    seconds = time.perf_counter() - t
    arrays = label_arrays(annotation, inputs, tracked, cameras, load_active_body_model())
    markers = read_trc(MULTIVIEW / "BalancingTrial_0-100_triangulated.trc")
    per_marker = per_marker_error_mm(markers, arrays["keypoints_3d"])
    pa, mpjpe = joint_errors_mm(markers, arrays["keypoints_3d"])
    return {"multiview_marker_error_mm": float(np.mean(list(per_marker.values()))), "per_marker_mm": per_marker,
            "multiview_pa_mpjpe_mm": float(np.nanmean(pa)), "multiview_mpjpe_mm": float(np.nanmean(mpjpe)),
            "reprojection_px": {c.name: float(np.nanmedian(annotation.fit.reprojection_px[i]))
                                for i, c in enumerate(cameras)},
            "frames": int(len(arrays["trans"])), "seconds": seconds,
            "frames_with_contact": float(annotation.vertex_contact.any(axis=1).mean())}


def bench_monocular(estimators: tuple[str, ...], model: str | None = None, keypoints: str | None = None) -> dict:
    """Each camera alone, each estimator: its keypoints in the camera frame against the markers there.
    model: the network's ONNX file for the network estimators (None: the default one); keypoints: the keypoint
    stage's preset (None: the default one)."""
    from engine.body.active import load_active_body_model
    from engine.body.lbs import body_forward
    from engine.capture.pipeline import CaptureSettings, capture
    from engine.fit.calibration import read_qualisys
    from engine.keypoints.sets import blazepose_as_body23
    from engine.motion.trc import Markers, read_trc
    from training.markers import joint_errors_mm

    body = load_active_body_model()
    cameras = {c.name: c for c in read_qualisys(MULTIVIEW / "Calib.qca.txt")}
    markers = read_trc(MULTIVIEW / "BalancingTrial_0-100_triangulated.trc")
    out: dict[str, dict] = {e: {} for e in estimators + ("blazepose_world",)}
    truth = marker_contacts(markers)
    for video in sorted(MULTIVIEW.glob("cam*.mp4")):
        cam = cameras[video.stem]
        k = cam.intrinsics
        focal = float((k[0, 0] + k[1, 1]) / 2)
        in_cam = Markers(markers.names, cam.to_camera(markers.positions), markers.times, markers.fps)
        for estimator in estimators:
            settings = CaptureSettings(estimator=estimator, focal_length_px=focal, foot_lock=False,
                                       model_path=model if estimator != "fit" else None)
            result = capture(video, settings if keypoints is None else replace(settings, keypoints=keypoints))
            posed = body_forward(body, *_camera_pose(result, body), vertices=False, keypoint_sets=("coco17", "feet6"))
            ours = np.concatenate([posed.keypoints["coco17"], posed.keypoints["feet6"]], axis=1)
            pa, mpjpe = joint_errors_mm(in_cam, ours)
            out[estimator][video.stem] = {"pa_mpjpe_mm": float(np.nanmean(pa)), "mpjpe_mm": float(np.nanmean(mpjpe)),
                                          "contact_f1": f1(result.planted(), truth)}
            if estimator == "fit":  # BlazePose's own world landmarks, raw: hip-centred, so PA-MPJPE only
                raw = blazepose_as_body23(result.keypoints.world)
                pa_raw, _ = joint_errors_mm(in_cam, raw + ours[:, [11, 12]].mean(axis=1, keepdims=True))
                out["blazepose_world"][video.stem] = {"pa_mpjpe_mm": float(np.nanmean(pa_raw)),
                                                      "mpjpe_mm": float("nan"), "contact_f1": float("nan")}
    return out


def marker_contacts(markers) -> np.ndarray:
    """(T, 2) planted frames per foot (left, right) from Pose2Sim's heel and big-toe markers (world, y up,
    metres): the same rule as the motion's contacts (engine.retarget.contacts: low and still, hysteresis)."""
    from engine.retarget.contacts import contact_probability_from_motion, foot_probability, planted_mask

    names = list(markers.names)
    points = markers.positions[:, [names.index(n) for n in ("LHeel", "LBigToe", "RHeel", "RBigToe")]]
    return planted_mask(foot_probability(contact_probability_from_motion(points, markers.fps)))


def _camera_pose(result, body):
    from engine.capture.reconstruct import move_rigidly
    from engine.render.views import world_to_camera

    betas = np.asarray(result.reconstruction.betas, np.float64)
    pelvis = body.rest_joints(betas)[0]
    rot, trans = move_rigidly(result.motion.rotations, result.motion.root_translation - pelvis, pelvis,
                              *world_to_camera(result))
    return rot, np.broadcast_to(betas, (len(trans), len(betas))), trans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-network", action="store_true", help="skip the untrained network's baseline")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    clips = bench_clips(args.runs)
    multiview = bench_multiview()
    monocular = bench_monocular(("fit",) if args.no_network else ("fit", "network"))
    total = sum(c["frames"] for c in clips.values())
    report = {
        "fit_fps": total / sum(c["frames"] / c["fit_fps"] for c in clips.values()),
        "multiview_marker_error_mm": multiview["multiview_marker_error_mm"],
        "monocular_pa_mpjpe_mm": {cam: v["pa_mpjpe_mm"] for cam, v in monocular["fit"].items()},
        "contact_agreement": float(np.mean([c["contact_agreement"] for c in clips.values()])),
        "contact_agreement_fit": float(np.mean([c["contact_agreement_fit"] for c in clips.values()])),
        "clips": clips, "multiview": multiview, "monocular": monocular,
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"fit alone: {report['fit_fps']:.1f} frames/s over the real clips (2 cores, median of {args.runs})")
    print(f"{'clip':24s}{'frames':>7s}{'fit fps':>9s}{'FS before':>10s}{'FS after':>9s}{'contact F1':>11s}"
          f"{'jitter fit':>11s}{'jitter raw':>11s}{'reproj px':>10s}")
    for name, c in clips.items():
        print(f"{name:24s}{c['frames']:>7d}{c['fit_fps']:>9.1f}{c['foot_sliding_mm_before_lock']:>10.1f}"
              f"{c['foot_sliding_mm_after_lock']:>9.1f}{c['contact_agreement']:>11.2f}{c['jitter_fit_ms2']:>11.1f}"
              f"{c['jitter_blazepose_world_ms2']:>11.1f}{c['reprojection_px']:>10.1f}")
    mv = multiview
    print(f"\nmulti-view annotator, {mv['frames']} frames of 4 cameras ({mv['seconds']:.0f} s): marker error "
          f"{mv['multiview_marker_error_mm']:.1f} mm mean, PA-MPJPE {mv['multiview_pa_mpjpe_mm']:.1f} mm, "
          f"MPJPE {mv['multiview_mpjpe_mm']:.1f} mm; reprojection px "
          + ", ".join(f"{k} {v:.1f}" for k, v in mv["reprojection_px"].items()))
    print("  per marker (mm): " + ", ".join(f"{k} {v:.0f}" for k, v in mv["per_marker_mm"].items()))
    print(f"\n{'monocular':12s}" + "".join(f"{cam:>22s}" for cam in monocular["fit"]))
    for estimator, cams in monocular.items():
        cells = "".join(f"{v['pa_mpjpe_mm']:>9.1f} / {v['mpjpe_mm']:>6.1f} mm   " for v in cams.values())
        print(f"{estimator:12s}{cells}")
    print("(PA-MPJPE / pelvis-aligned MPJPE against Pose2Sim's markers, each camera alone)")


if __name__ == "__main__":
    main()
