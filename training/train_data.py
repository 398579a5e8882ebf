"""The training loop's data: sources built from the config's [[data.sources]], mixed, cut into step batches.

`SOURCE_KINDS` maps a source kind to a builder `(options, body, run) -> Sequence[Example]`; new kinds
(npz shards, the synthetic renderer) register here. `StepBatches` is a map-style dataset whose item `step`
is this rank's batch of global step `step`, so a torch DataLoader over `range(start, steps)` with any
number of workers yields the same batches in the same order, and resuming at step s needs only s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from engine.errors import PlantedError
from training.body import BodyModel
from training.data.example import Example, examples_to_batch
from training.run_config import RunConfig
from training.sources import ExampleMixer, batch_positions
from training.toy_discs import toy_disc_examples


def _toy_discs(options: dict, body: BodyModel, run: RunConfig) -> Sequence[Example]:
    unknown = sorted(set(options) - {"count", "seed"})
    if unknown:
        raise PlantedError(f"unknown keys {unknown} for a toy_discs source: it takes count and seed")
    model = run.config.model
    return toy_disc_examples(body, int(options.get("count", 1024)), int(options.get("seed", 0)),
                             (model.image_height, model.image_width), run.config.body.contact_vertex_ids)


def _options(kind: str, options: dict, allowed: set[str]) -> dict:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise PlantedError(f"unknown keys {unknown} for a {kind} source: it takes {', '.join(sorted(allowed))}")
    return options


def _first(source: Sequence[Example], count) -> Sequence[Example]:
    """The first `count` examples of a source (all of them when count is absent or larger)."""
    from training.data.sources import Concatenated

    return Concatenated([source], None if count is None else int(count))


def _shards(options: dict, body: BodyModel, run: RunConfig) -> Sequence[Example]:
    """Shard files (training.data.shards): `paths`, a list of files or glob patterns, relative to the working
    folder; their crops must be the model's input size."""
    import glob

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
    model = run.config.model
    if size != (model.image_height, model.image_width):
        raise PlantedError(f"shards {paths[0]} hold {size[0]}x{size[1]} crops, the model takes "
                           f"{model.image_height}x{model.image_width}: write shards at the model's size")
    return _first(source, options.get("count"))


def _synthetic(options: dict, body: BodyModel, run: RunConfig) -> Sequence[Example]:
    """Synthetic renders made on the fly (training.data.synthetic): split train or held_out, count, seed."""
    from engine.body.model import load_body_model
    from training.data.synthetic.generator import SyntheticSettings, SyntheticSource

    options = _options("synthetic", options, {"split", "count", "seed"})
    model = run.config.model
    settings = SyntheticSettings(height=model.image_height, width=model.image_width)
    return SyntheticSource(load_body_model(run.body_model), options.get("split", "train"),
                           int(options.get("count", 10000)), int(options.get("seed", 0)), settings)


def _photos(options: dict, body: BodyModel, run: RunConfig) -> Sequence[Example]:
    """Real photographs with 2D labels (training.data.real): split lsp_train, lspet_train, ...; augment."""
    from training.data.augment import AugmentConfig
    from training.data.real import PhotoExamples

    options = _options("photos", options, {"split", "augment", "seed", "count"})
    model = run.config.model
    source = PhotoExamples(options.get("split", "lsp_train"), size=(model.image_height, model.image_width),
                           augment=AugmentConfig() if options.get("augment", True) else None,
                           seed=int(options.get("seed", 0)))
    return _first(source, options.get("count"))


def _pseudo_labels(options: dict, body: BodyModel, run: RunConfig) -> Sequence[Example]:
    """Real video frames with pseudo-labels (training.data.pseudo_labels' files): path, one file or a list;
    augment, seed, count."""
    from training.data.augment import AugmentConfig
    from training.data.pseudo_examples import PseudoLabelExamples
    from training.data.sources import Concatenated

    options = _options("pseudo_labels", options, {"path", "augment", "seed", "count"})
    if "path" not in options:
        raise PlantedError("a pseudo_labels source needs path = the labels file(s) that "
                           "python -m training.data.pseudo_labels writes")
    paths = [options["path"]] if isinstance(options["path"], str) else list(options["path"])
    model = run.config.model
    augment = AugmentConfig() if options.get("augment", True) else None
    parts = [PseudoLabelExamples(p, size=(model.image_height, model.image_width), augment=augment,
                                 seed=int(options.get("seed", 0))) for p in paths]
    return Concatenated(parts, options.get("count"))


SOURCE_KINDS: dict[str, Callable[[dict, BodyModel, RunConfig], Sequence[Example]]] = {
    "toy_discs": _toy_discs, "shards": _shards, "synthetic": _synthetic, "photos": _photos,
    "pseudo_labels": _pseudo_labels,
}


def build_mixer(run: RunConfig, body: BodyModel) -> ExampleMixer:
    sources, weights = {}, {}
    for spec in run.sources:
        if spec.kind not in SOURCE_KINDS:
            raise PlantedError(f"data source {spec.name!r} has kind {spec.kind!r}: known kinds are "
                               f"{sorted(SOURCE_KINDS)}")
        if spec.name in sources:
            raise PlantedError(f"two data sources are named {spec.name!r}: give each its own name")
        sources[spec.name] = SOURCE_KINDS[spec.kind](spec.options, body, run)
        weights[spec.name] = spec.weight
    return ExampleMixer(sources, weights, seed=run.train.seed)


class StepBatches(torch.utils.data.Dataset):
    """Item `step`: the batch dict (training.data.example.examples_to_batch) of this rank at that step."""

    def __init__(self, mixer: ExampleMixer, batch_size: int, keypoint_names: Sequence[str], rank: int = 0,
                 world_size: int = 1, total_steps: int = 0, features: dict[str, torch.Tensor] | None = None) -> None:
        self.mixer, self.batch_size, self.keypoint_names = mixer, batch_size, list(keypoint_names)
        self.rank, self.world_size, self.total_steps = rank, world_size, total_steps
        self.features = features  # source name -> (N, C, h, w) cached trunk features (training.feature_cache)

    def __len__(self) -> int:
        return self.total_steps

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        positions = batch_positions(step, self.batch_size, self.rank, self.world_size)
        if self.features is None:
            return examples_to_batch([self.mixer[p] for p in positions], self.keypoint_names)
        drawn = [self.mixer.locate(p) for p in positions]
        batch = examples_to_batch([self.mixer.sources[name][i] for name, i in drawn], self.keypoint_names)
        del batch["image"]  # the cached features stand in for it
        batch["features"] = torch.stack([self.features[name][i] for name, i in drawn]).float()
        return batch


def step_loader(batches: StepBatches, start: int, stop: int, num_workers: int) -> torch.utils.data.DataLoader:
    """Batches of steps start .. stop - 1 in order (batch_size=None: each item is already a batch).

    The loader gets its own generator: by default it draws a worker seed from torch's global one when it
    starts, which would shift the dropout masks of a resumed run against an uninterrupted one."""
    return torch.utils.data.DataLoader(batches, batch_size=None, sampler=range(start, stop),
                                       num_workers=num_workers, persistent_workers=False,
                                       pin_memory=torch.cuda.is_available(),
                                       generator=torch.Generator().manual_seed(start))
