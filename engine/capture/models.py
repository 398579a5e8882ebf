"""Which estimation model file a capture uses.

Order: the explicit path (`--model`), else $PLANTED_MODEL, else the trained default shipped at
engine/assets/planted_default.onnx, else the untrained placeholder that scripts/setup.sh exports to
.cache/models/placeholder-tiny.onnx (scripts/make_placeholder_model.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import ModelFileError

ENV_VAR = "PLANTED_MODEL"
DEFAULT_MODEL_PATH = Path(__file__).resolve().parents[1] / "assets" / "planted_default.onnx"
PLACEHOLDER_MODEL_PATH = Path(__file__).resolve().parents[2] / ".cache" / "models" / "placeholder-tiny.onnx"


def resolve_model_path(explicit: str | os.PathLike | None = None) -> Path:
    """The model file to load (see the module docstring); ModelFileError when there is none."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ModelFileError(f"model file not found: {path}")
        return path
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env)
        if not path.is_file():
            raise ModelFileError(f"{ENV_VAR} points to {path}, which does not exist: fix or unset it")
        return path
    for path in (DEFAULT_MODEL_PATH, PLACEHOLDER_MODEL_PATH):
        if path.is_file():
            return path
    raise ModelFileError(
        "no estimation model: no trained default ships yet and the placeholder is missing; run "
        "scripts/setup.sh (or .venv/bin/python scripts/make_placeholder_model.py), or pass --model PATH"
    )


def untrained_warning(path: Path) -> str:
    """The one line a capture prints when its model was never trained."""
    return (f"{path.name} is an UNTRAINED placeholder model: the motion is noise, only the pipeline is real "
            "(pass --model with a trained model)")
