"""The backbone experiment of issue 13: the paper's ViT from scratch against hybrids on pretrained trunks.

    .venv/bin/python scripts/bench/backbone_experiment.py --out runs/backbones [--steps 300] [--batch 16]
        [--only vit_tiny,hybrid_blazepose_full] [--lr 2e-4]

Every arm trains on the same data (synthetic shards of the training clips, LSP's training photos and
the first 2,000 of LSPET's, mixed 2 : 1 : 1, crops at the arm's input size, no augmentation so that cached
trunk features and images see the same crops), for the same steps, batch and seed, with the same
transformer (tiny: 12 layers, 192 wide), CVF and RKTD; hybrids keep their trunk frozen and train on its
cached features (training.feature_cache). Each is then evaluated (training.evaluate) on the held-out clips'
synthetic shards (PA-MPJPE, MPJPE, PVE, contacts) and LSP's test split (PCK@0.2 of the front keypoints).
Shards come from `python -m training.data.make_shards` (256x192 in .cache/shards/synthetic, 256x256 in
.cache/shards/synthetic256; held out: held_out and held_out256). Prints one markdown table.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from training.evaluate import evaluate  # noqa: E402
from training.run_config import run_config_from_dict  # noqa: E402
from training.train import train  # noqa: E402

SHARDS = ROOT / ".cache" / "shards"
HYBRID = {"backbone": "hybrid", "image_height": 256, "image_width": 256, "trunk_feature": "bottleneck"}
ARMS: dict[str, dict] = {
    "vit_tiny": {},
    "hybrid_blazepose_full": {**HYBRID, "trunk": "blazepose_full"},
    "hybrid_blazepose_heavy": {**HYBRID, "trunk": "blazepose_heavy"},
    "hybrid_movenet_lightning": {**HYBRID, "trunk": "movenet_lightning"},
}


def arm_config(model: dict, steps: int, batch: int, lr: float, fraction: float = 1.0) -> dict:
    square = model.get("image_width") == 256
    shards = SHARDS / ("synthetic256" if square else "synthetic") / "*.npz"
    return {
        "size": "tiny", "body_model": str(ROOT / "engine" / "assets" / "free_body_model.npz"),
        "model": dict(model),
        "train": {"steps": steps, "batch_size": batch, "lr": lr, "seed": 0, "device": "cpu", "num_workers": 0,
                  "log_every": 10, "checkpoint_every": steps, "cache_trunk_features": bool(model)},
        "data": {"sources": [
            {"name": "synthetic", "kind": "shards", "weight": 2.0, "paths": [str(shards)],
             "count": int(4000 * fraction)},
            {"name": "lsp", "kind": "photos", "weight": 1.0, "split": "lsp_train", "augment": False,
             "count": int(1000 * fraction)},
            {"name": "lspet", "kind": "photos", "weight": 1.0, "split": "lspet_train", "augment": False,
             "count": int(2000 * fraction)},
        ]},
    }


def run_arm(name: str, model: dict, out: pathlib.Path, steps: int, batch: int, lr: float, held_out: int,
            lsp: int, fraction: float) -> dict:
    run = run_config_from_dict(arm_config(model, steps, batch, lr, fraction))
    began = time.perf_counter()
    result = train(run, out / name, progress=False)
    seconds = time.perf_counter() - began
    square = model.get("image_width") == 256
    held = SHARDS / ("held_out256" if square else "held_out") / "*.npz"
    metrics = evaluate(str(result.checkpoint), [f"shards:{held}:{held_out}", f"lsp_test:{lsp}"],
                       out / name / "evaluation", figures=2)
    first, last = result.losses[0][1], result.losses[-1][1]
    return {"train_s": seconds, "first_loss": first, "last_loss": last, **{
        f"{set_name}/{k}": v for set_name, values in metrics.items() for k, v in values.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--held-out", type=int, default=300, help="held-out synthetic examples evaluated")
    parser.add_argument("--lsp", type=int, default=500, help="LSP test photos evaluated")
    parser.add_argument("--fraction", type=float, default=1.0, help="of the training examples (smoke runs)")
    parser.add_argument("--only", help="comma-separated arms (default: all)")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    names = args.only.split(",") if args.only else list(ARMS)
    results = {}
    for name in names:
        results[name] = run_arm(name, ARMS[name], out, args.steps, args.batch, args.lr, args.held_out, args.lsp,
                                args.fraction)
        (out / "results.json").write_text(json.dumps(results, indent=2))
        print(name, json.dumps(results[name]), flush=True)
    keys = ["train_s", "first_loss", "last_loss"] + sorted({k for r in results.values() for k in r} -
                                                          {"train_s", "first_loss", "last_loss"})
    print("| arm | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name, values in results.items():
        print(f"| {name} | " + " | ".join(f"{values.get(k, float('nan')):.3g}" for k in keys) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
