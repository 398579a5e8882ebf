"""The whole estimation network (paper Fig. 2): ViT encoder -> Cross-View Fusion -> RKTD.

`PlantedNet(**asdict(ModelConfig))` builds it; `forward(image)` (or `forward(features=...)` with a frozen
hybrid trunk's cached features, training.model.trunks.cache) returns a dict of `pred_*` tensors:
pred_pose_rotmat (B, 24, 3, 3), pred_rot6d (B, 24, 6), pred_betas (B, 10), pred_cam (B, 3),
pred_contact (B, Vc) and pred_contact_logits, pred_tree (B,) (the kinematic tree used: 0 base, 1 left
foot, 2 right foot) and pred_contact_tree (the one the predicted contacts choose), and where the views exist
pred_heatmaps (B, K, 64, 48), pred_kp2d_front / pred_kp2d_side / pred_kp2d_top (B, K, 2).
The image is (B, 3, H, W) RGB normalised with ImageNet's mean and std (engine.model_contract), H x W the
config's image_height x image_width (256 x 192 for the ViT, 256 x 256 for the hybrid backbone); heatmaps
are 4x the token grid (64 x 48 for the ViT, 32 x 32 on BlazePose's 8 x 8 bottleneck).

backbone "hybrid": a keypoint network's trunk converted from engine/assets (training.model.trunks.pretrained) in
`encoder.patch_embed.trunk`; its weights are read from the ONNX file at construction, unless `trunk_plan`
(the plan a checkpoint stores, training.checkpoint) is given: then the modules are built from the plan and
the checkpoint's state dict fills them, without the ONNX file.
"""

from __future__ import annotations

import logging
import os
import pathlib

import torch
from torch import nn

from engine.errors import PlantedError
from training.config import AUTO_TRUNK_PATCH
from training.model.cvf import CrossViewFusion
from training.model.rktd import RKTDecoder
from training.model.trunks.onnx_plan import TrunkPlan
from training.model.trunks.pretrained import PretrainedTrunk
from training.model.vit import HybridEmbed, VisionTransformer, load_vitpose_weights

logger = logging.getLogger(__name__)


