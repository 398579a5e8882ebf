"""End-to-end capture speed on the real clips, per keypoint preset and estimator, beside MediaPipe BlazePose.

    .venv/bin/python scripts/bench/capture.py [--runs 3] [--threads 2] [--presets fast,balanced,accurate]
        [--estimators fit] [--model PATH] [--device cpu] [--json] [--no-blazepose] [--memory]

For each clip of ../shared/data/video, in one run:
- `keypoints`: the capture's person detection, tracking and keypoint stage alone
  (engine.capture.pipeline.capture_keypoints: what MediaPipe's video mode does too), per preset;
- `capture`: engine.capture.pipeline.capture end to end (after loading: decoding twice, detection, the
  keypoint stage, the estimator, reconstruction, foot locking), per preset and estimator (--estimators;
  network and network+fit use --model or the placeholder);
- MediaPipe's own Python pipeline, BlazePose full in video mode (.venv-blazepose from
  scripts/bench/setup_blazepose_venv.sh; scripts/bench/blazepose_runner.py), frames/s including decoding.
Median of --runs; frames/s over the work after loading (model loading is a fixed cost, reported apart);
each stage's milliseconds per frame. ONNX Runtime gets --threads CPU threads (2: the machines' cores).

--memory: peak resident memory of a capture (default settings) of one clip repeated to several lengths,
each in a fresh process (scripts/bench/capture.py --memory --memory-clip pose_1.mp4 --lengths 400,2400).

--json prints one object: {"clips": {name: {"frames", "mediapipe_fps", "keypoints_fps": {preset},
"capture_fps": {"preset/estimator"}, "stages_ms": {...}}}, "presets", "estimators", "threads", "runs"}.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "video"
CLIPS = ("pose_squats.mp4", "pose_1.mp4", "basketball_dribble.mp4")
BLAZEPOSE_PYTHON = ROOT / ".venv-blazepose" / "bin" / "python"
STAGES = ("decode", "detect", "keypoints", "crop", "infer", "network_wait", "reconstruct", "foot_lock")


def bench_keypoints(path: pathlib.Path, runs: int, settings) -> float:
    """frames/s of detection, tracking and the keypoint stage (no estimator)."""
    from engine.capture.pipeline import capture_keypoints

    fps = []
    for _ in range(runs):
        timings: dict = {}
        result = capture_keypoints(path, settings, timings=timings)
        fps.append(len(result.frame_indices) / sum(v for k, v in timings.items() if k != "load"))
    return statistics.median(fps)


def bench_capture(path: pathlib.Path, runs: int, settings) -> dict:
    """frames/s of the whole capture over its wall clock after loading (the network runs beside the keypoint
    stage, so the stages' seconds overlap and do not add up to it), and each stage's ms per frame."""
    from engine.capture.pipeline import capture

    results, work = [], []
    for _ in range(runs):
        t = time.perf_counter()
        result = capture(path, settings)
        work.append(time.perf_counter() - t - result.timings["load"])
        results.append(result)
    pick = results[work.index(statistics.median_low(work))]
    return {"fps": pick.num_frames / statistics.median(work), "frames": pick.num_frames,
            "load_s": statistics.median(r.timings["load"] for r in results),
            "stages_ms": {s: 1000 * statistics.median(r.timings.get(s, 0.0) for r in results) / pick.num_frames
                          for s in STAGES}}


def bench_mediapipe(path: pathlib.Path, runs: int) -> dict | None:
    if not BLAZEPOSE_PYTHON.is_file():
        return None
    stats = []
    for _ in range(runs):
        run = subprocess.run([str(BLAZEPOSE_PYTHON), str(ROOT / "scripts" / "bench" / "blazepose_runner.py"),
                              str(path)], capture_output=True, text=True, env=dict(os.environ, GLOG_minloglevel="2"))
        if run.returncode != 0:
            print(f"BlazePose runner failed on {path.name}: {run.stderr.strip()[-300:]}", file=sys.stderr)
            return None
        stats.append(json.loads(run.stdout.strip().splitlines()[-1]))
    end_to_end = [s["frames"] / (s["seconds"] + s["decode_seconds"]) for s in stats]
    return {"fps": statistics.median(end_to_end), "process_fps": statistics.median(s["fps"] for s in stats)}


def peak_memory(clip: pathlib.Path, lengths: list[int]) -> dict[int, float]:
    """Peak RSS (MiB) of a default capture of `clip` played back and forth to each length, fresh processes."""
    sys.path.insert(0, str(ROOT / "tests"))
    from capture_support import loop_clip

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in lengths:
            video = loop_clip(clip, pathlib.Path(tmp) / f"loop{n}.mp4", n)
            code = ("import resource\nfrom engine.capture.pipeline import CaptureSettings, capture\n"
                    f"capture({str(video)!r}, CaptureSettings(threads=2))\n"
                    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n")
            run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
            out[n] = float(run.stdout.strip().splitlines()[-1])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per clip (median)")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime CPU threads")
    parser.add_argument("--presets", default="fast,balanced,accurate")
    parser.add_argument("--estimators", default="fit", help="comma-separated: fit, network, network+fit")
    parser.add_argument("--model", default=None, help="network .onnx for the network estimators")
    parser.add_argument("--device", default="cpu", choices=("auto", "cuda", "cpu"))
    parser.add_argument("--clips", default=",".join(CLIPS), help="comma-separated clip names in ../shared/data/video")
    parser.add_argument("--no-blazepose", action="store_true", help="skip MediaPipe's BlazePose")
    parser.add_argument("--memory", action="store_true", help="peak memory at several lengths instead")
    parser.add_argument("--memory-clip", default="pose_1.mp4")
    parser.add_argument("--lengths", default="400,1200,2400")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)

    import logging

    from engine.capture.pipeline import CaptureSettings

    logging.basicConfig(level=logging.ERROR)
    if args.memory:
        memory = peak_memory(DATA / args.memory_clip, [int(n) for n in args.lengths.split(",")])
        print(json.dumps(memory) if args.json else "\n".join(f"{n:6d} frames: peak RSS {m:.0f} MiB"
                                                              for n, m in memory.items()))
        return 0
    presets, estimators = args.presets.split(","), args.estimators.split(",")
    clips: dict[str, dict] = {}
    for name in args.clips.split(","):
        path = DATA / name
        row: dict = {"keypoints_fps": {}, "capture_fps": {}, "stages_ms": {}}
        for preset in presets:
            base = CaptureSettings(device=args.device, threads=args.threads, keypoints=preset)
            row["keypoints_fps"][preset] = bench_keypoints(path, args.runs, base)
            for estimator in estimators:
                from dataclasses import replace

                settings = replace(base, estimator=estimator,
                                   model_path=args.model if estimator != "fit" else None)
                got = bench_capture(path, args.runs, settings)
                row["capture_fps"][f"{preset}/{estimator}"] = got["fps"]
                row["stages_ms"][f"{preset}/{estimator}"] = got["stages_ms"]
                row["frames"] = got["frames"]
        mp = None if args.no_blazepose else bench_mediapipe(path, args.runs)
        row["mediapipe_fps"] = mp["fps"] if mp else None
        clips[name] = row
    report = {"clips": clips, "presets": presets, "estimators": estimators, "threads": args.threads,
              "runs": args.runs}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print_table(report)
    return 0


def print_table(report: dict) -> None:
    presets, estimators = report["presets"], report["estimators"]
    cols = [f"kp {p}" for p in presets] + [f"{p}/{e}" for p in presets for e in estimators]
    print(f"frames/s after loading, {report['threads']} threads, median of {report['runs']} runs "
          "(kp: detection + keypoint stage only, as MediaPipe's video mode; p/e: capture end to end)")
    head = f"{'clip':<24}{'frames':>7}{'MediaPipe full':>15}" + "".join(f"{c:>22}" for c in cols)
    print(head)
    print("-" * len(head))
    for name, c in report["clips"].items():
        mp = f"{c['mediapipe_fps']:.1f}" if c["mediapipe_fps"] else "n/a"
        cells = [c["keypoints_fps"][p] for p in presets] + [c["capture_fps"][f"{p}/{e}"] for p in presets
                                                            for e in estimators]
        print(f"{name:<24}{c['frames']:>7}{mp:>15}" + "".join(f"{v:>22.1f}" for v in cells))
    print("\nms per frame by stage:")
    for name, c in report["clips"].items():
        for key, stages in c["stages_ms"].items():
            print(f"  {name:<24}{key:<24}" + "  ".join(f"{s} {v:.1f}" for s, v in stages.items() if v > 0.05))


if __name__ == "__main__":
    sys.exit(main())
