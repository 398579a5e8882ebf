"""The GPU training recipe: the shipped architecture trained on synthetic renders made on the GPU machine itself,
for at most 10 minutes, with a compact copy of the weights small enough to come back.

    scripts/gpu/train_recipe.sh --out DIR [--minutes 9] [--run-dir RUN] [--config FILE] [--examples N]  # CUDA
    scripts/gpu/train_recipe.sh --out DIR --run-dir RUN --smoke                                           # CPU

What it trains: training/configs/gpu_recipe.toml, i.e. default_cpu.toml's [model] (hybrid backbone, BlazePose
full's bottleneck, 256 x 256) with the trunk's last 2 stages fine-tuning, on the synthetic renderer
(training.data.synthetic) over the training clips only; the DataLoader workers render, each in its own EGL
context opened after the fork (checked first in one forked process, whose GL renderer recipe.json reports).
bf16 autocast on CUDA (training.train).

--minutes is the whole run's wall clock, the shell wrapper's setup included (it exports
PLANTED_RECIPE_STARTED); training checkpoints and stops RESERVE_S before it, to leave time for the files below.
RUN (default /tmp/planted_recipe_run; keep it outside DIR) gets training.train's run folder: config.toml,
last.pt (weights + Adam, fp32, 111 MiB), checkpoints/, loss.csv, events. DIR gets what comes back (4 files,
18.6 MiB): weights.pt.part00, weights.pt.part01 (training.compact_weights: fp16, frozen trunk left out, parts
of at most 15 MiB), loss.csv and recipe.json (device, steps, batch, examples/s, seconds, losses, the parts).

The device call (the run tool; 29.6 MiB travels after the stash, limit 64 MiB), from the checkout that travels
(the run tool sends the session's own checkout: run these there):

    scripts/gpu/prepare_site.sh          # once, here: builds .cache/gpu_site (needs PyPI and Debian)
    scripts/gpu/slim_tree.sh stash       # here: moves the assets the recipe does not need out of the tree
    run(carry=[".cache/gpu_site"], timeout_s=600,
        command="bash scripts/gpu/train_recipe.sh --out $OUT/recipe --minutes 9")
    scripts/gpu/slim_tree.sh restore     # here, always, also after a failed call (safe to repeat)

timeout 600 s leaves a minute over the 9-minute budget for a slow start; what comes back lands under the
call's files_at/recipe/. There: `cat weights.pt.part* > weights.pt` (or pass the folder), then
`python -m training.compact_weights recipe/ -o model.pt && python -m training.export model.pt -o model.onnx`.
--smoke: the same config on the CPU, 6 steps of batch 2 over 8 renders with 2 workers (about 45 s on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import shutil
import sys
import tempfile
import time
from dataclasses import replace

ROOT = pathlib.Path(__file__).resolve().parents[2]
MAX_MINUTES = 10.0
RESERVE_S = 20.0  # after training: the compact file, loss.csv and recipe.json (seconds)
SMOKE = {"steps": 6, "batch_size": 2, "examples": 8, "num_workers": 2}


def recipe_started() -> float:
    """The run's start (epoch seconds): the shell wrapper's PLANTED_RECIPE_STARTED, else now."""
    try:
        return float(os.environ["PLANTED_RECIPE_STARTED"])
    except (KeyError, ValueError):
        return time.time()


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True,
                        help="folder for what comes back: compact weights, loss.csv, recipe.json")
    parser.add_argument("--run-dir", help="training's own run folder (default /tmp/planted_recipe_run)")
    parser.add_argument("--minutes", type=float, default=9.0, help=f"wall-clock budget, at most {MAX_MINUTES}")
    parser.add_argument("--config", help="run config (default training/configs/gpu_recipe.toml)")
    parser.add_argument("--examples", type=int, help="synthetic examples to draw from (default: the config's count)")
    parser.add_argument("--body-model", help="body model .npz (default: the config's)")
    parser.add_argument("--smoke", action="store_true", help="a few CPU steps of the same recipe, for tests")
    return parser.parse_args(argv)


def training_sources(run, count: int | None):
    """The config's sources with `count` examples each; PlantedError unless all are training-clip renders."""
    from engine.errors import PlantedError

    for source in run.sources:
        if source.kind != "synthetic" or source.options.get("split", "train") != "train":
            raise PlantedError(f"the GPU recipe renders its data on the device: source {source.name!r} must be "
                               "kind = \"synthetic\" with split = \"train\" (held-out clips never train)")
    return [replace(s, options={**s.options, **({"count": count} if count else {})}) for s in run.sources]


def recipe_run(args, budget_s: float):
    """The run config of the recipe (or of its smoke version) with `budget_s` seconds for training."""
    config = pathlib.Path(args.config) if args.config else ROOT / "training" / "configs" / "gpu_recipe.toml"
    run = load_run_config_with(config, args.body_model)
    count = args.examples or (SMOKE["examples"] if args.smoke else None)
    settings = replace(run.train, budget_s=budget_s)
    if args.smoke:
        settings = replace(settings, device="cpu", steps=SMOKE["steps"], batch_size=SMOKE["batch_size"],
                           num_workers=SMOKE["num_workers"], checkpoint_every=SMOKE["steps"], log_every=1)
    return replace(run, sources=training_sources(run, count), train=settings)


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


