#!/usr/bin/env python
"""Benchmark: the engine's numpy body forward pass against smplx.SMPL (torch, CPU), same machine, same run.

Poses 1000 frames (random poses and shapes) three ways and prints frames per second, the median of
several runs: numpy joints only, numpy with full vertices, smplx (vertices and joints, as it always
computes both). Uses the free body model, or --body-model PATH.

    .venv/bin/python scripts/bench/body_forward.py [--frames 1000] [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import pathlib
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from engine.body.active import FREE_BODY_MODEL_PATH  # noqa: E402
from engine.body.lbs import body_forward  # noqa: E402
from engine.body.model import BodyModel, body_model_to_arrays, load_body_model  # noqa: E402


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: caches, allocations, torch's first call
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def smplx_layer(model: BodyModel):
    import smplx
    import torch

    arrays = body_model_to_arrays(model)
    keys = ("v_template", "f", "J_regressor", "weights", "kintree_table", "shapedirs", "posedirs")
    struct = smplx.utils.Struct(**{k: arrays[k] for k in keys})
    names = ["nose", "reye", "leye", "rear", "lear", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe",
             "RHeel"] + [f"{side}{tip}" for side in "lr" for tip in ("thumb", "index", "middle", "ring", "pinky")]
    with contextlib.redirect_stdout(sys.stderr):  # smplx prints a warning about 10 shape components
        layer = smplx.SMPL("unused", data_struct=struct, dtype=torch.float32,
                           vertex_ids={n: i for i, n in enumerate(names)})
    return layer, torch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--body-model", metavar="PATH", help="body model .npz (default: the free one)")
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)

    path = pathlib.Path(args.body_model) if args.body_model else FREE_BODY_MODEL_PATH
    if not path.is_file():
        parser.error(f"{path} not found: build the free model or pass --body-model PATH")
    model = load_body_model(path)
    rng = np.random.default_rng(0)
    pose = rng.normal(0.0, 0.4, (args.frames, 72)).astype(np.float32)
    betas = rng.normal(0.0, 1.0, (args.frames, 10)).astype(np.float32)
    trans = rng.normal(0.0, 1.0, (args.frames, 3)).astype(np.float32)

    joints_s = median_seconds(lambda: body_forward(model, pose, betas, trans, vertices=False), args.repeats)
    vertices_s = median_seconds(lambda: body_forward(model, pose, betas, trans), args.repeats)
    layer, torch = smplx_layer(model)
    inputs = {k: torch.from_numpy(v) for k, v in
              {"global_orient": pose[:, :3], "body_pose": pose[:, 3:], "betas": betas, "transl": trans}.items()}

    def run_smplx():
        with torch.no_grad():
            layer(**inputs)

    smplx_s = median_seconds(run_smplx, args.repeats)
    result = {
        "numpy_joints_fps": args.frames / joints_s,
        "numpy_vertices_fps": args.frames / vertices_s,
        "smplx_fps": args.frames / smplx_s,
        "frames": args.frames,
        "num_vertices": model.num_vertices,
        "model_id": model.model_id,
        "torch_threads": torch.get_num_threads(),
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"body model {path} ({model.model_id}, {model.num_vertices} vertices), {args.frames} frames, "
          f"median of {args.repeats} runs, float32, torch threads {torch.get_num_threads()}")
    rows = [("numpy, joints only", joints_s), ("numpy, full vertices", vertices_s),
            ("smplx (torch CPU), vertices + joints", smplx_s)]
    print(f"| {'forward pass':<38} | {'frames/s':>10} | {'ms / 1000 frames':>16} |")
    print(f"|{'-' * 40}|{'-' * 12}|{'-' * 18}|")
    for name, seconds in rows:
        print(f"| {name:<38} | {args.frames / seconds:>10,.0f} | {seconds * 1000 * 1000 / args.frames:>16.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
