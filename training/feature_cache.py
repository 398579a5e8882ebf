"""A frozen hybrid trunk's features for every example of the training sources, computed once before training.

On a CPU the pretrained trunk (BlazePose's or MoveNet's encoder) costs most of a step although it does not
learn (trunk_trainable_stages 0); with [train] cache_trunk_features = true the loop computes its features for
each example of each source once (training.model.trunks.cache.trunk_features), keeps them in memory as
float16, and feeds them instead of the images. Augmentation is then frozen too: each example keeps the
crop it had when it was cached. Memory: C x h x w x 2 bytes an example (BlazePose full's bottleneck,
144 x 8 x 8: 18 KB).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from training.data.example import Example, normalise_images
from training.model.trunks.cache import trunk_features


def source_features(net, source: Sequence[Example], device: torch.device, batch_size: int = 32,
                    progress=None) -> torch.Tensor:
    """(N, C, h, w) float16 on the CPU: the trunk's features of every example of `source`, in order."""
    parts = []
    for start in range(0, len(source), batch_size):
        rows = range(start, min(start + batch_size, len(source)))
        images = normalise_images(np.stack([source[i].image for i in rows])).to(device)
        parts.append(trunk_features(net, images, batch_size).to("cpu", torch.float16))
        if progress is not None:
            progress(len(rows))
    return torch.cat(parts)


def cache_features(net, sources: dict[str, Sequence[Example]], device: torch.device,
                   progress=None) -> dict[str, torch.Tensor]:
    """Each source's features by its name (see source_features)."""
    was_training = net.training
    net.eval()  # the trunk's own layers must not see training-mode behaviour while caching
    try:
        return {name: source_features(net, source, device, progress=progress) for name, source in sources.items()}
    finally:
        net.train(was_training)