def _open_context_in_child(queue) -> None:
    try:
        from training.data.synthetic.raster import create_context

        context = create_context()
        queue.put(("ok", context.info["GL_RENDERER"]))
        context.release()
    except Exception as err:  # reported by the parent, which names the step
        queue.put(("error", str(err)[:500]))


def renderer_of_a_forked_worker(device: str, timeout_s: float = 60.0) -> str:
    """The GL renderer a DataLoader worker gets, found by forking one as the loader will (after CUDA starts in
    this process) and opening an EGL context there: an error or hang in the workers would otherwise cost the
    whole budget. PlantedError when it fails or takes over `timeout_s` seconds."""
    import multiprocessing

    import torch

    from engine.errors import PlantedError

    if device == "cuda":
        torch.zeros(1, device="cuda")  # the workers are forked from a process whose CUDA is running
    fork = multiprocessing.get_context("fork")
    queue = fork.SimpleQueue()
    child = fork.Process(target=_open_context_in_child, args=(queue,))
    child.start()
    child.join(timeout_s)
    if child.is_alive():
        child.kill()
        raise PlantedError(f"a forked worker did not open an EGL context within {timeout_s:.0f} s: the renders "
                           "cannot run in DataLoader workers here")
    if queue.empty():
        raise PlantedError(f"a forked worker died opening an EGL context (exit code {child.exitcode})")
    status, detail = queue.get()
    if status != "ok":
        raise PlantedError(f"a forked worker cannot render: {detail}")
    return detail


def device_name(run) -> str:
    import torch

    return torch.cuda.get_device_name(0) if run.train.device == "cuda" else "cpu"


def summary_of(run, result, compact, train_seconds: float, began: float, minutes: float, run_dir,
               renderer: str) -> dict:
    """recipe.json: what ran where, how fast (examples/s over the training call, model build and the workers'
    start included), how the loss went and which files hold the weights."""
    examples = result.step * run.train.batch_size
    return {"device": device_name(run), "gl_renderer": renderer, "steps": result.step,
            "batch_size": run.train.batch_size,
            "examples": examples, "examples_per_s": round(examples / max(train_seconds, 1e-9), 1),
            "train_seconds": round(train_seconds, 1), "seconds": round(time.time() - began, 1),
            "budget_minutes": minutes, "num_workers": run.train.num_workers,
            "trunk_trainable_stages": run.config.model.trunk_trainable_stages,
            "first_loss": result.losses[0][1] if result.losses else None,
            "last_loss": result.losses[-1][1] if result.losses else None,
            "run_dir": str(run_dir), "compact": {"parts": [p.name for p in compact.parts],
                                                 "bytes": compact.total_bytes, "sha256": compact.sha256,
                                                 "join": "cat weights.pt.part* > weights.pt"}}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    began = recipe_started()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("training").setLevel(logging.INFO)  # e.g. the budget's stop; not each clip's units
    sys.path.insert(0, str(ROOT))
    try:
        import smplx  # noqa: F401  (training.body needs it; GPU machines may lack it)
    except ImportError:
        print("train_recipe: smplx is not importable: run scripts/gpu/prepare_site.sh here and carry "
              ".cache/gpu_site (train_recipe.sh puts it on PYTHONPATH)", file=sys.stderr)
        return 2
    from engine.errors import command_exit_code

    return command_exit_code("train_recipe", lambda: _run(args, began))


def _run(args, began: float) -> int:
    """The recipe after its imports are known to work (module docstring): train, then write what comes back."""
    import torch

    from engine.errors import PlantedError
    from training.compact_weights import write_compact
    from training.train import train

    if not 0 < args.minutes <= MAX_MINUTES:
        raise PlantedError(f"--minutes must lie in (0, {MAX_MINUTES}], got {args.minutes}")
    out = pathlib.Path(args.out)
    run_dir = pathlib.Path(args.run_dir) if args.run_dir else pathlib.Path(tempfile.gettempdir()) / "planted_recipe_run"
    budget_s = args.minutes * 60.0 - (time.time() - began) - RESERVE_S
    if budget_s <= 0:
        raise PlantedError(f"--minutes {args.minutes} leaves no time to train after the setup")
    run = recipe_run(args, budget_s)
    if run.train.device == "cuda" and not torch.cuda.is_available():
        raise PlantedError("no CUDA device here: run with --smoke for the CPU check")
    renderer = renderer_of_a_forked_worker(run.train.device)
    train_began = time.time()
    result = train(run, run_dir, progress=not args.smoke)
    train_seconds = time.time() - train_began
    compact = write_compact(result.net, run.config, out)
    shutil.copyfile(run_dir / "loss.csv", out / "loss.csv")
    summary = summary_of(run, result, compact, train_seconds, began, args.minutes, run_dir, renderer)
    (out / "recipe.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
