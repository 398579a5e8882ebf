"""Estimation network on the CPU: parameters, GFLOPs per image, ms per image through ONNX Runtime and torch.

    .venv/bin/python scripts/bench/model.py [--sizes tiny,small,base,large] [--runs 5] [--threads 2] [--json]
        [--backbone vit,hybrid] [--trunk blazepose_heavy] [--trunk-feature bottleneck]

For each named size and backbone: a randomly initialised full network (ViT or hybrid + CVF + RKTD,
superset30 keypoints, the contact vertices of the body model; the hybrid's pretrained trunk from
engine/assets, input 256x256 against the ViT's 256x192), exported to ONNX fp32 with training.export
(verified against torch), then timed at batch 1 and 8 with ONNX Runtime's CPU provider and with eager
torch (inference mode), both limited to --threads threads. Each number is the median of --runs timed
runs after one warm-up run. Parameters are split into the trunk's (0 for the ViT) and the rest's.
With --json: one JSON object {"configs": {"size/backbone": {params_m, trunk_params_m, rest_params_m,
gflops, ort_cpu_ms_b1, torch_cpu_ms_b1, ort_cpu_ms_b8, torch_cpu_ms_b8}}, "threads", "runs", "body_model"}.
--body-model defaults to engine/assets/free_body_model.npz, or a synthetic body when that is missing
(the contact head's width is the only thing the body changes here).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import tempfile
import time
from dataclasses import asdict

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from training.body import config_from_body_model  # noqa: E402
from training.export import export_onnx  # noqa: E402
from training.model.flops import count_flops  # noqa: E402
from training.model.network import PlantedNet  # noqa: E402
from training.synthetic_body import write_synthetic_body_model  # noqa: E402

FREE_BODY_MODEL = ROOT / "engine" / "assets" / "free_body_model.npz"


def median_seconds(fn, runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_size(size: str, body_model: pathlib.Path, runs: int, threads: int, workdir: pathlib.Path,
               **model_overrides) -> dict:
    config = config_from_body_model(body_model, size, **model_overrides)
    torch.manual_seed(0)
    net = PlantedNet(**asdict(config.model)).eval()
    shape = (3, config.model.image_height, config.model.image_width)
    params_m = sum(p.numel() for p in net.parameters()) / 1e6
    trunk_m = sum(p.numel() for p in net.trunk.parameters()) / 1e6 if net.trunk is not None else 0.0
    gflops = count_flops(net, torch.zeros(1, *shape)) / 1e9
    onnx_path = workdir / f"{size}.onnx"
    export_onnx(net, config, onnx_path, trained=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    torch.set_num_threads(threads)
    row = {"params_m": round(params_m, 2), "trunk_params_m": round(trunk_m, 2),
           "rest_params_m": round(params_m - trunk_m, 2), "gflops": round(gflops, 2),
           "input": f"{shape[1]}x{shape[2]}"}
    rng = np.random.default_rng(0)
    for batch in (1, 8):
        image = rng.standard_normal((batch, *shape)).astype(np.float32)
        tensor = torch.from_numpy(image)
        ort_s = median_seconds(lambda image=image: session.run(None, {"image": image}), runs)

        def torch_run(tensor=tensor):
            with torch.inference_mode():
                net(tensor)

        torch_s = median_seconds(torch_run, runs)
        row[f"ort_cpu_ms_b{batch}"] = round(1000 * ort_s / batch, 1)
        row[f"torch_cpu_ms_b{batch}"] = round(1000 * torch_s / batch, 1)
    onnx_path.unlink()
    return row


def print_table(configs: dict) -> None:
    header = ("size/backbone", "input", "params M", "trunk M", "rest M", "GFLOPs/img", "ORT b1 ms/img",
              "torch b1 ms/img", "ORT b8 ms/img", "torch b8 ms/img")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for size, r in configs.items():
        cells = (size, r["input"], r["params_m"], r["trunk_params_m"], r["rest_params_m"], r["gflops"],
                 r["ort_cpu_ms_b1"], r["torch_cpu_ms_b1"], r["ort_cpu_ms_b8"], r["torch_cpu_ms_b8"])
        print("| " + " | ".join(str(c) for c in cells) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="tiny,small,base,large", help="comma-separated named sizes")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measurement (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for ORT and torch")
    parser.add_argument("--body-model", default=None, help="body model .npz (default: the free one)")
    parser.add_argument("--backbone", default="vit", help="comma-separated backbones: vit, hybrid")
    parser.add_argument("--trunk", default="blazepose_heavy", help="the hybrid's trunk (blazepose_heavy/full/lite)")
    parser.add_argument("--trunk-feature", default="bottleneck", help="hybrid trunk feature: bottleneck, decoder")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = pathlib.Path(tmp)
        body = pathlib.Path(args.body_model) if args.body_model else FREE_BODY_MODEL
        if not body.is_file():
            body = write_synthetic_body_model(workdir / "synthetic_body.npz")
        configs = {}
        runs = [(size.strip(), backbone.strip()) for size in args.sizes.split(",")
                for backbone in args.backbone.split(",")]
        for size, backbone in tqdm(runs, desc="networks", file=sys.stderr):
            overrides = {"backbone": backbone}
            name = f"{size}/{backbone}"
            if backbone == "hybrid":
                overrides.update(trunk=args.trunk, trunk_feature=args.trunk_feature)
                name += f" ({args.trunk} {args.trunk_feature})"
            configs[name] = bench_size(size, body, args.runs, args.threads, workdir, **overrides)
    if args.json:
        print(json.dumps({"configs": configs, "threads": args.threads, "runs": args.runs, "body_model": body.name}))
    else:
        print_table(configs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
