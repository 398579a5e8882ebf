"""Which body model is active: the user's (`--body-model PATH` or PLANTED_BODY_MODEL) or the free one.

The free model ships at engine/assets/free_body_model.npz. Loaded models are cached by path and
modification time, so a file rewritten in place (e.g. by `planted body import`) is read again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from engine.body.model import BodyModel, load_body_model
from engine.errors import BodyModelError

FREE_BODY_MODEL_PATH = Path(__file__).resolve().parents[1] / "assets" / "free_body_model.npz"
ENV_VAR = "PLANTED_BODY_MODEL"

BodyModelSource = Literal["--body-model", "PLANTED_BODY_MODEL", "free"]

_cache: dict[tuple[str, int, int], BodyModel] = {}


@dataclass(frozen=True)
class BodyModelChoice:
    """The body model file to use and why: given on the command line, by the environment, or the free one."""

    path: Path
    source: BodyModelSource

    @property
    def is_free(self) -> bool:
        return self.path.resolve() == FREE_BODY_MODEL_PATH


def resolve_body_model(path: str | os.PathLike | None = None) -> BodyModelChoice:
    """The active body model file: `path` (the --body-model argument), else $PLANTED_BODY_MODEL, else the free one."""
    if path:
        return BodyModelChoice(Path(path).expanduser(), "--body-model")
    from_env = os.environ.get(ENV_VAR, "").strip()
    if from_env:
        return BodyModelChoice(Path(from_env).expanduser(), "PLANTED_BODY_MODEL")
    return BodyModelChoice(FREE_BODY_MODEL_PATH, "free")


def load_active_body_model(path: str | os.PathLike | None = None) -> BodyModel:
    """Load (or reuse) the active body model; BodyModelError names the file and says what to do."""
    choice = resolve_body_model(path)
    try:
        stat = choice.path.stat()
    except OSError:
        raise BodyModelError(_missing_message(choice)) from None
    key = (str(choice.path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _cache:
        model = load_body_model(choice.path)
        _cache.clear()  # one active model at a time: don't keep stale copies of large arrays
        _cache[key] = model
    return _cache[key]


def describe_active_body_model(path: str | os.PathLike | None = None) -> str:
    """One line for `planted info`: which file, its id and vertex count, free or the user's, or what is wrong."""
    choice = resolve_body_model(path)
    kind = "free model" if choice.is_free else f"user's (from {choice.source})"
    if not choice.path.is_file():
        hint = "rebuild it with scripts/build_free_body_model.py or pass --body-model PATH" if choice.is_free else (
            "check the path")
        return f"missing: {kind} {choice.path} ({hint})"
    try:
        model = load_active_body_model(path)
    except BodyModelError as err:
        return f"unusable: {kind}: {err}"
    return f"{kind}: {choice.path} (id {model.model_id}, {model.num_vertices} vertices, {model.gender})"


def _missing_message(choice: BodyModelChoice) -> str:
    if choice.source == "free":
        return (
            f"the free body model {choice.path} is missing: reinstall Planted, or rebuild it with "
            "scripts/build_free_body_model.py, or pass --body-model PATH"
        )
    return f"body model file not found: {choice.path} (given by {choice.source})"
