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


SOURCE_KINDS: dict[str, Callable[[dict, BodyModel, RunConfig], Sequence[Example]]] = {"toy_discs": _toy_discs}


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
                 world_size: int = 1, total_steps: int = 0) -> None:
        self.mixer, self.batch_size, self.keypoint_names = mixer, batch_size, list(keypoint_names)
        self.rank, self.world_size, self.total_steps = rank, world_size, total_steps

    def __len__(self) -> int:
        return self.total_steps

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        positions = batch_positions(step, self.batch_size, self.rank, self.world_size)
        return examples_to_batch([self.mixer[p] for p in positions], self.keypoint_names)


def step_loader(batches: StepBatches, start: int, stop: int, num_workers: int) -> torch.utils.data.DataLoader:
    """Batches of steps start .. stop - 1 in order (batch_size=None: each item is already a batch).

    The loader gets its own generator: by default it draws a worker seed from torch's global one when it
    starts, which would shift the dropout masks of a resumed run against an uninterrupted one."""
    return torch.utils.data.DataLoader(batches, batch_size=None, sampler=range(start, stop),
                                       num_workers=num_workers, persistent_workers=False,
                                       pin_memory=torch.cuda.is_available(),
                                       generator=torch.Generator().manual_seed(start))
