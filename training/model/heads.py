"""ViTPose's heatmap decoders: the front-view branch of Cross-View Fusion (paper 3.4).

Both map F_out (B, C, 16, 12) to k heatmaps (B, K, 64, 48). Module names follow mmpose's
TopdownHeatmapSimpleHead (`deconv_layers`, `final_layer`) so ViTPose's `keypoint_head.*` weights load.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ClassicHeatmapHead(nn.Module):
    """2 x [ConvTranspose 4x4 stride 2 (no bias) -> BN -> ReLU], then a 1x1 conv to K channels (x4 upsampling)."""

    def __init__(self, in_channels: int, num_keypoints: int, channels: int = 256) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(2):
            layers += [
                nn.ConvTranspose2d(in_channels if i == 0 else channels, channels, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            ]
        self.deconv_layers = nn.Sequential(*layers)
        self.final_layer = nn.Conv2d(channels, num_keypoints, kernel_size=1)
        for module in self.modules():
            if isinstance(module, (nn.ConvTranspose2d, nn.Conv2d)):
                nn.init.normal_(module.weight, std=0.001)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.deconv_layers(features))


class SimpleHeatmapHead(nn.Module):
    """ReLU -> bilinear x4 upsampling (align_corners False) -> 3x3 conv to K channels."""

    def __init__(self, in_channels: int, num_keypoints: int) -> None:
        super().__init__()
        self.final_layer = nn.Conv2d(in_channels, num_keypoints, kernel_size=3, padding=1)
        nn.init.normal_(self.final_layer.weight, std=0.001)
        nn.init.zeros_(self.final_layer.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(F.relu(features), scale_factor=4, mode="bilinear", align_corners=False)
        return self.final_layer(x)


def build_heatmap_head(head_type: str, in_channels: int, num_keypoints: int, channels: int = 256) -> nn.Module:
    """"classic" (PAPER_NOTES choice 1, the default) or "simple"."""
    if head_type == "classic":
        return ClassicHeatmapHead(in_channels, num_keypoints, channels)
    return SimpleHeatmapHead(in_channels, num_keypoints)
