"""The GPU recipe on the CPU: --smoke trains the shipped hybrid on synthetic renders made by 2 DataLoader workers,
and what would come back (compact weights in parts, loss.csv, recipe.json) fits the limits and gives back the
trained network; the recipe refuses held-out clips and a budget over 10 minutes."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tomllib

import pytest
import torch

from engine.errors import PlantedError
from training.checkpoint import load_checkpoint
from training.compact_weights import compact_state, read_compact
from training.compact_weights import main as compact_main

ROOT = pathlib.Path(__file__).resolve().parents[1]
RECIPE = ROOT / "scripts" / "gpu" / "train_recipe.sh"
MiB = 1024 * 1024

pytest.importorskip("moderngl")


def _recipe(*args, timeout=300):
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run([str(RECIPE), *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recipe")
    done = _recipe("--out", folder / "out", "--run-dir", folder / "run", "--smoke")
    assert done.returncode == 0, done.stderr[-3000:]
    return folder / "out", folder / "run"


def test_gpu_recipe_smoke_runs_on_the_cpu(smoke):
    out, run = smoke
    summary = json.loads((out / "recipe.json").read_text())
    assert summary["steps"] == 6 and summary["device"] == "cpu" and summary["num_workers"] == 2
    assert summary["trunk_trainable_stages"] == 2 and summary["examples_per_s"] > 0
    assert summary["gl_renderer"]  # a forked worker opened an EGL context before training began
    assert torch.load(run / "last.pt", weights_only=True)["state"]["step"] == 6
    config = tomllib.loads((run / "config.toml").read_text())
    assert config["model"]["backbone"] == "hybrid" and config["model"]["trunk"] == "blazepose_full"
    assert (config["model"]["image_height"], config["model"]["image_width"]) == (256, 256)
    assert [(s["kind"], s["split"]) for s in config["data"]["sources"]] == [("synthetic", "train")]
    # what comes back from the device: at most 8 files of at most 16 MiB, 64 MiB in all
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(["loss.csv", "recipe.json", *summary["compact"]["parts"]])
    sizes = [p.stat().st_size for p in out.iterdir()]
    assert len(sizes) <= 8 and max(sizes) <= 16 * MiB and sum(sizes) <= 64 * MiB
    assert len((out / "loss.csv").read_text().splitlines()) == 1 + 6  # header, one line a step


def test_compact_weights_give_back_the_trained_network(smoke, tmp_path):
    out, run = smoke
    compact, _ = read_compact(out)
    trained, _ = load_checkpoint(run / "last.pt")
    image = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = compact.eval()(image)
        want = trained.eval()(image)
        # the compact file is the trained weights rounded to float16: exactly those outputs
        stored = {k: v.float() for k, v in compact_state(trained).items() if v.is_floating_point()}
        trained.load_state_dict(stored, strict=False)
        rounded = trained(image)
    for name in ("pred_pose_rotmat", "pred_betas", "pred_cam", "pred_contact", "pred_kp2d_front"):
        assert torch.equal(got[name], rounded[name]), name
    # and close to the fp32 network (the continuous outputs: keypoints are heatmap maxima, which may hop a cell)
    for name in ("pred_betas", "pred_cam", "pred_contact"):
        assert torch.allclose(got[name], want[name], atol=2e-2), name
    # the one command that makes an exportable checkpoint of it, from the parts or their join
    joined = tmp_path / "weights.pt"
    joined.write_bytes(b"".join(p.read_bytes() for p in sorted(out.glob("weights.pt.part*"))))
    assert compact_main([str(joined), "-o", str(tmp_path / "model.pt")]) == 0
    again, _ = load_checkpoint(tmp_path / "model.pt")
    with torch.no_grad():
        assert torch.equal(again.eval()(image)["pred_pose_rotmat"], got["pred_pose_rotmat"])


def test_a_missing_part_is_named(smoke, tmp_path):
    out, _ = smoke
    for part in sorted(out.glob("weights.pt.part*"))[1:]:
        shutil.copyfile(part, tmp_path / part.name)  # part00 did not come back
    with pytest.raises(PlantedError, match="did not come back"):
        read_compact(tmp_path)
    shutil.copyfile(out / "weights.pt.part00", tmp_path / "weights.pt.part00")
    (tmp_path / "weights.pt.part01").write_bytes(b"cut short")
    with pytest.raises(PlantedError, match="not a readable"):
        read_compact(tmp_path / "weights.pt.part00")


def test_the_recipe_refuses_held_out_clips_and_long_budgets(tmp_path):
    spec = importlib.util.spec_from_file_location("train_recipe", ROOT / "scripts" / "gpu" / "train_recipe.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    raw = (ROOT / "training" / "configs" / "gpu_recipe.toml").read_text()
    held_out = tmp_path / "held_out.toml"
    held_out.write_text(raw.replace('split = "train"', 'split = "held_out"'))
    run = recipe.load_run_config_with(held_out, None)
    with pytest.raises(PlantedError, match="held-out clips never train"):
        recipe.training_sources(run, None)
    bad = _recipe("--out", tmp_path / "x", "--minutes", "11", "--smoke", timeout=120)
    assert bad.returncode == 2 and "--minutes" in bad.stderr
