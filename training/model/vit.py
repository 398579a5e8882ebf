"""ViT encoder (paper 3.3, Eq. 5) in ViTPose's layout, and a loader for ViTPose / MAE checkpoints.

Module names match ViTPose's backbone (patch_embed.proj, pos_embed, blocks.i.{norm1, attn.qkv, attn.proj,
norm2, mlp.fc1, mlp.fc2}, last_norm), so a ViTPose state dict maps by stripping its `backbone.` prefix.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import PlantedError

logger = logging.getLogger(__name__)


class DropPath(nn.Module):
    """Stochastic depth: drops the whole residual branch per sample while training."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Mlp(nn.Module):
    """Linear -> GELU -> Linear (the transformer FFN, also the MLPs of Eq. 6)."""

    def __init__(self, in_features: int, hidden_features: int, out_features: int | None = None) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, out_features or in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    """Multi-head self-attention over tokens (B, N, C) with torch's scaled_dot_product_attention."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, dim // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class Block(nn.Module):
    """Pre-norm transformer layer, Eq. 5: F' = F + MHSA(LN(F)); F = F' + FFN(LN(F'))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool, drop_path: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    """Conv patch embedding: kernel = stride = patch_size, ViTPose's padding 2 (256x192 -> 16x12 tokens)."""

    def __init__(self, patch_size: int, padding: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class HybridEmbed(nn.Module):
    """The ViT paper's hybrid stem: a convolutional trunk, then a patch_size x patch_size conv (stride
    patch_size; 1 = the paper's 1x1 projection) from its channels to the embedding width.

    image (B, 3, H, W) -> trunk feature (B, C_trunk, H / stride, W / stride) -> (B, C, h, w), with
    (h, w) = `grid`, measured by running the trunk once on a blank image of the network's size.
    """

    def __init__(self, trunk: nn.Module, trunk_channels: int, embed_dim: int, image_height: int, image_width: int,
                 patch_size: int = 1) -> None:
        super().__init__()
        self.trunk = trunk
        self.proj = nn.Conv2d(trunk_channels, embed_dim, kernel_size=patch_size, stride=patch_size)
        with torch.no_grad():
            feature = trunk(torch.zeros(1, 3, image_height, image_width))
        if feature.shape[1] != trunk_channels:
            raise PlantedError(f"trunk gives {feature.shape[1]} channels, the stem expects {trunk_channels}")
        self.feature_shape = tuple(feature.shape[1:])
        self.grid = (feature.shape[2] // patch_size, feature.shape[3] // patch_size)

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """Trunk features (B, C_trunk, h', w') (computed or cached) -> (B, C, h, w)."""
        return self.proj(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.trunk(x))


def token_grid(image_height: int, image_width: int, patch_size: int, padding: int) -> tuple[int, int]:
    """(h, w) of the token grid for an image of that size."""
    return (
        (image_height + 2 * padding - patch_size) // patch_size + 1,
        (image_width + 2 * padding - patch_size) // patch_size + 1,
    )


class VisionTransformer(nn.Module):
    """ViTPose's plain ViT: image (B, 3, H, W) normalised -> F_out (B, C, H/16, W/16).

    The position embedding has one extra slot (MAE's class-token slot) that is added to every token as
    a shared bias, as ViTPose does; no class token is used. `patch_embed` replaces the 16-px patch
    embedding with another stem (e.g. `HybridEmbed`) that has a `grid` (h, w) and, for cached trunk
    features, a `project(features)`; the token grid is then the stem's.
    """

    def __init__(
        self, embed_dim: int, depth: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True,
        drop_path_rate: float = 0.0, patch_size: int = 16, patch_padding: int = 2,
        image_height: int = 256, image_width: int = 192, patch_embed: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if patch_embed is None:
            self.grid = token_grid(image_height, image_width, patch_size, patch_padding)
            self.patch_embed = PatchEmbed(patch_size, patch_padding, embed_dim)
        else:
            self.grid = tuple(patch_embed.grid)
            self.patch_embed = patch_embed
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid[0] * self.grid[1] + 1, embed_dim))
        rates = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]  # rising linearly, as ViTPose
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio, qkv_bias, r) for r in rates)
        self.last_norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def forward_tokens(self, image: torch.Tensor | None = None, features: torch.Tensor | None = None) -> torch.Tensor:
        """image (B, 3, H, W), or a hybrid stem's trunk features -> tokens (B, h*w, C), row-major over the grid."""
        if features is not None:
            if not hasattr(self.patch_embed, "project"):
                raise PlantedError("precomputed features need a hybrid backbone (this encoder embeds image patches)")
            x = self.patch_embed.project(features)
        elif image is not None:
            x = self.patch_embed(image)
        else:
            raise PlantedError("the encoder needs an image or precomputed trunk features")
        x = x.flatten(2).transpose(1, 2)
        x = x + self.pos_embed[:, 1:] + self.pos_embed[:, :1]
        for block in self.blocks:
            x = block(x)
        return self.last_norm(x)

    def forward(self, image: torch.Tensor | None = None, features: torch.Tensor | None = None) -> torch.Tensor:
        tokens = self.forward_tokens(image, features)
        return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], self.grid[0], self.grid[1])


def resize_pos_embed(pos_embed: torch.Tensor, grid: tuple[int, int], source_grid: tuple[int, int] | None = None):
    """Resize a (1, 1 + n, C) position embedding to (1, 1 + h*w, C) bicubically, keeping the extra slot.

    `source_grid` defaults to a square grid (MAE's 14x14), as ViTPose's loader assumes.
    """
    extra, tokens = pos_embed[:, :1], pos_embed[:, 1:]
    count = tokens.shape[1]
    if source_grid is None:
        side = int(round(count**0.5))
        if side * side != count:
            raise PlantedError(
                f"position embedding has {count} patch slots, which is not a square grid: pass source_grid"
            )
        source_grid = (side, side)
    if tuple(source_grid) == tuple(grid):
        return pos_embed
    channels = tokens.shape[-1]
    image = tokens.reshape(1, source_grid[0], source_grid[1], channels).permute(0, 3, 1, 2)
    resized = F.interpolate(image.float(), size=grid, mode="bicubic", align_corners=False).to(pos_embed.dtype)
    return torch.cat([extra, resized.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], channels)], dim=1)


