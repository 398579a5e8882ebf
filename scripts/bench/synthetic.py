"""Benchmark: synthetic training examples rendered and labelled per second, here (Mesa llvmpipe) or on a GPU's EGL.

    .venv/bin/python scripts/bench/synthetic.py [--count 200] [--repeats 3] [--json]

Each run builds `count` examples of training.data.synthetic.generator.SyntheticSource (a fresh seed per run,
after a warm-up that opens the GL context and reads the clips) and times the whole example: pose, Eq. 4
contacts (cached per clip and shape, so the first examples of a source pay for them), camera, render,
background, degradation and labels. The table gives the median over runs, with the share of the time the
rasteriser took; --json prints {"images_per_s": ..., ...} on one line.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from engine.body.active import load_active_body_model  # noqa: E402
from training.data.synthetic.generator import SyntheticSource  # noqa: E402


def timed_run(body, count: int, seed: int) -> tuple[float, float]:
    """(seconds for `count` examples, seconds of them in the rasteriser) for a fresh source."""
    source = SyntheticSource(body, "train", count=count, seed=seed)
    source[0]  # GL context, shaders, clips
    raster = source.rasteriser()
    render = raster.render
    spent = [0.0]

    def timed_render(*args, **kwargs):
        start = time.perf_counter()
        try:
            return render(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    raster.render = timed_render
    start = time.perf_counter()
    for i in range(1, count + 1):
        source[i % count]
    return time.perf_counter() - start, spent[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="examples per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs (the median is reported)")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of the table")
    args = parser.parse_args(argv)
    body = load_active_body_model()
    runs = [timed_run(body, args.count, seed) for seed in range(args.repeats)]
    seconds = statistics.median(r[0] for r in runs)
    render_share = statistics.median(r[1] / r[0] for r in runs)
    result = {"images_per_s": args.count / seconds, "ms_per_image": 1000 * seconds / args.count,
              "render_share": render_share, "count": args.count, "repeats": args.repeats,
              "size": "192x256"}
    if args.json:
        print(json.dumps(result))
        return 0
    print("| examples per run | runs | images/s (median) | ms per image | share in the rasteriser |")
    print("|---|---|---|---|---|")
    print(f"| {args.count} | {args.repeats} | {result['images_per_s']:.1f} | {result['ms_per_image']:.1f} | "
          f"{100 * render_share:.0f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
