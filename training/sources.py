"""Training data as a stream of Examples: sources mixed by weight, reproducible from a seed and a position.

A source is anything indexable that yields `training.data.example.Example`s (`len` and `[i]`: a list, an
npz shard set, a renderer that makes example i on demand). `ExampleMixer` maps a stream position p to
(source, index) with a generator seeded by (seed, p) alone, so the stream needs no state besides the
position: resuming a run, or giving rank r of W ranks the positions p = step * batch * W + r * batch + j
(`batch_positions`), draws exactly the examples an uninterrupted single run would have drawn in that order.
Each draw picks a source with probability weight / sum(weights), then an example of it uniformly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from engine.errors import PlantedError
from training.data.example import Example


class ExampleSource(Protocol):
    """What the training loop reads: `len(source)` examples, `source[i]` the i-th."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Example: ...


class ExampleMixer:
    """sources: name -> ExampleSource; weights: name -> weight >= 0 (one per source)."""

    def __init__(self, sources: dict[str, Sequence[Example]], weights: dict[str, float], seed: int = 0) -> None:
        if set(weights) != set(sources):
            raise PlantedError(f"data weights name {sorted(weights)} but the sources are {sorted(sources)}: "
                               "give one weight per source in the config's [data] section")
        self.names = sorted(sources)
        values = np.array([float(weights[n]) for n in self.names])
        if (values < 0).any() or not np.isfinite(values).all() or values.sum() <= 0:
            raise PlantedError(f"data weights must be finite, >= 0 and not all 0, got {weights}")
        empty = [n for n in self.names if weights[n] > 0 and len(sources[n]) == 0]
        if empty:
            raise PlantedError(f"data sources {empty} hold no examples but have a weight above 0")
        self.sources = sources
        self.cumulative = np.cumsum(values / values.sum())
        self.seed = int(seed)

    def locate(self, position: int) -> tuple[str, int]:
        """(source name, example index) drawn at stream position `position` (>= 0)."""
        rng = np.random.default_rng([self.seed, int(position)])
        which = min(int(np.searchsorted(self.cumulative, rng.random(), side="right")), len(self.names) - 1)
        name = self.names[which]
        return name, int(rng.integers(len(self.sources[name])))

    def __getitem__(self, position: int) -> Example:
        name, index = self.locate(position)
        return self.sources[name][index]


def batch_positions(step: int, batch_size: int, rank: int = 0, world_size: int = 1) -> range:
    """Stream positions of rank `rank`'s share of global step `step` (each rank takes batch_size examples)."""
    start = (step * world_size + rank) * batch_size
    return range(start, start + batch_size)
