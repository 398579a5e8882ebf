"""A frozen hybrid trunk's features, computed once per crop so that CPU training spends its steps on the
layers that learn (the projection, the ViT layers, CVF and RKTD).

`trunk_features(net, images)` runs only the trunk under torch.no_grad; `net(features=...)` then gives
what `net(image)` gives. Valid while the trunk stays frozen (trunk_trainable_stages 0): with trainable
stages the cached features would go stale after the first step, so that is refused.
"""

from __future__ import annotations

import torch

from engine.errors import PlantedError


def _frozen_trunk(net) -> torch.nn.Module:
    trunk = getattr(net, "trunk", None)
    if trunk is None:
        raise PlantedError("trunk features exist only for backbone='hybrid' networks")
    if any(p.requires_grad for p in trunk.parameters()):
        raise PlantedError("the trunk has trainable stages (trunk_trainable_stages > 0): cached features would go "
                           "stale as it trains; cache only with a frozen trunk (trunk_trainable_stages 0)")
    return trunk


def trunk_features(net, images: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """images (N, 3, H, W) ImageNet-normalised crops -> the frozen trunk's features (N, C_trunk, h, w) float32,
    in chunks of `batch_size`, on the images' device."""
    trunk = _frozen_trunk(net)
    with torch.no_grad():
        parts = [trunk(images[start:start + batch_size]) for start in range(0, len(images), batch_size)]
    return torch.cat(parts) if parts else images.new_zeros((0,))
