"""training.train on the toy disc set on the CPU: the loss falls, resume is exact, configs build, logs read back."""

from __future__ import annotations

import csv
import pathlib
import tomllib
from dataclasses import asdict, fields, replace

import numpy as np
import pytest
import torch

from engine.errors import PlantedError
from training.config import ModelConfig
from training.data.sources import SOURCE_KINDS
from training.event_log import crc32c, read_scalars
from training.model.network import PlantedNet
from training.run_config import load_run_config, run_config_from_dict, write_resolved_config
from training.schedule import step_decay_factor
from training.sources import ExampleMixer, batch_positions
from training.synthetic_body import write_synthetic_body_model
from training.train import main, read_training_checkpoint, train

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "training" / "configs"


@pytest.fixture(scope="module")
def body_path(tmp_path_factory):
    return write_synthetic_body_model(tmp_path_factory.mktemp("body") / "body.npz")


def smoke_run(body_path, **train_overrides):
    raw = tomllib.loads((CONFIGS / "smoke.toml").read_text())
    raw["body_model"] = str(body_path)
    raw["train"].update(train_overrides)
    return run_config_from_dict(raw)


def test_tiny_network_learns_the_toy_set(body_path, tmp_path):
    result = train(smoke_run(body_path, steps=300), tmp_path, progress=False)
    losses = np.array([loss for _, loss in result.losses])
    assert result.step == 300 and len(losses) == 300 and np.isfinite(losses).all()
    first, last = losses[:20].mean(), losses[-20:].mean()
    assert last < 0.6 * first, (first, last)
    # every loss term and the lr are in the TensorBoard file and the CSV
    tags = {tag for _, tag, _ in read_scalars(next(tmp_path.glob("events.out.tfevents.*")))}
    assert {"loss", "loss_keypoints_3d", "loss_contact", "loss_cvf", "lr", "grad_norm"} <= tags
    with open(tmp_path / "loss.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 300 and float(rows[-1]["loss"]) == pytest.approx(losses[-1], rel=1e-5)
    assert float(rows[-1]["lr"]) == pytest.approx(2e-3 * 0.3)  # after the milestone at 80 %
    assert load_run_config(tmp_path / "config.toml").to_dict() == result_config(tmp_path)


def result_config(folder):
    return read_training_checkpoint(folder / "last.pt")["run"]


def test_resume_continues_with_the_same_losses(body_path, tmp_path):
    run = smoke_run(body_path, steps=30, checkpoint_every=15, lr=1e-3)
    run = replace(run, config=replace(run.config, model=replace(run.config.model, dropout=0.3, drop_path_rate=0.1)))
    whole = train(run, tmp_path / "whole", progress=False)
    checkpoint = read_training_checkpoint(tmp_path / "whole" / "checkpoints" / "step_0000015.pt")
    assert checkpoint["state"]["step"] == 15 and checkpoint["state"]["stream_position"] == 15
    resumed = train(run, tmp_path / "resumed", resume=checkpoint, progress=False)
    assert [s for s, _ in resumed.losses] == list(range(16, 31))
    assert dict(resumed.losses) == {s: v for s, v in whole.losses if s > 15}  # bit for bit
    for a, b in zip(whole.net.state_dict().values(), resumed.net.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_cli_resume_and_errors(body_path, tmp_path, capsys):
    config = tmp_path / "run.toml"
    text = (CONFIGS / "smoke.toml").read_text().replace('"engine/assets/free_body_model.npz"', f'"{body_path}"')
    config.write_text(text)
    assert main(["--config", str(config), "--out", str(tmp_path / "a"), "--steps", "4"]) == 0
    assert main(["--resume", str(tmp_path / "a" / "last.pt"), "--steps", "6"]) == 0
    assert read_training_checkpoint(tmp_path / "a" / "last.pt")["state"]["step"] == 6
    config.write_text(text.replace("depth = 2", "depth = 2\nwidth_of_things = 3"))
    assert main(["--config", str(config), "--out", str(tmp_path / "b")]) == 2
    assert "width_of_things" in capsys.readouterr().err
    assert main([]) == 2
    assert "--config" in capsys.readouterr().err
    assert main(["--resume", str(tmp_path / "missing.pt")]) == 2


SHIPPED = sorted(p for p in CONFIGS.rglob("*.toml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_every_shipped_config_builds(path, body_path):
    raw = tomllib.loads(path.read_text())
    raw["body_model"] = str(body_path)  # the shipped body model is slow to read; the layout is the same
    if "backbone" in raw.get("model", {}) and "backbone" not in {f.name for f in fields(ModelConfig)}:
        with pytest.raises(PlantedError, match="backbone"):
            run_config_from_dict(raw)
        return
    run = run_config_from_dict(raw)
    with torch.device("meta"):
        net = PlantedNet(**asdict(run.config.model))
    assert sum(p.numel() for p in net.parameters()) > 0
    assert run.train.lr > 0 and run.sources
    assert all(s.kind in SOURCE_KINDS for s in run.sources)


def test_shipped_configs_hold_the_paper_recipe_and_ablations(body_path):
    names = {str(p.relative_to(CONFIGS)) for p in SHIPPED}
    assert {"tiny.toml", "small.toml", "base.toml", "large.toml", "hybrid.toml"} <= names
    views = {(raw["model"]["views"], raw["model"]["cross_view_attention"])
             for raw in (tomllib.loads((CONFIGS / n).read_text()) for n in names if "views_" in n)}
    assert views >= {("none", False), ("front", False), ("front_top", False), ("front_side_top", False),
                     ("front_side_top", True)}
    decoders = {tomllib.loads((CONFIGS / n).read_text())["model"]["decoder"] for n in names if "decoder_" in n}
    assert decoders == {"independent", "ktd", "rktd"}
    base = tomllib.loads((CONFIGS / "base.toml").read_text())["train"]
    assert (base["lr"], base["milestones"], base["gamma"]) == (5e-5, [0.5, 0.7, 0.9], 0.3)


def test_resolved_config_round_trips(body_path, tmp_path):
    run = smoke_run(body_path, steps=7)
    path = write_resolved_config(run, tmp_path)
    assert load_run_config(path).to_dict() == run.to_dict()


def test_paper_schedule():
    factors = [step_decay_factor(s, 100) for s in (0, 49, 50, 69, 70, 89, 90, 99)]
    assert factors == pytest.approx([1, 1, 0.3, 0.3, 0.09, 0.09, 0.027, 0.027])


def test_mixer_is_reproducible_weighted_and_sharded():
    sources = {"a": list(range(10)), "b": list(range(100, 130))}
    mixer = ExampleMixer(sources, {"a": 3.0, "b": 1.0}, seed=5)
    stream = [mixer[p] for p in range(4000)]
    assert stream == [ExampleMixer(sources, {"a": 3.0, "b": 1.0}, seed=5)[p] for p in range(4000)]
    assert stream != [ExampleMixer(sources, {"a": 3.0, "b": 1.0}, seed=6)[p] for p in range(4000)]
    share_a = np.mean([x < 100 for x in stream])
    assert share_a == pytest.approx(0.75, abs=0.03)
    # two ranks at batch 4 take the positions one rank at batch 8 would, disjointly
    ranks = [set(batch_positions(3, 4, r, 2)) for r in (0, 1)]
    assert not ranks[0] & ranks[1] and ranks[0] | ranks[1] == set(batch_positions(3, 8))
    with pytest.raises(PlantedError, match="one weight per source"):
        ExampleMixer(sources, {"a": 1.0}, seed=0)
    with pytest.raises(PlantedError, match="no examples"):
        ExampleMixer({"a": []}, {"a": 1.0})


def test_event_file_crc():
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
