"""Person detectors on the real clips of ../shared/data: recall, box fit and ms/frame, as a table.

    .venv/bin/python scripts/bench/detector.py [--repeats 3] [--json] [--clips pose_1 cam01 ...]

Every frame of these clips shows one main person. A frame counts as recalled when the detector's best
box (highest score) holds every reference keypoint of that person that lies inside the frame. The
references:
- pose_squats.mp4: video/pose_squats.full.json (BlazePose's 33 landmarks per frame, shipped);
- pose_1.mp4: video/pose_1.json (MoveNet's 17 keypoints per frame, shipped);
- cam01-04.mp4: Pose2Sim's triangulated markers (BalancingTrial_0-100_triangulated.trc: 21 markers,
  toes and heels included) projected through Calib.qca.txt into each camera (checked by eye: they land
  on the joints);
- basketball_dribble.mp4: ships none; BlazePose full's landmarks (visibility > 0.5) from mediapipe in
  .venv-blazepose (scripts/bench/setup_blazepose_venv.sh) are the reference when that venv exists,
  else the clip gets no recall, only speed.
`fit` is the median IoU of the best box (clipped to the frame) with the reference keypoints' bounding
box: 1 is tight; a box that holds the person but is much bigger scores low. ms/frame is detection alone
on decoded frames (letterboxing, network, decoding, NMS), the median over --repeats passes of each
pass's mean.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

import cv2
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from engine.capture.detector import BlazePoseDetector, HogDetector  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
VIDEO = DATA / "video"
MULTIVIEW = DATA / "multiview" / "pose2sim_single"
CLIPS = {
    "pose_squats": VIDEO / "pose_squats.mp4",
    "pose_1": VIDEO / "pose_1.mp4",
    "basketball_dribble": VIDEO / "basketball_dribble.mp4",
    **{f"cam0{i}": MULTIVIEW / f"cam0{i}.mp4" for i in range(1, 5)},
}


def read_frames(path: pathlib.Path) -> list[np.ndarray]:
    """All frames of a clip as (H, W, 3) uint8 RGB, rotation metadata applied."""
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


# --- references: (T, K, 2) pixel keypoints, NaN where unknown ---------------------------------------


def squats_reference() -> np.ndarray:
    return np.asarray(json.loads((VIDEO / "pose_squats.full.json").read_text()), np.float64)[..., :2]


def pose1_reference() -> np.ndarray:
    frames = json.loads((VIDEO / "pose_1.json").read_text())
    return np.array([[[p["x"], p["y"]] for p in frame.values()] for frame in frames], np.float64)


def read_trc(path: pathlib.Path) -> np.ndarray:
    """(T, M, 3) marker positions in metres, y up, from a Pose2Sim .trc file."""
    rows = [line.split("\t")[2:] for line in path.read_text().splitlines()[5:] if line.strip()]
    values = np.array([[float(v) for v in row] for row in rows])
    return values.reshape(len(values), -1, 3)


def read_qca_camera(path: pathlib.Path, serial: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """K (3, 3) px, distortion (k1, k2, p1, p2), world-to-camera R (3, 3) and t (3,) m, from Qualisys XML.

    Qualisys stores the camera's pose (rotation columns = camera axes, position in mm, z up) with the
    camera looking down its -z axis, and intrinsics in sensor units x64.
    """
    for cam in ET.parse(path).getroot().iter("camera"):
        if cam.get("serial") != serial:
            continue
        tr, intr, fov = cam.find("transform").attrib, cam.find("intrinsic").attrib, cam.find("fov_video").attrib
        pose = np.array([[float(tr[f"r{a}{b}"]) for b in "123"] for a in "123"])
        position = np.array([float(tr[k]) for k in "xyz"]) / 1000.0
        rotation = np.diag([1.0, -1.0, -1.0]) @ pose  # camera looks along -z in Qualisys, +z in OpenCV
        k = np.array([[float(intr["focalLengthU"]) / 64, 0, float(intr["centerPointU"]) / 64 - float(fov["left"])],
                      [0, float(intr["focalLengthV"]) / 64, float(intr["centerPointV"]) / 64 - float(fov["top"])],
                      [0, 0, 1]])
        dist = np.array([float(intr[key]) for key in ("radialDistortion1", "radialDistortion2",
                                                      "tangentalDistortion1", "tangentalDistortion2")])
        return k, dist, rotation, -rotation @ position
    raise KeyError(serial)


def multiview_reference(serial: str) -> np.ndarray:
    markers = read_trc(MULTIVIEW / "BalancingTrial_0-100_triangulated.trc")
    world = markers[..., [2, 0, 1]]  # the .trc's y-up axes back to the calibration's z-up ones
    k, dist, rotation, t = read_qca_camera(MULTIVIEW / "Calib.qca.txt", serial)
    rvec, _ = cv2.Rodrigues(rotation)
    uv, _ = cv2.projectPoints(world.reshape(-1, 3), rvec, t, k, dist)
    return uv.reshape(markers.shape[0], markers.shape[1], 2)


def blazepose_reference(clip: pathlib.Path) -> np.ndarray | None:
    venv_python = ROOT / ".venv-blazepose" / "bin" / "python"
    if not venv_python.is_file():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "landmarks.npz"
        subprocess.run([str(venv_python), str(ROOT / "scripts/bench/blazepose_runner.py"), str(clip),
                        "--landmarks", str(out)], check=True, capture_output=True)
        landmarks = np.load(out)["landmarks"]
    points = landmarks[..., :2].copy()
    points[landmarks[..., 3] <= 0.5] = np.nan
    return points


def reference(name: str) -> np.ndarray | None:
    if name == "pose_squats":
        return squats_reference()
    if name == "pose_1":
        return pose1_reference()
    if name.startswith("cam"):
        return multiview_reference(name)
    return blazepose_reference(CLIPS[name])


# --- scoring --------------------------------------------------------------------------------------


def score_boxes(boxes: np.ndarray, ref: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: holds every in-frame reference keypoint (bool), IoU with their bounding box.

    boxes: (T, 4) xyxy, NaN where nothing was detected; ref: (T, K, 2) px, NaN where unknown.
    """
    inside_frame = (ref[..., 0] >= 0) & (ref[..., 0] < width) & (ref[..., 1] >= 0) & (ref[..., 1] < height)
    ref = np.where(inside_frame[..., None], ref, np.nan)
    held = ((ref >= boxes[:, None, :2]) & (ref <= boxes[:, None, 2:])).all(axis=2) | np.isnan(ref).any(axis=2)
    recalled = held.all(axis=1) & ~np.isnan(boxes).any(axis=1)
    ref_box = np.concatenate([np.nanmin(ref, axis=1), np.nanmax(ref, axis=1)], axis=1)
    clipped = np.clip(boxes, 0, [width, height, width, height])
    lo, hi = np.maximum(clipped[:, :2], ref_box[:, :2]), np.minimum(clipped[:, 2:], ref_box[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    union = np.prod(clipped[:, 2:] - clipped[:, :2], axis=1) + np.prod(ref_box[:, 2:] - ref_box[:, :2], axis=1) - inter
    fit = np.where(np.isnan(boxes).any(axis=1), 0.0, inter / np.maximum(union, 1e-9))
    return recalled, fit


def run_detectors(detectors: dict, frames: list[np.ndarray], repeats: int) -> dict[str, tuple]:
    """Per detector: best box (T, 4) (NaN: none), its score (T,), ms/frame (median over passes).

    The detectors take turns frame by frame, so that both see the same load on a shared machine.
    """
    seconds = {name: np.zeros(repeats) for name in detectors}
    best: dict[str, list] = {}
    for r in range(repeats):
        best = {name: [] for name in detectors}
        for frame in frames:
            for name, detector in detectors.items():
                start = time.perf_counter()
                found = detector.detect(frame)
                seconds[name][r] += time.perf_counter() - start
                best[name].append(found[0] if found else None)
    out = {}
    for name, found in best.items():
        boxes = np.array([d.box if d is not None else np.full(4, np.nan) for d in found])
        scores = np.array([d.score if d is not None else 0.0 for d in found])
        out[name] = (boxes, scores, float(np.median(seconds[name])) * 1000 / len(frames))
    return out


def blazepose_variants(boxes: np.ndarray, scales: list[float]) -> dict[str, np.ndarray]:
    """Boxes from the same detections (made with box_scale 1) for other radius multiples, square (the
    detector's own shape) and 3:4 portrait (half-width 0.75 x half-height, the pose crop's aspect)."""
    hip, radius = (boxes[:, :2] + boxes[:, 2:]) / 2, (boxes[:, 2] - boxes[:, 0]) / 2
    variants = {}
    for shape, aspect in (("", 1.0), ("-3:4", 0.75)):
        for s in scales:
            half = radius[:, None] * s * np.array([aspect, 1.0])
            variants[f"blazepose{shape}@{s:g}"] = np.concatenate([hip - half, hip + half], axis=1)
    return variants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clips", nargs="*", default=list(CLIPS), choices=list(CLIPS))
    parser.add_argument("--box-scales", nargs="*", type=float, default=[1.0, 1.1, 1.2, 1.25],
                        help="BlazePose box_scale values to compare (one run; boxes rescaled from the same detections)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args()

    detectors = {"blazepose": BlazePoseDetector(box_scale=1.0), "hog": HogDetector()}
    results: dict[str, dict[str, dict]] = {}
    for name in args.clips:
        frames = read_frames(CLIPS[name])
        height, width = frames[0].shape[:2]
        ref = reference(name)
        results[name] = {}
        for det_name, (boxes, scores, ms) in run_detectors(detectors, frames, args.repeats).items():
            variants = blazepose_variants(boxes, args.box_scales) if det_name == "blazepose" else {det_name: boxes}
            for variant, vboxes in variants.items():
                row = {"frames": len(frames), "ms_per_frame": round(ms, 2),
                       "detected": round(float(np.mean(~np.isnan(vboxes).any(axis=1))), 3),
                       "mean_score": round(float(scores.mean()), 3), "recall": None, "fit": None}
                if ref is not None:
                    recalled, fit = score_boxes(vboxes, ref[:len(frames)], width, height)
                    row["recall"] = round(float(recalled.mean()), 3)
                    row["fit"] = round(float(np.median(fit)), 3)
                results[name][variant] = row
        del frames

    if args.json:
        print(json.dumps(results, indent=1))
        return
    print(f"{'clip':<20} {'detector':<18} {'frames':>6} {'detected':>8} {'recall':>7} {'fit':>6} {'ms/frame':>9}")
    for name, rows in results.items():
        for variant, row in rows.items():
            recall = "n/a" if row["recall"] is None else f"{row['recall']:.3f}"
            fit = "n/a" if row["fit"] is None else f"{row['fit']:.2f}"
            print(f"{name:<20} {variant:<18} {row['frames']:>6} {row['detected']:>8.3f} {recall:>7} {fit:>6} "
                  f"{row['ms_per_frame']:>9.1f}")


if __name__ == "__main__":
    main()
