"""Every kind of training example by name: one registry for the training configs and `make_shards --kind`.

A training config's [[data.sources]] names a `kind` of SOURCE_KINDS and its options:
- `synthetic`: renders made on the fly (training.data.synthetic): split train or held_out, count, seed (the
  same seed gives the same examples);
- `shards`: npz shard files (training.data.shards): paths (files or glob patterns), count;
- `photos`: real photographs with 2D labels (training.data.real): split lsp_train, lspet_train, ...; augment,
  seed, count;
- `pseudo_labels`: real video frames labelled by `python -m training.data.pseudo_labels` (path: one file or a
  list); augment, seed, count;
- `toy_discs`: the toy disc set (training.toy_discs), for smoke tests: count, seed.
`make_shards --kind` takes the short names of SHARD_KINDS, each a kind of the registry with fixed options
(`video` is every labels file in PSEUDO_LABELS).
"""

from __future__ import annotations

import glob
import pathlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.errors import PlantedError

PSEUDO_LABELS = pathlib.Path(__file__).resolve().parents[2] / ".cache" / "pseudo_labels"


@dataclass(frozen=True, eq=False)
class SourceContext:
    """What every source is built for: the model's crop size (height, width) px, the body model file, the
    network's contact vertex ids, and the training body (training.body.BodyModel; toy discs are posed by it)."""

    image_size: tuple[int, int]
    body_model_path: str | None = None
    contact_vertex_ids: tuple[int, ...] = ()
    training_body: object | None = None

    @classmethod
    def of_run(cls, run, training_body=None) -> "SourceContext":
        model = run.config.model
        return cls((model.image_height, model.image_width), run.body_model, tuple(run.config.body.contact_vertex_ids),
                   training_body)


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


def _first(source: Sequence, count) -> Sequence:
    """The first `count` examples of a source (all of them when count is absent or larger)."""
    return Concatenated([source], None if count is None else int(count))


def _options(kind: str, options: dict, allowed: set[str]) -> dict:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise PlantedError(f"unknown keys {unknown} for a {kind} source: it takes {', '.join(sorted(allowed))}")
    return options


def _augment(options: dict):
    from training.data.augment import AugmentConfig

    return AugmentConfig() if options.get("augment", True) else None


def _synthetic(options: dict, context: SourceContext) -> Sequence:
    from engine.body.active import load_active_body_model
    from training.data.synthetic.generator import SyntheticSettings, SyntheticSource

    options = _options("synthetic", options, {"split", "count", "seed"})
    settings = SyntheticSettings(height=context.image_size[0], width=context.image_size[1])
    return SyntheticSource(load_active_body_model(context.body_model_path), options.get("split", "train"),
                           int(options.get("count", 10000)), int(options.get("seed", 0)), settings)


def _shards(options: dict, context: SourceContext) -> Sequence:
    """Paths are files or glob patterns relative to the working folder; their crops must be the model's size."""
    from training.data.shards import ShardDataset

    options = _options("shards", options, {"paths", "count"})
    patterns = options.get("paths") or []
    paths = sorted({p for pattern in ([patterns] if isinstance(patterns, str) else patterns)
                    for p in glob.glob(str(pattern))})
    if not paths:
        raise PlantedError(f"a shards source matched no files with paths = {patterns!r}: write shards with "
                           "python -m training.data.make_shards, or fix the paths")
    source = ShardDataset(paths)
    size = source[0].image.shape[:2]
    if size != context.image_size:
        raise PlantedError(f"shards {paths[0]} hold {size[0]}x{size[1]} crops, the model takes "
                           f"{context.image_size[0]}x{context.image_size[1]}: write shards at the model's size")
    return _first(source, options.get("count"))


def _photos(options: dict, context: SourceContext) -> Sequence:
    from training.data.real import PhotoExamples

    options = _options("photos", options, {"split", "augment", "seed", "count"})
    source = PhotoExamples(options.get("split", "lsp_train"), size=context.image_size, augment=_augment(options),
                           seed=int(options.get("seed", 0)))
    return _first(source, options.get("count"))


def _pseudo_labels(options: dict, context: SourceContext) -> Sequence:
    from training.data.pseudo_examples import PseudoLabelExamples

    options = _options("pseudo_labels", options, {"path", "augment", "seed", "count"})
    if "path" not in options:
        raise PlantedError("a pseudo_labels source needs path = the labels file(s) that "
                           "python -m training.data.pseudo_labels writes")
    paths = [options["path"]] if isinstance(options["path"], str) else list(options["path"])
    parts = [PseudoLabelExamples(p, size=context.image_size, augment=_augment(options),
                                 seed=int(options.get("seed", 0))) for p in paths]
    return Concatenated(parts, options.get("count"))


def _toy_discs(options: dict, context: SourceContext) -> Sequence:
    from training.toy_discs import toy_disc_examples

    options = _options("toy_discs", options, {"count", "seed"})
    if context.training_body is None:
        raise PlantedError("toy_discs sources are for training runs (they need the run's body)")
    return toy_disc_examples(context.training_body, int(options.get("count", 1024)), int(options.get("seed", 0)),
                             context.image_size, list(context.contact_vertex_ids))


SOURCE_KINDS: dict[str, Callable[[dict, SourceContext], Sequence]] = {
    "synthetic": _synthetic, "shards": _shards, "photos": _photos, "pseudo_labels": _pseudo_labels,
    "toy_discs": _toy_discs,
}


def pseudo_label_files(folder: pathlib.Path = PSEUDO_LABELS) -> list[pathlib.Path]:
    """The labels files of training.data.pseudo_labels in a folder (not training.annotate's files)."""
    import numpy as np

    files = []
    for path in sorted(folder.glob("*.npz")):
        with np.load(path, allow_pickle=False) as data:
            if "frame" in data.files and "keypoints_2d" in data.files:
                files.append(path)
    return files


# make_shards' short names: (registry kind, options).
SHARD_KINDS: dict[str, tuple[str, dict]] = {
    "synthetic": ("synthetic", {"split": "train"}),
    "synthetic_held_out": ("synthetic", {"split": "held_out"}),
    "lsp": ("photos", {"split": "lsp_train"}),
    "lspet": ("photos", {"split": "lspet_train"}),
    "video": ("pseudo_labels", {"augment": False}),
}


def make_source(kind: str, count: int, seed: int = 0, body_model_path: str | None = None,
                size: tuple[int, int] = (256, 192)) -> Sequence:
    """The Sequence of Examples of a SHARD_KINDS name, `count` long (real kinds: at most), crops of size
    (height, width) px."""
    if kind not in SHARD_KINDS:
        raise PlantedError(f"unknown kind {kind!r}: choose one of {', '.join(kind_names())}")
    registry_kind, options = SHARD_KINDS[kind]
    options = {**options, "count": count, "seed": seed}
    if registry_kind == "pseudo_labels":
        files = pseudo_label_files()
        if not files:
            raise PlantedError(f"no pseudo-labels in {PSEUDO_LABELS}: label the videos first with "
                               "python -m training.data.pseudo_labels --videos ... -o "
                               f"{PSEUDO_LABELS}/NAME.npz")
        options["path"] = [str(f) for f in files]
    return SOURCE_KINDS[registry_kind](options, SourceContext(size, body_model_path))


def kind_names() -> tuple[str, ...]:
    return tuple(SHARD_KINDS)
