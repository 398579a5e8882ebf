"""Estimation network on a lent GPU: torch bf16 images/s at batch 1, 32 and 256, and the share of bf16 peak.

    python scripts/bench/model_gpu.py [--sizes base,large] [--batches 1,32,256] [--compile reduce-overhead] [--json]
    python scripts/bench/model_gpu.py --smoke      # on the CPU: tiny, small batches, one iteration (a wiring check)

Per size: the full network (ViT + CVF + RKTD) randomly initialised with superset30 keypoints and a
contact head as wide as --contact-vertices, weights cast to bfloat16, inference mode. Timed eager and,
unless --compile none, with torch.compile (mode given by --compile; "reduce-overhead" uses CUDA graphs,
which lifts batch 1 out of launch overhead). Throughput is the median over --repeats timed blocks of
--iters forward passes (after --warmup passes), timed with CUDA events. The bf16 peak is measured on the
same card with chained 8192^3 bf16 matmuls; share of peak = GFLOPs per image (FlopCounterMode, counted
once on the CPU in fp32) x images/s / measured peak. ENVIRONMENT.md: H200 bf16 peak measured 748 TFLOP/s,
eager ViT-B 42 %, ViT-L 50 % at batch 256: the compiled numbers aim above those.
Needs only torch and numpy (the device image has no smplx): no body model file is read.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time
from dataclasses import asdict

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from training.config import model_config  # noqa: E402
from training.model.flops import count_flops  # noqa: E402
from training.model.network import PlantedNet  # noqa: E402

REFERENCE_PEAK_TFLOPS_H200 = 748.0


class Timer:
    """Seconds of GPU work between start() and stop() (CUDA events), or wall time on the CPU."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def __enter__(self):
        if self.cuda:
            self.begin, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            self.begin.record()
        else:
            self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            self.end.record()
            torch.cuda.synchronize()
            self.seconds = self.begin.elapsed_time(self.end) / 1000
        else:
            self.seconds = time.perf_counter() - self.start


def measure_peak_tflops(device: torch.device, n: int, iters: int) -> float:
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(3):
        with Timer(device) as timer:
            for _ in range(iters):
                a @ b
        best = max(best, 2 * n**3 * iters / timer.seconds / 1e12)
    return best


def images_per_second(fn, image: torch.Tensor, warmup: int, iters: int, repeats: int) -> float:
    device = image.device
    with torch.inference_mode():
        for _ in range(warmup):
            fn(image)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates = []
        for _ in range(repeats):
            with Timer(device) as timer:
                for _ in range(iters):
                    fn(image)
            rates.append(image.shape[0] * iters / timer.seconds)
    return statistics.median(rates)


def bench_size(size: str, args, device: torch.device, peak: float) -> list[dict]:
    config = model_config(size, num_contact_vertices=args.contact_vertices,
                          num_left_contact_vertices=args.contact_vertices // 2)
    torch.manual_seed(0)
    net = PlantedNet(**asdict(config)).eval()
    gflops = count_flops(net, torch.zeros(1, 3, 256, 192)) / 1e9
    net = net.to(device=device, dtype=torch.bfloat16)
    runners = {"eager": net}
    if args.compile != "none":
        runners["compiled"] = torch.compile(net, mode=None if args.compile == "default" else args.compile)
    rows = []
    for batch in args.batches:
        image = torch.randn(batch, 3, 256, 192, device=device, dtype=torch.bfloat16)
        row = {"size": size, "batch": batch, "gflops_per_image": round(gflops, 2)}
        for name, fn in runners.items():
            start = time.perf_counter()
            rate = images_per_second(fn, image, args.warmup, args.iters, args.repeats)
            row[f"{name}_images_per_s"] = round(rate, 1)
            row[f"{name}_ms_per_batch"] = round(1000 * batch / rate, 3)
            row[f"{name}_share_of_peak"] = round(gflops * rate / 1e3 / peak, 4)
            row[f"{name}_wall_s"] = round(time.perf_counter() - start, 1)
            print(f"{size} batch {batch} {name}: {rate:,.0f} images/s, {row[f'{name}_share_of_peak']:.1%} of peak",
                  file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def print_table(rows: list[dict], peak: float, device: str) -> None:
    print(f"device: {device}; measured bf16 peak {peak:.3g} TFLOP/s")
    runners = [r for r in ("eager", "compiled") if f"{r}_images_per_s" in rows[0]]
    header = ["size", "batch", "GFLOPs/img"] + [f"{r} {c}" for r in runners for c in ("img/s", "ms/batch", "% peak")]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        cells = [row["size"], row["batch"], row["gflops_per_image"]]
        for r in runners:
            cells += [f"{row[f'{r}_images_per_s']:,.0f}", row[f"{r}_ms_per_batch"], f"{row[f'{r}_share_of_peak']:.1%}"]
        print("| " + " | ".join(str(c) for c in cells) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="base,large")
    parser.add_argument("--batches", default="1,32,256")
    parser.add_argument("--compile", default="reduce-overhead",
                        choices=("none", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"))
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--contact-vertices", type=int, default=134,
                        help="width of the contact head (134: the free body model's two soles)")
    parser.add_argument("--smoke", action="store_true", help="CPU wiring check: tiny, batches 1 and 2, 1 iteration")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        args.sizes, args.batches, args.warmup, args.iters, args.repeats = "tiny", "1,2", 1, 1, 1
        args.compile = "none" if args.compile == "reduce-overhead" else args.compile
        device = torch.device("cpu")
        peak = measure_peak_tflops(device, 1024, 2)  # a CPU figure: only the wiring matters here
    else:
        if not torch.cuda.is_available():
            print("error: no CUDA device; use --smoke for a CPU wiring check", file=sys.stderr)
            return 1
        device = torch.device("cuda")
        torch.backends.cuda.matmul.allow_tf32 = True
        peak = measure_peak_tflops(device, 8192, 50)
    args.batches = [int(b) for b in str(args.batches).split(",")]
    device_name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    print(f"{device_name}: bf16 peak {peak:.3g} TFLOP/s (H200 reference {REFERENCE_PEAK_TFLOPS_H200:.0f})",
          file=sys.stderr, flush=True)
    rows = []
    for size in args.sizes.split(","):
        rows += bench_size(size.strip(), args, device, peak)
    if args.json:
        print(json.dumps({"device": device_name, "torch": torch.__version__, "peak_tflops": round(peak, 3),
                          "compile": args.compile, "rows": rows}))
    else:
        print_table(rows, peak, device_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
