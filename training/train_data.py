"""The training loop's data: sources built from the config's [[data.sources]], mixed, cut into step batches.

The sources are built by training.data.sources (SOURCE_KINDS, the one registry of kinds). `StepBatches` is a
map-style dataset whose item `step` is this rank's batch of global step `step`, so a torch DataLoader over
`range(start, steps)` with any number of workers yields the same batches in the same order, and resuming at
step s needs only s.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from engine.errors import PlantedError
from training.body import BodyModel
from training.data.example import examples_to_batch
from training.data.sources import SOURCE_KINDS, SourceContext
from training.run_config import RunConfig
from training.sources import ExampleMixer, batch_positions


def build_mixer(run: RunConfig, body: BodyModel) -> ExampleMixer:
    """The config's [[data.sources]] (training.data.sources.SOURCE_KINDS), mixed by weight."""
    context = SourceContext.of_run(run, body)
    sources, weights = {}, {}
    for spec in run.sources:
        if spec.kind not in SOURCE_KINDS:
            raise PlantedError(f"data source {spec.name!r} has kind {spec.kind!r}: known kinds are "
                               f"{sorted(SOURCE_KINDS)}")
        if spec.name in sources:
            raise PlantedError(f"two data sources are named {spec.name!r}: give each its own name")
        sources[spec.name] = SOURCE_KINDS[spec.kind](spec.options, context)
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
