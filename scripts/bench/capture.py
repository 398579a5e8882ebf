"""End-to-end capture speed on the real clips, per stage, beside BlazePose (full) on the same clips.

    .venv/bin/python scripts/bench/capture.py [--runs 3] [--threads 2] [--model PATH] [--device cpu] [--json]

For each clip of ../shared/data/video: `engine.capture.pipeline.capture` (every frame, foot locking
on) `--runs` times; the median run's frames/s over the whole pipeline after loading (decode twice,
detection, crops, network, reconstruction, foot locking), and each stage's milliseconds per frame.
Model loading is reported apart (a fixed cost, not a per-frame one). ONNX Runtime gets `--threads`
CPU threads (2: the machines' cores). The same run then calls scripts/bench/blazepose_runner.py in
.venv-blazepose (scripts/bench/setup_blazepose_venv.sh makes it) on each clip: BlazePose full in
MediaPipe's video mode, its frames/s including decoding like ours (its own work alone beside it).

On a GPU machine with onnxruntime-gpu: `--device cuda` (and `--model` an fp16 export from
`python -m training.export ... --fp16` for the half-precision numbers).

--json prints one object: {"clips": {name: {"fps", "blazepose_fps", "frames", "stages_ms", ...}},
"stages_ms": {stage: ms per frame over all clips}, "model", "provider", "threads"}.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "video"
CLIPS = ("pose_squats.mp4", "pose_1.mp4", "basketball_dribble.mp4")
BLAZEPOSE_PYTHON = ROOT / ".venv-blazepose" / "bin" / "python"
STAGES = ("decode", "detect", "crop", "infer", "reconstruct", "foot_lock")


def bench_clip(path: pathlib.Path, runs: int, settings) -> dict:
    from engine.capture.pipeline import capture

    results = [capture(path, settings) for _ in range(runs)]
    work = [sum(v for k, v in r.timings.items() if k != "load") for r in results]
    median_run = results[work.index(statistics.median_low(work))]
    frames = median_run.num_frames
    return {
        "frames": frames,
        "fps": frames / statistics.median(work),
        "load_s": statistics.median(r.timings["load"] for r in results),
        "stages_ms": {s: 1000 * statistics.median(r.timings.get(s, 0.0) for r in results) / frames for s in STAGES},
        "provider": "",
    }


def bench_blazepose(path: pathlib.Path, runs: int) -> dict | None:
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
    own = [s["fps"] for s in stats]
    return {"fps": statistics.median(end_to_end), "process_fps": statistics.median(own),
            "detected_frames": stats[0]["detected_frames"], "frames": stats[0]["frames"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per clip (median)")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime CPU threads")
    parser.add_argument("--model", default=None, help="model .onnx (default: what `planted capture` uses)")
    parser.add_argument("--device", default="cpu", choices=("auto", "cuda", "cpu"))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--clips", default=",".join(CLIPS), help="comma-separated clip names in ../shared/data/video")
    parser.add_argument("--no-blazepose", action="store_true", help="skip the BlazePose comparison")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)

    import logging

    from engine.capture.infer import PoseEstimator
    from engine.capture.models import resolve_model_path
    from engine.capture.pipeline import CaptureSettings

    logging.basicConfig(level=logging.ERROR)
    model = resolve_model_path(args.model)
    settings = CaptureSettings(model_path=str(model), device=args.device, threads=args.threads,
                               batch_size=args.batch_size)
    from engine.body.active import load_active_body_model

    estimator = PoseEstimator(model, load_active_body_model(), args.device, threads=args.threads)
    clips: dict[str, dict] = {}
    for name in args.clips.split(","):
        path = DATA / name
        clips[name] = bench_clip(path, args.runs, settings)
        clips[name]["provider"] = estimator.provider
        blaze = None if args.no_blazepose else bench_blazepose(path, args.runs)
        clips[name]["blazepose_fps"] = blaze["fps"] if blaze else None
        clips[name]["blazepose_process_fps"] = blaze["process_fps"] if blaze else None
    total_frames = sum(c["frames"] for c in clips.values())
    stages_ms = {s: sum(c["stages_ms"][s] * c["frames"] for c in clips.values()) / total_frames for s in STAGES}
    report = {"clips": clips, "stages_ms": stages_ms, "model": model.name, "trained": estimator.trained,
              "provider": estimator.provider, "threads": args.threads, "runs": args.runs}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print_table(report)
    return 0


def print_table(report: dict) -> None:
    head = f"{'clip':<24}{'frames':>7}{'planted fps':>13}{'BlazePose fps':>15}{'(its own work)':>16}  " + \
        "  ".join(f"{s:>11}" for s in STAGES)
    print(f"model {report['model']} ({'trained' if report['trained'] else 'untrained'}), {report['provider']}, "
          f"{report['threads']} threads, median of {report['runs']} runs; stage columns in ms per frame")
    print(head)
    print("-" * len(head))
    for name, c in report["clips"].items():
        blaze = f"{c['blazepose_fps']:.1f}" if c["blazepose_fps"] else "n/a"
        own = f"{c['blazepose_process_fps']:.1f}" if c["blazepose_process_fps"] else "n/a"
        stages = "  ".join(f"{c['stages_ms'][s]:>11.1f}" for s in STAGES)
        print(f"{name:<24}{c['frames']:>7}{c['fps']:>13.1f}{blaze:>15}{own:>16}  {stages}")
    stages = "  ".join(f"{report['stages_ms'][s]:>11.1f}" for s in STAGES)
    print(f"{'all clips (ms/frame)':<24}{'':>7}{'':>13}{'':>15}{'':>16}  {stages}")


if __name__ == "__main__":
    sys.exit(main())
