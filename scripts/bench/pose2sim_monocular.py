"""Monocular capture on each pose2sim camera against Pose2Sim's triangulated markers, for any model file.

    .venv/bin/python scripts/bench/pose2sim_monocular.py [--model MODEL.onnx] [--estimators network,network+fit,fit]
        [--keypoints PRESET] [--json]

The same measurement as scripts/bench/fit.py's monocular part (PA-MPJPE per frame after Procrustes, mean over
frames, and MPJPE after aligning the pelvis, on the COCO-17 and foot points, in each camera's frame; contact
F1 of the planted frames against the markers' own), with the
network's ONNX file given: what the backbone experiment and the default model's card report.
"""

from __future__ import annotations

import argparse
import json
import logging
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from fit import bench_monocular  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="the network's ONNX file (default: the model planted capture uses)")
    parser.add_argument("--estimators", default="network", help="comma-separated: fit, network, network+fit")
    parser.add_argument("--keypoints", help="the keypoint stage's preset (default: the one planted capture uses)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    estimators = tuple(args.estimators.split(","))
    results = bench_monocular(estimators, args.model, args.keypoints)
    summary = {e: {key: float(np.mean([v[key] for v in results[e].values()]))
                   for key in ("pa_mpjpe_mm", "mpjpe_mm", "contact_f1")} | {"cameras": results[e]}
               for e in estimators}
    if args.json:
        print(json.dumps(summary))
        return 0
    cameras = sorted(next(iter(results.values())))
    print("| estimator | " + " | ".join(f"{c} PA-MPJPE" for c in cameras)
          + " | mean PA-MPJPE (mm) | mean MPJPE (mm) | contact F1 |")
    print("|---" * (len(cameras) + 4) + "|")
    for e in estimators:
        cells = " | ".join(f"{results[e][c]['pa_mpjpe_mm']:.0f}" for c in cameras)
        print(f"| {e} | {cells} | {summary[e]['pa_mpjpe_mm']:.1f} | {summary[e]['mpjpe_mm']:.1f} "
              f"| {summary[e]['contact_f1']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
