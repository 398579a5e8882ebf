"""Cross-View Fusion (paper 3.4, Eq. 6): front heatmaps, a query block, cross-view attention, fused feature.

Shapes: F_out (B, C, h, w) from the encoder (h x w = 16 x 12 tokens, N = h*w), heatmaps (B, K, 4h, 4w),
view features (B, N, C), 2D keypoints (B, K, 2). Side/top keypoints are root-centred orthographic
coordinates divided by 1.2 m (training.geometry.orthographic_views). Front keypoints, in crop coordinates,
come two ways (training.model.decoding): `pred_kp2d_front` by argmax + DARK as ViTPose decodes (exported
as kp2d_front, used at inference; no gradient), `pred_kp2d_front_integral` by a min-max normalised
integral regression (softmax with `soft_argmax_beta`), the differentiable one the front-view loss takes.

Choices that are ours (PAPER_NOTES 3.4): the query block is two stride-2 3x3 conv-BN-ReLU layers and a
linear layer to C (Eq. 6's residual needs F_front on F_out's token grid); every "MLP" of Eq. 6 is
Linear-GELU-Linear of width C; attention is single-head with d_K = C; each view has its own weights;
the view keypoint heads reduce each token to 64-d, flatten, and apply a 2-layer MLP to 2K values.
The ablation "front" fuses F_front + Conv3x3(F_out) so that image features still reach the regressor,
as they do through F'_out in the other variants; "three views without CVA" replaces
softmax(QK^T / sqrt(d_K)) V by V.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from training.model.decoding import dark_keypoints, integral_keypoints
from training.model.heads import build_heatmap_head
from training.model.vit import Mlp


class QueryBlock(nn.Module):
    """Front heatmaps (B, K, 4h, 4w) -> F_front (B, N, C) on the encoder's token grid."""

    def __init__(self, num_keypoints: int, channels: int, embed_dim: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(num_keypoints, channels, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )
        self.proj = nn.Linear(channels, embed_dim)

    def forward(self, heatmaps: torch.Tensor) -> torch.Tensor:
        return self.proj(self.convs(heatmaps).flatten(2).transpose(1, 2))


class CrossViewAttention(nn.Module):
    """Eq. 6: F_view = F'_out + MLP(softmax(Q K^T / sqrt(d_K)) V), F'_out = Conv3x3(F_out),
    Q = MLP(F_front), K = MLP(F'_out), V = MLP(F'_out). With `attention` False: F'_out + MLP(V)."""

    def __init__(self, embed_dim: int, attention: bool = True) -> None:
        super().__init__()
        self.attention = attention
        self.conv = nn.Conv2d(embed_dim, embed_dim, 3, padding=1)
        if attention:
            self.query = Mlp(embed_dim, embed_dim)
            self.key = Mlp(embed_dim, embed_dim)
        self.value = Mlp(embed_dim, embed_dim)
        self.out = Mlp(embed_dim, embed_dim)

    def forward(self, f_out: torch.Tensor, f_front: torch.Tensor | None) -> torch.Tensor:
        """f_out (B, C, h, w), f_front (B, N, C) -> F_view (B, N, C)."""
        f_prime = self.conv(f_out).flatten(2).transpose(1, 2)
        values = self.value(f_prime)
        if self.attention:
            # single head: scale 1/sqrt(d_K) with d_K = C, the default of scaled_dot_product_attention
            values = F.scaled_dot_product_attention(self.query(f_front)[:, None], self.key(f_prime)[:, None],
                                                    values[:, None])[:, 0]
        return f_prime + self.out(values)


class ViewKeypointHead(nn.Module):
    """View features (B, N, C) -> 2D keypoints (B, K, 2) "via several linear layers"."""

    def __init__(self, embed_dim: int, num_tokens: int, num_keypoints: int, token_dim: int, hidden: int) -> None:
        super().__init__()
        self.num_keypoints = num_keypoints
        self.reduce = nn.Linear(embed_dim, token_dim)
        self.mlp = nn.Sequential(nn.Linear(num_tokens * token_dim, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, num_keypoints * 2))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.reduce(features).flatten(1)).reshape(-1, self.num_keypoints, 2)


class CrossViewFusion(nn.Module):
    """F_out -> fused feature (B, C) for the decoder, plus the per-view predictions that the losses supervise.

    `views` is one of "none", "front", "front_top", "front_side_top" (paper Table 3).
    """

    def __init__(
        self, embed_dim: int, grid: tuple[int, int], num_keypoints: int, views: str = "front_side_top",
        cross_view_attention: bool = True, head_type: str = "classic", deconv_channels: int = 256,
        query_channels: int = 256, view_token_dim: int = 64, view_hidden_dim: int = 256,
        image_size: tuple[int, int] = (256, 192), soft_argmax_beta: float = 20.0,
    ) -> None:
        super().__init__()
        self.views = views
        self.image_size = image_size
        self.soft_argmax_beta = soft_argmax_beta
        if views == "none":
            return
        num_tokens = grid[0] * grid[1]
        self.front_head = build_heatmap_head(head_type, embed_dim, num_keypoints, deconv_channels)
        self.query_block = QueryBlock(num_keypoints, query_channels, embed_dim)
        if views == "front":
            self.front_conv = nn.Conv2d(embed_dim, embed_dim, 3, padding=1)
        if views == "front_side_top":
            self.side = CrossViewAttention(embed_dim, cross_view_attention)
            self.side_keypoints = ViewKeypointHead(embed_dim, num_tokens, num_keypoints, view_token_dim,
                                                   view_hidden_dim)
        if views in ("front_top", "front_side_top"):
            self.top = CrossViewAttention(embed_dim, cross_view_attention)
            self.top_keypoints = ViewKeypointHead(embed_dim, num_tokens, num_keypoints, view_token_dim,
                                                  view_hidden_dim)

    def forward(self, f_out: torch.Tensor) -> dict[str, torch.Tensor]:
        """f_out (B, C, h, w) -> {"feature" (B, C), "pred_heatmaps" (B, K, 4h, 4w), "pred_kp2d_front"/side/top
        (B, K, 2), "pred_kp2d_front_integral" (B, K, 2)}."""
        if self.views == "none":
            return {"feature": f_out.mean(dim=(2, 3))}
        heatmaps = self.front_head(f_out)
        f_front = self.query_block(heatmaps)
        height, width = self.image_size
        out = {
            "pred_heatmaps": heatmaps,
            "pred_kp2d_front": dark_keypoints(heatmaps.detach(), height, width),
            "pred_kp2d_front_integral": integral_keypoints(heatmaps, height, width, self.soft_argmax_beta),
        }
        fused = f_front
        if self.views == "front":
            fused = fused + self.front_conv(f_out).flatten(2).transpose(1, 2)
        if self.views == "front_side_top":
            f_side = self.side(f_out, f_front)
            out["pred_kp2d_side"] = self.side_keypoints(f_side)
            fused = fused + f_side
        if self.views in ("front_top", "front_side_top"):
            f_top = self.top(f_out, f_front)
            out["pred_kp2d_top"] = self.top_keypoints(f_top)
            fused = fused + f_top
        # global average pooling: the decoder takes one vector, as MAED's KTD (PAPER_NOTES choice 6)
        out["feature"] = fused.mean(dim=1)
        return out
