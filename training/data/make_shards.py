"""Write shards of labelled training examples of each kind, and a PNG grid of them to look at.

    .venv/bin/python -m training.data.make_shards --kind synthetic --count 2000 -o shards/synthetic \\
        [--per-shard 500] [--seed 0] [--size 256x192] [--grid grid.png]

Kinds: `synthetic` (renders posed by the training clips), `synthetic_held_out` (the held-out clips: for
evaluation only), and the real kinds that training.data.sources offers (LSP's and LSPET's training photos,
pseudo-labelled video frames). Shards are written as DIR/<kind>-00000.npz, ... (training.data.shards); a run
shows a progress bar and Ctrl-C stops it after the shard being written is complete.
The grid draws the first examples with their front 2D keypoints, and side and top views of their 3D
keypoints where they have them (training.data.preview).
"""

from __future__ import annotations

import argparse
import pathlib

from engine.errors import PlantedError, command_exit_code


def example_source(kind: str, count: int, seed: int, size: tuple[int, int]):
    """The Sequence of Examples of a kind (at most `count` of them), crops of size (height, width)."""
    from training.data.sources import make_source

    return make_source(kind, count, seed, size=size)


def parse_size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise PlantedError(f"--size takes HEIGHTxWIDTH in pixels, e.g. 256x192, not {text!r}") from None
    if not (32 <= height <= 1024 and 32 <= width <= 1024):
        raise PlantedError(f"--size {text}: each side must be 32 to 1024 px")
    return height, width


def write_shards(source, out_dir: pathlib.Path, kind: str, per_shard: int, progress) -> list[pathlib.Path]:
    """Split the source's examples into shards of `per_shard`, written one after another."""
    from training.data.shards import write_shard

    paths = []
    for number, start in enumerate(range(0, len(source), per_shard)):
        rows = range(start, min(start + per_shard, len(source)))
        path = out_dir / f"{kind}-{number:05d}.npz"
        write_shard(path, (source[i] for i in rows), progress=lambda _done: progress(1))
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.data.make_shards", description=__doc__.splitlines()[0])
    parser.add_argument("--kind", required=True, help="synthetic, synthetic_held_out, lsp, lspet or video")
    parser.add_argument("--count", type=int, default=1000, help="examples to write (default 1000)")
    parser.add_argument("--per-shard", type=int, default=500, help="examples per shard file (default 500)")
    parser.add_argument("--seed", type=int, default=0, help="the random stream (same seed, same examples)")
    parser.add_argument("--size", default="256x192", help="crop HEIGHTxWIDTH, the model's input (default 256x192; "
                        "256x256 for the hybrid backbone)")
    parser.add_argument("-o", "--out", required=True, help="folder for the shard files")
    parser.add_argument("--grid", help="also write a PNG grid of the first 16 examples here")
    args = parser.parse_args(argv)
    return command_exit_code("make_shards", lambda: _run(args),
                             "stopped: the shards written so far are complete")


def _run(args: argparse.Namespace) -> int:
    if args.count < 1 or args.per_shard < 1:
        raise PlantedError("--count and --per-shard must be at least 1")
    source = example_source(args.kind, args.count, args.seed, parse_size(args.size))
    from tqdm import tqdm

    with tqdm(total=len(source), unit="example", desc=args.kind) as bar:
        paths = write_shards(source, pathlib.Path(args.out), args.kind, args.per_shard, bar.update)
    print(f"wrote {len(source)} examples in {len(paths)} shard(s) under {args.out}")
    if args.grid:
        from training.data.preview import example_grid

        example_grid([source[i] for i in range(min(16, len(source)))], args.grid)
        print(f"wrote {args.grid}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
