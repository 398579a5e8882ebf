"""The keypoint networks and presets on real photos: PCK@0.2 on LSP's test split and LSPET, and speed.

    .venv/bin/python scripts/bench/keypoints.py [--threads 2] [--json] [--no-mediapipe] [--limit N]

Per network (MoveNet Thunder / Lightning, BlazePose lite / full / heavy), per preset (engine.keypoints.stage
PRESETS: the two networks fused) and for MediaPipe's own Python pipeline (full and heavy, its detector
included; .venv-blazepose from scripts/bench/setup_blazepose_venv.sh), two ways in (training.keypoint_eval):
- whole photo ("crop"): the 224 x 224 photo, a square 1.5x the person's joint box, resized to the input;
- through our detector and the tracked region ("roi"), as `planted capture` sees a person.
PCK@0.2 of the torso over the 12 LSP limb joints. Splits: LSP test (im1001-2000) and LSPET's second half
(lspet_eval, im06001-10000), which the fusion was not fitted on (it was fitted on LSP train and LSPET's
first half). ms / image: median over 200 photos at batch 1 with `--threads` ONNX Runtime threads; for a
preset, both networks and the fusion on one region (what a tracked video frame costs). MediaPipe's ms are
its own `Pose.process` in static mode (detector included) in its own process: LiteRT and ONNX Runtime in
one process slow each other down.

--json: {"lsp_test_pck": {name: pck}, "lspet_pck": {name: pck}, "ms_per_image": {name: ms},
"lsp_test_pck_roi": {...}, "lspet_pck_roi": {...}} with whole-photo figures in the first two.
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

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from engine.keypoints.fusion import body23  # noqa: E402
from engine.keypoints.sets import blazepose_as_body23  # noqa: E402
from engine.keypoints.stage import PRESETS, KeypointStage  # noqa: E402
from training.data.lsp import load_split  # noqa: E402
from training.keypoint_eval import cached, pck, predict_pair, whole_photo_rois  # noqa: E402

SPLITS = {"lsp_test": "lsp_test", "lspet": "lspet_eval"}
MODES = ("crop", "roi")
MEDIAPIPE_PYTHON = ROOT / ".venv-blazepose" / "bin" / "python"
MEDIAPIPE_VARIANTS = {"mediapipe_full": 1, "mediapipe_heavy": 2}
# Which pair each single network's figures come from (in roi mode MoveNet looks in that BlazePose's region).
SINGLE = {"movenet_lightning": ("movenet_lightning", "blazepose_lite"),
          "movenet_thunder": ("movenet_thunder", "blazepose_full"),
          "blazepose_lite": ("movenet_lightning", "blazepose_lite"),
          "blazepose_full": ("movenet_thunder", "blazepose_full"),
          "blazepose_heavy": ("movenet_thunder", "blazepose_heavy")}


def coco_to_body23(points: np.ndarray) -> np.ndarray:
    out = np.full((len(points), 23, 2), np.nan)
    out[:, :17] = points
    return out


def accuracy(data, threads: int) -> dict[str, dict[str, float]]:
    """{mode: {name: pck}} for every single network and preset on `data`."""
    out: dict[str, dict[str, float]] = {}
    for mode in MODES:
        table = {}
        for name, pair in SINGLE.items():
            pred = predict_pair(data, *pair, mode, threads)
            pts = coco_to_body23(pred["movenet"][..., :2]) if name.startswith("movenet") else blazepose_as_body23(
                pred["blazepose"][..., :2])
            table[name] = pck(pts, data)[0]
        for preset, pair in PRESETS.items():
            stage_fusion = KeypointStage(device="cpu", threads=threads, models=pair).fusion
            pred = predict_pair(data, *pair, mode, threads)
            pts, _ = body23(pred["movenet"][..., :2], pred["movenet"][..., 2], pred["blazepose"][..., :2],
                            pred["blazepose"][..., 3], stage_fusion)
            table[f"preset_{preset}"] = pck(pts, data)[0]
        out[mode] = table
    return out


def speed(data, threads: int, count: int = 200) -> dict[str, float]:
    """ms per image at batch 1 for each network (crop, network, decode) and preset (both + fusion)."""
    from engine.keypoints.blazepose import BlazePoseLandmarker
    from engine.keypoints.movenet import MoveNetEstimator

    images = [data.image(i) for i in range(min(count, len(data)))]
    roi = whole_photo_rois(1)

    def median_ms(fn) -> float:
        fn(images[0])
        times = []
        for image in images:
            t = time.perf_counter()
            fn(image)
            times.append(time.perf_counter() - t)
        return 1000 * statistics.median(times)

    result = {}
    for name in SINGLE:
        net = MoveNetEstimator(name, "cpu", threads) if name.startswith("movenet") else BlazePoseLandmarker(
            name, "cpu", threads)
        result[name] = median_ms(lambda image, net=net: net.run([image], roi))
    for preset, pair in PRESETS.items():
        stage = KeypointStage(device="cpu", threads=threads, models=pair)
        result[f"preset_{preset}"] = median_ms(lambda image, stage=stage: stage.estimate([image], roi))
    return result


def mediapipe(data, variant: str, complexity: int) -> tuple[float, float] | None:
    """(PCK, median ms) of MediaPipe's Python pipeline on the photos, or None without its venv."""
    if not MEDIAPIPE_PYTHON.is_file():
        return None

    def compute() -> dict[str, np.ndarray]:
        with tempfile.TemporaryDirectory() as tmp:
            listing, out = pathlib.Path(tmp) / "images.txt", pathlib.Path(tmp) / "out.npz"
            listing.write_text("\n".join(str(p) for p in data.paths))
            subprocess.run([str(MEDIAPIPE_PYTHON), str(ROOT / "scripts" / "bench" / "blazepose_runner.py"),
                            "--images", str(listing), "--out", str(out), "--model-complexity", str(complexity)],
                           check=True, capture_output=True, env=dict(os.environ, GLOG_minloglevel="2"))
            with np.load(out) as f:
                return {"landmarks": f["landmarks"], "ms": f["ms"]}

    result = cached(f"mediapipe{complexity}", data, {"variant": variant, "version": 1}, compute)
    return pck(blazepose_as_body23(result["landmarks"][..., :2]), data)[0], float(np.median(result["ms"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-mediapipe", action="store_true")
    parser.add_argument("--limit", type=int, default=None, help="only the first N photos of each split (a quick look)")
    args = parser.parse_args()
    report: dict[str, dict[str, float]] = {"lsp_test_pck": {}, "lspet_pck": {}, "lsp_test_pck_roi": {},
                                           "lspet_pck_roi": {}, "ms_per_image": {}}
    for key, split in SPLITS.items():
        data = load_split(split)
        if args.limit:
            data = data.subset(slice(0, args.limit))
        acc = accuracy(data, args.threads)
        report[f"{key}_pck"].update(acc["crop"])
        report[f"{key}_pck_roi"].update(acc["roi"])
        if not args.no_mediapipe:
            for name, complexity in MEDIAPIPE_VARIANTS.items():
                got = mediapipe(data, name, complexity)
                if got is not None:  # its own detector and region: the same figure in both columns
                    report[f"{key}_pck"][name] = got[0]
                    report[f"{key}_pck_roi"][name] = got[0]
                    if key == "lsp_test":
                        report["ms_per_image"][name] = got[1]
        if key == "lsp_test":
            report["ms_per_image"].update(speed(data, args.threads))
    if args.json:
        print(json.dumps(report, indent=1))
        return
    names = list(report["lsp_test_pck"])
    print(f"{'name':20s} {'LSP test':>9s} {'LSP roi':>8s} {'LSPET':>7s} {'LSPET roi':>9s} {'ms/image':>9s}")
    for name in names:
        cells = [report["lsp_test_pck"].get(name), report["lsp_test_pck_roi"].get(name), report["lspet_pck"].get(name),
                 report["lspet_pck_roi"].get(name)]
        text = " ".join(f"{c:>9.3f}" if c is not None else f"{'-':>9s}" for c in cells)
        ms = report["ms_per_image"].get(name)
        print(f"{name:20s} {text} {ms:>9.1f}" if ms is not None else f"{name:20s} {text} {'-':>9s}")


if __name__ == "__main__":
    main()
