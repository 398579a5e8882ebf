"""FLOPs of one forward pass, counted by torch's FlopCounterMode (2 per multiply-add), attention included.

On the CPU, scaled_dot_product_attention dispatches to an op the counter does not know; it is mapped to
torch's own SDPA formula here so that the count matches a ViT's published figure (ViT-B/16 at 256x192:
34.2 GFLOP for the encoder).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count


def _sdpa_cpu_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def count_flops(module: nn.Module, image: torch.Tensor) -> int:
    """Total FLOPs of `module(image)` on the CPU (divide by the batch for per-image FLOPs)."""
    mapping = {}
    if hasattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu"):
        mapping[torch.ops.aten._scaled_dot_product_flash_attention_for_cpu] = _sdpa_cpu_flops
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        module(image)
    return int(counter.get_total_flops())
