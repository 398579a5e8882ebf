"""Sampling several datasets by weight, reproducibly from a seed (as SPIN/VIBE mix H36M, 3DPW, COCO, ...).

Each draw first picks a dataset with probability weight / sum(weights), then a sample of it uniformly, so a
dataset's share of the stream follows its weight whatever its size. The same seed gives the same stream.
LSP's test split is refused: it is the benchmark, never training data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from engine.errors import PlantedError
from training.data.sample import Sample


class DatasetMixer:
    """datasets: name -> a sequence of Samples (e.g. a SampleSet); weights: name -> weight >= 0."""

    def __init__(self, datasets: dict[str, Sequence[Sample]], weights: dict[str, float], seed: int = 0) -> None:
        if set(weights) != set(datasets):
            raise PlantedError(f"weights name {sorted(weights)} but the datasets are {sorted(datasets)}: "
                               "give one weight per dataset")
        self.names = sorted(datasets)
        values = np.array([float(weights[n]) for n in self.names])
        if (values < 0).any() or not np.isfinite(values).all() or values.sum() <= 0:
            raise PlantedError(f"dataset weights must be finite, >= 0 and not all 0, got {weights}")
        test_sets = [n for n in self.names if getattr(datasets[n], "dataset", "") == "lsp:lsp_test" and weights[n] > 0]
        if test_sets:
            raise PlantedError(f"{test_sets} is LSP's test split (im1001-2000): it measures the model and never "
                               "trains it; use lsp_train or lspet_train")
        empty = [n for n in self.names if weights[n] > 0 and len(datasets[n]) == 0]
        if empty:
            raise PlantedError(f"datasets {empty} hold no samples but have a weight above 0")
        self.datasets = datasets
        self.probabilities = values / values.sum()
        self.rng = np.random.default_rng(seed)

    def draw_indices(self, count: int) -> list[tuple[str, int]]:
        """(dataset name, sample index) of the next `count` draws."""
        which = self.rng.choice(len(self.names), size=count, p=self.probabilities)
        out = []
        for d in which:
            name = self.names[d]
            out.append((name, int(self.rng.integers(len(self.datasets[name])))))
        return out

    def draw(self, count: int) -> list[Sample]:
        return [self.datasets[name][i] for name, i in self.draw_indices(count)]

    def __iter__(self) -> Iterator[Sample]:
        while True:
            yield from self.draw(256)