# Keys of a MAE / ViTPose checkpoint that have no counterpart in our encoder.
_IGNORED_PREFIXES = ("cls_token", "mask_token", "decoder", "head.", "fc_norm", "keypoint_head")


def vitpose_state_dict_to_encoder(state_dict: dict, encoder: VisionTransformer) -> dict:
    """Map a ViTPose (`backbone.*`) or MAE (bare keys, `norm.*`) state dict onto `encoder`'s keys.

    Strips `module.`/`backbone.`/`encoder.` prefixes, maps MAE's final `norm` onto `last_norm` (our choice:
    it is the same final LayerNorm), drops the class/mask tokens and MAE's decoder, and resizes the
    position embedding to the encoder's grid bicubically (extra slot kept).
    """
    if "state_dict" in state_dict:
        state_dict = state_dict["state_dict"]
    elif "model" in state_dict and isinstance(state_dict["model"], dict):
        state_dict = state_dict["model"]
    mapped = {}
    for key, value in state_dict.items():
        for prefix in ("module.", "backbone.", "encoder."):
            if key.startswith(prefix):
                key = key[len(prefix):]
        if key.startswith(_IGNORED_PREFIXES):
            continue
        if key.startswith("norm."):
            key = "last_norm." + key[len("norm."):]
        mapped[key] = value
    if "pos_embed" in mapped:
        pos = mapped["pos_embed"]
        slots = pos.shape[1] - 1
        ours = encoder.grid[0] * encoder.grid[1]
        mapped["pos_embed"] = resize_pos_embed(pos, encoder.grid, encoder.grid if slots == ours else None)
    return mapped


def load_vitpose_weights(encoder: VisionTransformer, state_dict: dict, strict: bool = True) -> list[str]:
    """Load a ViTPose / MAE checkpoint into `encoder`; returns the encoder keys the checkpoint lacked.

    Raises PlantedError when shapes disagree (a checkpoint of another width or depth).
    """
    mapped = vitpose_state_dict_to_encoder(state_dict, encoder)
    own = encoder.state_dict()
    wrong = [f"{k}: {tuple(v.shape)} vs ours {tuple(own[k].shape)}" for k, v in mapped.items()
             if k in own and v.shape != own[k].shape]
    if wrong:
        raise PlantedError("checkpoint does not fit this encoder size: " + "; ".join(wrong[:5]))
    unexpected = sorted(set(mapped) - set(own))
    missing = sorted(set(own) - set(mapped))
    if strict and (unexpected or missing):
        raise PlantedError(f"checkpoint keys do not match the encoder: missing {missing[:5]}, unexpected "
                           f"{unexpected[:5]}")
    encoder.load_state_dict({k: v for k, v in mapped.items() if k in own}, strict=False)
    if missing:
        logger.warning("encoder keys not in the checkpoint (left at their init): %s", missing)
    return missing
