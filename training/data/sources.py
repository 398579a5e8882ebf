"""Every kind of training example by name: what `make_shards --kind` and the training configs refer to.

synthetic / synthetic_held_out: training.data.synthetic (the train and held-out mocap clips; the same seed
gives the same examples). lsp / lspet: the training photos of LSP (im0001-1000) and LSPET
(training.data.real, augmented from the seed). video: the real video frames pseudo-labelled by
`python -m training.data.pseudo_labels` into PSEUDO_LABELS (one labels file per video or recording).
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

from engine.errors import PlantedError

SYNTHETIC_KINDS = {"synthetic": "train", "synthetic_held_out": "held_out"}
PHOTO_KINDS = {"lsp": "lsp_train", "lspet": "lspet_train"}
PSEUDO_LABELS = pathlib.Path(__file__).resolve().parents[2] / ".cache" / "pseudo_labels"


class Concatenated(Sequence):
    """Several Sequences of Examples one after another, at most `count` in all."""

    def __init__(self, parts: list, count: int | None = None) -> None:
        self.parts = parts
        self.ends = [sum(len(p) for p in parts[:k + 1]) for k in range(len(parts))]
        self.count = min(self.ends[-1], count) if count is not None else self.ends[-1]

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int):
        if not 0 <= i < self.count:
            raise IndexError(f"example {i} of {self.count}")
        part = next(k for k, end in enumerate(self.ends) if i < end)
        return self.parts[part][i - (self.ends[part - 1] if part else 0)]


def pseudo_label_files(folder: pathlib.Path = PSEUDO_LABELS) -> list[pathlib.Path]:
    """The labels files of training.data.pseudo_labels in a folder (not training.annotate's files)."""
    import numpy as np

    files = []
    for path in sorted(folder.glob("*.npz")):
        with np.load(path, allow_pickle=False) as data:
            if "frame" in data.files and "keypoints_2d" in data.files:
                files.append(path)
    return files


def make_source(kind: str, count: int, seed: int = 0, body_model_path: str | None = None,
                size: tuple[int, int] = (256, 192)):
    """A Sequence of training.data.example.Example of the named kind, `count` long (real kinds: at most),
    crops of size (height, width) px."""
    from engine.body.active import load_active_body_model

    if kind in SYNTHETIC_KINDS:
        from training.data.synthetic.generator import SyntheticSettings, SyntheticSource

        settings = SyntheticSettings(height=size[0], width=size[1])
        return SyntheticSource(load_active_body_model(body_model_path), SYNTHETIC_KINDS[kind], count, seed, settings)
    if kind in PHOTO_KINDS:
        from training.data.augment import AugmentConfig
        from training.data.real import PhotoExamples

        photos = PhotoExamples(PHOTO_KINDS[kind], size=size, augment=AugmentConfig(), seed=seed)
        return Concatenated([photos], count)
    if kind == "video":
        from training.data.pseudo_examples import PseudoLabelExamples

        files = pseudo_label_files()
        if not files:
            raise PlantedError(f"no pseudo-labels in {PSEUDO_LABELS}: label the videos first with "
                               "python -m training.data.pseudo_labels --videos ... -o "
                               f"{PSEUDO_LABELS}/NAME.npz")
        return Concatenated([PseudoLabelExamples(f, size=size, seed=seed) for f in files], count)
    raise PlantedError(f"unknown kind {kind!r}: choose one of {', '.join(kind_names())}")


def kind_names() -> tuple[str, ...]:
    return (*SYNTHETIC_KINDS, *PHOTO_KINDS, "video")
