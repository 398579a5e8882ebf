"""Run MediaPipe BlazePose (full) on every frame of a video and print one JSON line of timings.

Runs in .venv-blazepose (scripts/bench/setup_blazepose_venv.sh), never in the project's .venv: the
capture benchmark (scripts/bench/capture.py) calls it as a subprocess, e.g.

    .venv-blazepose/bin/python scripts/bench/blazepose_runner.py ../shared/data/video/pose_1.mp4

and reads {"frames", "seconds", "fps", "detected_frames", "decode_seconds", "model_complexity"} from
stdout. `seconds` and `fps` count BlazePose's own work (mediapipe's `Pose.process` in video mode:
detector on the first frame and when the person is lost, landmark model every frame, smoothing), not
the video decoding, which is timed apart in `decode_seconds`. model_complexity 1 ("full") is the only
one that works offline: 0 and 2 download their models on first use.

--landmarks FILE.npz also saves the 33 image landmarks per frame in pixels, (T, 33, 4) x, y, z,
visibility, NaN where no person was found: a peer reference for clips that ship none.

--images LIST.txt --out FILE.npz runs it on still images instead (static image mode: its detector on
every image, then the landmark model), one path a line, and saves `landmarks` (N, 33, 4) pixels as above
and `ms` (N,) the milliseconds of each `Pose.process` call (scripts/bench/keypoints.py reads them).
model_complexity 2 (heavy) needs pose_landmark_heavy.tflite in the wheel: setup_blazepose_venv.sh puts it there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import cv2
import numpy as np


def run(video: str, model_complexity: int = 1, max_frames: int | None = None) -> tuple[dict, np.ndarray]:
    import mediapipe as mp

    cap = cv2.VideoCapture(video)
    if not cap.isOpened():
        raise SystemExit(f"cannot open video {video}")
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)  # OpenCV 4.11 leaves rotation metadata unapplied by default
    frames = detected = 0
    seconds = decode_seconds = 0.0
    landmarks = []
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=model_complexity,
                                enable_segmentation=False) as pose:
        while max_frames is None or frames < max_frames:
            t0 = time.perf_counter()
            ok, bgr = cap.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            t1 = time.perf_counter()
            result = pose.process(rgb)
            t2 = time.perf_counter()
            decode_seconds += t1 - t0
            seconds += t2 - t1
            frames += 1
            h, w = rgb.shape[:2]
            if result.pose_landmarks is None:
                landmarks.append(np.full((33, 4), np.nan))
                continue
            detected += 1
            landmarks.append(np.array([[p.x * w, p.y * h, p.z * w, p.visibility]
                                       for p in result.pose_landmarks.landmark]))
    cap.release()
    stats = {"video": os.path.basename(video), "frames": frames, "seconds": round(seconds, 4),
             "fps": round(frames / seconds, 2) if seconds > 0 else 0.0, "detected_frames": detected,
             "decode_seconds": round(decode_seconds, 4), "model_complexity": model_complexity}
    return stats, np.asarray(landmarks).reshape(-1, 33, 4)


def run_images(paths: list[str], model_complexity: int) -> tuple[np.ndarray, np.ndarray]:
    import mediapipe as mp

    landmarks = np.full((len(paths), 33, 4), np.nan)
    ms = np.zeros(len(paths))
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=model_complexity,
                                enable_segmentation=False) as pose:
        for i, path in enumerate(paths):
            rgb = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
            t = time.perf_counter()
            result = pose.process(rgb)
            ms[i] = 1000 * (time.perf_counter() - t)
            if result.pose_landmarks is not None:
                h, w = rgb.shape[:2]
                landmarks[i] = [[p.x * w, p.y * h, p.z * w, p.visibility] for p in result.pose_landmarks.landmark]
    return landmarks, ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video", nargs="?", help="a video (or use --images)")
    parser.add_argument("--images", default=None, help="a text file of image paths, one a line (static mode)")
    parser.add_argument("--out", default=None, help="with --images: the .npz to write")
    parser.add_argument("--model-complexity", type=int, default=1, choices=(0, 1, 2),
                        help="0 lite, 1 full (default, in the wheel), 2 heavy (setup_blazepose_venv.sh adds it)")
    parser.add_argument("--max-frames", type=int, default=None)
    parser.add_argument("--landmarks", default=None, help="save (T, 33, 4) pixel landmarks to this .npz")
    args = parser.parse_args()
    if args.images:
        paths = [line.strip() for line in open(args.images) if line.strip()]
        landmarks, ms = run_images(paths, args.model_complexity)
        np.savez_compressed(args.out, landmarks=landmarks, ms=ms)
        print(json.dumps({"images": len(paths), "found": int(np.isfinite(landmarks[:, 0, 0]).sum()),
                          "median_ms": float(np.median(ms))}))
        return
    if not args.video or not os.path.isfile(args.video):
        sys.exit(f"no such video: {args.video}")
    stats, landmarks = run(args.video, args.model_complexity, args.max_frames)
    if args.landmarks:
        np.savez_compressed(args.landmarks, landmarks=landmarks)
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
