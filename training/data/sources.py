"""Every kind of training example by name: what `make_shards --kind` and the training configs refer to.

synthetic / synthetic_held_out: training.data.synthetic (the train and held-out mocap clips; the same seed
gives the same examples). The real kinds come from training.data.real and training.data.pseudo_labels.
"""

from __future__ import annotations

from engine.errors import PlantedError

SYNTHETIC_KINDS = {"synthetic": "train", "synthetic_held_out": "held_out"}


def make_source(kind: str, count: int, seed: int = 0, body_model_path: str | None = None,
                size: tuple[int, int] = (256, 192)):
    """A Sequence of training.data.example.Example of the named kind, `count` long (real kinds: at most),
    crops of size (height, width) px."""
    from engine.body.active import load_active_body_model

    if kind in SYNTHETIC_KINDS:
        from training.data.synthetic.generator import SyntheticSettings, SyntheticSource

        settings = SyntheticSettings(height=size[0], width=size[1])
        return SyntheticSource(load_active_body_model(body_model_path), SYNTHETIC_KINDS[kind], count, seed, settings)
    raise PlantedError(f"unknown kind {kind!r}: choose one of {kind_names()}")


def kind_names() -> tuple[str, ...]:
    return tuple(SYNTHETIC_KINDS)
