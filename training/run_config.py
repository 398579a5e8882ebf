"""A training run's configuration file (TOML, read with the standard library) and the resolved copy of it.

    size = "tiny"                      # training.config.SIZES
    body_model = "engine/assets/free_body_model.npz"
    keypoint_set = "superset30"
    [model]                            # any training.config.ModelConfig field, over the size's values
    views = "front_side_top"
    [loss]                             # training.config.LossConfig: view_scale_m, heatmap_sigma
    [loss.weights]                     # training.config.LossWeights, one per loss_* term
    [train]                            # TrainSettings below
    steps = 20000
    [[data.sources]]                   # one table per source; weights mix them (training.sources)
    name = "toy"
    kind = "toy_discs"
    weight = 1.0
    count = 4096

Keys are constructor arguments (lower_snake); an unknown key is an error that names it. Relative paths
are relative to the working directory. Every run writes the resolved configuration (every field, defaults
included) as `config.toml` next to its checkpoints, and `load_run_config` reads that file back unchanged.
"""

from __future__ import annotations

import os
import pathlib
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace

from engine.atomic import atomic_path
from engine.errors import PlantedError
from training.body import config_from_body_model
from training.config import Config, LossConfig, LossWeights, ModelConfig

DEFAULT_BODY_MODEL = "engine/assets/free_body_model.npz"


@dataclass
class TrainSettings:
    """The optimisation recipe; the defaults are the paper's (section 4.1) where it gives them.

    steps: optimiser steps in all (the lr milestones are fractions of it); batch_size: examples per step
    per process; lr: Adam's learning rate, multiplied by gamma at each milestone; grad_clip: max gradient
    norm (0: off); budget_s: wall-clock seconds after which the run checkpoints and stops (0: none);
    device: "auto", "cpu" or "cuda"; num_workers: data-loading processes; checkpoint_every / log_every in
    steps.
    """

    steps: int = 100_000
    batch_size: int = 64
    lr: float = 5e-5
    milestones: list[float] = field(default_factory=lambda: [0.5, 0.7, 0.9])
    gamma: float = 0.3
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    log_every: int = 20
    checkpoint_every: int = 5000
    budget_s: float = 0.0
    cache_trunk_features: bool = False

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise PlantedError(f"[train] steps and batch_size must be >= 1, got {self.steps} and {self.batch_size}")
        if self.lr <= 0:
            raise PlantedError(f"[train] lr must be > 0, got {self.lr}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise PlantedError(f"[train] device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")


@dataclass
class SourceSpec:
    """One data source: `kind` names a builder in training.data.sources.SOURCE_KINDS; `options` its arguments."""

    name: str
    kind: str
    weight: float = 1.0
    options: dict = field(default_factory=dict)


@dataclass
class RunConfig:
    """Everything a run needs: the network's Config (model, body, loss), the recipe and the data."""

    config: Config
    body_model: str
    train: TrainSettings
    sources: list[SourceSpec]

    def to_dict(self) -> dict:
        return {"size": self.config.size, "body_model": self.body_model,
                "keypoint_set": self.config.body.keypoint_set, "model": asdict(self.config.model),
                "loss": asdict(self.config.loss), "body": asdict(self.config.body), "train": asdict(self.train),
                "data": {"sources": [{"name": s.name, "kind": s.kind, "weight": s.weight, **s.options}
                                     for s in self.sources]}}


_TOP_KEYS = {"size", "body_model", "keypoint_set", "model", "loss", "train", "data", "body"}


def _checked(section: str, raw: dict, allowed) -> dict:
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise PlantedError(f"unknown keys {unknown} in [{section}]: allowed are {sorted(allowed)}")
    return raw


def run_config_from_dict(raw: dict) -> RunConfig:
    """Build and check a RunConfig from a parsed file (module docstring for the layout)."""
    _checked("top level", raw, _TOP_KEYS)
    size = raw.get("size", "base")
    body_model = str(raw.get("body_model", DEFAULT_BODY_MODEL))
    model_raw = dict(raw.get("model", {}))
    unknown = sorted(set(model_raw) - {f.name for f in fields(ModelConfig)})
    if unknown:
        raise PlantedError(f"unknown keys {unknown} in [model]: this version's ModelConfig has no such field")
    # the body model decides the keypoint and contact counts; the file may not contradict it
    for key in ("num_keypoints", "num_contact_vertices", "num_left_contact_vertices"):
        model_raw.pop(key, None)
    if not pathlib.Path(body_model).is_file():
        raise PlantedError(f"body_model {body_model} does not exist: set body_model in the config to a body "
                           "model .npz (engine/assets/free_body_model.npz ships with Planted)")
    config = config_from_body_model(body_model, size, raw.get("keypoint_set", "superset30"), **model_raw)
    loss_raw = dict(raw.get("loss", {}))
    weight_names = {f.name for f in fields(LossWeights)}
    weights = LossWeights(**_checked("loss.weights", loss_raw.pop("weights", {}), weight_names))
    _checked("loss", loss_raw, {f.name for f in fields(LossConfig)} - {"weights"})
    config = replace(config, loss=LossConfig(weights=weights, **loss_raw))
    train = TrainSettings(**_checked("train", raw.get("train", {}), {f.name for f in fields(TrainSettings)}))
    data = _checked("data", raw.get("data", {}), {"sources"})
    sources = []
    for item in data.get("sources", []):
        item = dict(item)
        if "name" not in item or "kind" not in item:
            raise PlantedError(f"each [[data.sources]] needs a name and a kind, got {item}")
        sources.append(SourceSpec(item.pop("name"), item.pop("kind"), float(item.pop("weight", 1.0)), item))
    if not sources:
        raise PlantedError("the config has no [[data.sources]]: add at least one (see training/configs/tiny.toml)")
    return RunConfig(config=config, body_model=body_model, train=train, sources=sources)


def load_run_config(path: str | os.PathLike) -> RunConfig:
    path = pathlib.Path(path)
    if not path.is_file():
        raise PlantedError(f"--config {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise PlantedError(f"--config {path} is not valid TOML: {err}") from None
    return run_config_from_dict(raw)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(raw: dict, prefix: str = "") -> str:
    """TOML text for nested dicts of scalars and lists (lists of dicts become arrays of tables)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in raw.items()
             if not isinstance(v, dict) and not (isinstance(v, list) and v and isinstance(v[0], dict))]
    for key, value in raw.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            lines += ["", f"[{name}]", to_toml(value, name + ".").strip("\n")]
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                lines += ["", f"[[{name}]]", to_toml(item, name + ".").strip("\n")]
    return "\n".join(line for line in lines if line is not None) + "\n"


def write_resolved_config(run: RunConfig, folder: str | os.PathLike) -> pathlib.Path:
    """`folder`/config.toml: every field of the run, written atomically."""
    path = pathlib.Path(folder) / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = run.to_dict()
    raw.pop("body")  # derived from body_model when read back
    with atomic_path(path, what="resolved config") as tmp:
        pathlib.Path(tmp).write_text(to_toml(raw))
    return path