class PlantedNet(nn.Module):
    """Constructor arguments are `training.config.ModelConfig`'s fields (see there for meanings), and `trunk_plan`:
    a hybrid checkpoint's stored trunk plan (training.checkpoint), None to read the trunk from engine/assets."""

    def __init__(
        self, backbone: str = "vit", trunk: str = "blazepose_heavy", trunk_feature: str = "bottleneck",
        trunk_trainable_stages: int = 0, trunk_patch_size: int = 0, embed_dim: int = 768, depth: int = 12,
        num_heads: int = 12, mlp_ratio: float = 4.0,
        qkv_bias: bool = True, drop_path_rate: float = 0.3, patch_size: int = 16, patch_padding: int = 2,
        image_height: int = 256, image_width: int = 192, head_type: str = "classic", deconv_channels: int = 256,
        num_keypoints: int = 30, views: str = "front_side_top", cross_view_attention: bool = True,
        query_channels: int = 256, view_token_dim: int = 64, view_hidden_dim: int = 256,
        soft_argmax_beta: float = 20.0, decoder: str = "rktd", regressor_hidden: int = 1024, dropout: float = 0.5,
        contact_hidden: int = 1024, num_contact_vertices: int = 64, num_left_contact_vertices: int = 32,
        contact_threshold: float = 0.5, tree_rule: str = "max", num_betas: int = 10,
        trunk_plan: dict | None = None,
    ) -> None:
        super().__init__()
        self.views = views
        self.backbone = backbone
        stem = None
        if backbone == "hybrid":
            stem = _hybrid_stem(trunk, trunk_feature, trunk_trainable_stages,
                                trunk_patch_size or AUTO_TRUNK_PATCH[trunk_feature], embed_dim, image_height,
                                image_width, trunk_plan)
        self.encoder = VisionTransformer(
            embed_dim, depth, num_heads, mlp_ratio, qkv_bias, drop_path_rate, patch_size, patch_padding,
            image_height, image_width, patch_embed=stem,
        )
        self.cvf = CrossViewFusion(
            embed_dim, self.encoder.grid, num_keypoints, views, cross_view_attention, head_type, deconv_channels,
            query_channels, view_token_dim, view_hidden_dim, (image_height, image_width), soft_argmax_beta,
        )
        self.decoder = RKTDecoder(
            embed_dim, num_contact_vertices, num_left_contact_vertices, decoder, regressor_hidden, dropout,
            contact_hidden, contact_threshold, tree_rule, num_betas,
        )

    @property
    def trunk(self) -> nn.Module | None:
        """The hybrid backbone's pretrained trunk (None for the ViT)."""
        return self.encoder.patch_embed.trunk if self.backbone == "hybrid" else None

    def forward(self, image: torch.Tensor | None = None, tree_index: torch.Tensor | None = None,
                features: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """image (B, 3, H, W), or `features` (B, C_trunk, h, w): the hybrid trunk's output for those images
        (training.model.trunks.cache.trunk_features); tree_index (B,) int64 forces the kinematic tree per
        sample (-1: predicted)."""
        views = self.cvf(self.encoder(image, features))
        out = self.decoder(views.pop("feature"), tree_index)
        out.update(views)
        return out


def _hybrid_stem(trunk: str, feature: str, trainable_stages: int, patch: int, embed_dim: int, image_height: int,
                 image_width: int, plan: dict | None) -> HybridEmbed:
    module = PretrainedTrunk(trunk, feature, TrunkPlan.from_dict(plan) if plan is not None else None, trainable_stages)
    return HybridEmbed(module, module.channels, embed_dim, image_height, image_width, patch)


def read_state_dict(path: str | os.PathLike) -> dict:
    """torch.load a checkpoint file without running pickled code (weights_only); PlantedError when it cannot."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise PlantedError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickled objects beyond tensors and containers, or not a torch file
        raise PlantedError(
            f"{path} cannot be read as plain tensors ({str(err)[:200]}): save its state_dict alone with "
            "torch.save(torch.load(path, weights_only=False)['state_dict'], 'weights.pth') where you trust the file"
        ) from None


def load_vitpose_checkpoint(net: PlantedNet, state_dict: dict | str | os.PathLike) -> list[str]:
    """Initialise the encoder (and the front heatmap head, where shapes fit) from a ViTPose or MAE checkpoint.

    `state_dict` is the loaded dict or a path to the .pth file (read with `read_state_dict`).

    ViTPose's `keypoint_head.*` deconvolution weights load into the classic head; its final 1x1 layer
    loads only when its keypoint count equals ours (COCO's 17 do not match our K otherwise).
    Returns the encoder keys the checkpoint lacked.
    """
    if not isinstance(state_dict, dict):
        state_dict = read_state_dict(state_dict)
    raw = state_dict.get("state_dict", state_dict.get("model", state_dict))
    if not any("blocks." in k or "patch_embed." in k for k in raw):
        raise PlantedError("state dict holds no ViT encoder weights (no backbone.blocks / blocks keys)")
    missing = load_vitpose_weights(net.encoder, raw, strict=False)
    head_keys = {k[len("keypoint_head."):]: v for k, v in raw.items() if k.startswith("keypoint_head.")}
    if head_keys and net.views != "none":
        own = net.cvf.front_head.state_dict()
        fitting = {k: v for k, v in head_keys.items() if k in own and own[k].shape == v.shape}
        skipped = sorted(set(head_keys) - set(fitting))
        net.cvf.front_head.load_state_dict(fitting, strict=False)
        if skipped:
            logger.info("ViTPose head weights not loaded (shape or name differs): %s", skipped)
    return missing
