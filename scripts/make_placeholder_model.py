"""Export the untrained placeholder estimation model that `planted capture` uses until a trained one ships.

Writes .cache/models/placeholder-tiny.onnx (gitignored): a tiny network, randomly initialised with a
fixed seed, exported through training.export with 'trained': false in its metadata, for the active
body model (the free one unless --body-model or PLANTED_BODY_MODEL says otherwise). Its outputs are
noise; it exists so that the whole pipeline runs and is tested on a fresh clone. scripts/setup.sh
runs this; it takes seconds.

    .venv/bin/python scripts/make_placeholder_model.py [-o PATH] [--force]
"""

from __future__ import annotations

import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from engine.body.active import resolve_body_model
    from engine.capture.models import PLACEHOLDER_MODEL_PATH
    from engine.errors import PlantedError
    from training.export import export_random_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", default=str(PLACEHOLDER_MODEL_PATH), help="where to write the .onnx")
    parser.add_argument("--body-model", default=None, help="body model .npz (default: the active one)")
    parser.add_argument("--force", action="store_true", help="export again even if the file exists")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.output)
    try:
        body = resolve_body_model(args.body_model)
        if out.is_file() and not args.force and _fits(out, body.path):
            print(f"placeholder model already at {out}, made for this body model (--force to export again)")
            return 0
        out.parent.mkdir(parents=True, exist_ok=True)
        export_random_model(out, size="tiny", body_model_path=body.path, seed=0)
    except PlantedError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote the untrained placeholder model {out} (body model {body.path.name})")
    return 0


def _fits(model_path: pathlib.Path, body_model_path: pathlib.Path) -> bool:
    """Whether an existing model file was made for this body model (the engine's own check)."""
    from engine.body.model import load_body_model
    from engine.capture.infer import PoseEstimator
    from engine.errors import ModelFileError

    try:
        PoseEstimator(model_path, load_body_model(body_model_path), device="cpu")
        return True
    except ModelFileError:
        return False


if __name__ == "__main__":
    sys.exit(main())
