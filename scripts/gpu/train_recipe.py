"""The GPU training recipe: generate the data on this machine, train for at most 10 minutes, write the checkpoint.

    scripts/gpu/train_recipe.sh --out DIR [--minutes 9.5] [--config FILE] [--examples N]   # on a CUDA machine
    scripts/gpu/train_recipe.sh --out DIR --smoke                                          # anywhere, CPU, seconds

The machine is reached with little bandwidth (64 MiB a transfer), so nothing but the code and the body
model travels: the examples are generated here (the toy disc set, training.toy_discs, until the synthetic
renderer training.data.synthetic lands; `generate_source_kind` is the one place to switch). --minutes
is the whole run's wall-clock budget, setup and data generation included (at most 10). DIR gets the run
folder of training.train: config.toml, last.pt, checkpoints/, loss.csv and the event file, plus
recipe.json (device, steps, examples per second, time).
--smoke: the smoke config (training/configs/smoke.toml) on the CPU, 20 steps on 32 examples.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
from dataclasses import replace

ROOT = pathlib.Path(__file__).resolve().parents[2]
MAX_MINUTES = 10.0


def generate_source_kind() -> str:
    """The data generator that runs on the device machine."""
    return "toy_discs"


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for the checkpoint and logs")
    parser.add_argument("--minutes", type=float, default=9.5, help=f"wall-clock budget, at most {MAX_MINUTES}")
    parser.add_argument("--config", help="run config (default training/configs/gpu_recipe.toml)")
    parser.add_argument("--examples", type=int, help="examples to generate (default: the config's count)")
    parser.add_argument("--body-model", help="body model .npz (default: the config's)")
    parser.add_argument("--smoke", action="store_true", help="a few CPU steps of the smoke config, for tests")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    began = time.monotonic()
    sys.path.insert(0, str(ROOT))
    try:
        import smplx  # noqa: F401  (training.body needs it; GPU machines may lack it)
    except ImportError:
        print("train_recipe: smplx is not importable: run scripts/gpu/prepare_site.sh here and carry "
              ".cache/gpu_site (train_recipe.sh puts it on PYTHONPATH)", file=sys.stderr)
        return 2
    import torch

    from engine.errors import PlantedError
    from training.train import train

    if not 0 < args.minutes <= MAX_MINUTES:
        print(f"train_recipe: --minutes must lie in (0, {MAX_MINUTES}], got {args.minutes}", file=sys.stderr)
        return 2
    default = "smoke.toml" if args.smoke else "gpu_recipe.toml"
    config = pathlib.Path(args.config) if args.config else ROOT / "training" / "configs" / default
    try:
        run = load_run_config_with(config, args.body_model)
        if not args.smoke and not torch.cuda.is_available():
            raise PlantedError("no CUDA device here: run with --smoke for the CPU check")
        count = args.examples or (32 if args.smoke else None)
        sources = [replace(s, kind=generate_source_kind(), options={**s.options, **({"count": count} if count else {})})
                   for s in run.sources]
        train_settings = replace(run.train, budget_s=args.minutes * 60.0 - (time.monotonic() - began))
        if args.smoke:
            train_settings = replace(train_settings, steps=20, device="cpu", checkpoint_every=10, log_every=5)
        run = replace(run, sources=sources, train=train_settings)
        result = train(run, args.out, progress=not args.smoke)
    except PlantedError as err:
        print(f"train_recipe: {err}", file=sys.stderr)
        return 2
    seconds = time.monotonic() - began
    summary = {"device": torch.cuda.get_device_name(0) if run.train.device == "cuda" else "cpu",
               "steps": result.step, "batch_size": run.train.batch_size, "seconds": round(seconds, 1),
               "examples_per_s": round(result.step * run.train.batch_size / seconds, 1),
               "first_loss": result.losses[0][1] if result.losses else None,
               "last_loss": result.losses[-1][1] if result.losses else None,
               "checkpoint": str(pathlib.Path(args.out) / "last.pt")}
    (pathlib.Path(args.out) / "recipe.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))
    return 0


def load_run_config_with(config: pathlib.Path, body_model: str | None):
    """The run config file with its body model path replaced (when given) or made absolute against the repo."""
    import tomllib

    from engine.errors import PlantedError
    from training.run_config import DEFAULT_BODY_MODEL, run_config_from_dict

    if not config.is_file():
        raise PlantedError(f"--config {config} does not exist")
    raw = tomllib.loads(config.read_text())
    path = pathlib.Path(body_model or raw.get("body_model", DEFAULT_BODY_MODEL))
    raw["body_model"] = str(path if path.is_absolute() or body_model else ROOT / path)
    return run_config_from_dict(raw)


if __name__ == "__main__":
    sys.exit(main())
