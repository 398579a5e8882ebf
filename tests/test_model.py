"""The estimation network: every named size and ablation builds with the right shapes, Eq. 6, ViTPose loading."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch
import torch.nn.functional as F

from engine.errors import PlantedError
from training.config import SIZES, Config, model_config
from training.model.cvf import CrossViewAttention
from training.model.network import PlantedNet, load_vitpose_checkpoint
from training.model.vit import VisionTransformer, resize_pos_embed

# Published encoder sizes at 256x192 (ENVIRONMENT.md: ViT-S 21.7 M, ViT-B 85.8 M; ViT-Ti 5.5 M, ViT-L 303 M).
ENCODER_PARAMS_M = {"tiny": 5.5, "small": 21.7, "base": 85.8, "large": 303.3}


def _mlp(x, mlp):
    return F.linear(F.gelu(F.linear(x, mlp.fc1.weight, mlp.fc1.bias)), mlp.fc2.weight, mlp.fc2.bias)


@pytest.mark.parametrize("size", list(SIZES))
def test_every_size_builds_with_published_encoder_sizes_and_contract_shapes(size):
    cfg = model_config(size)
    with torch.device("meta"):
        encoder = VisionTransformer(cfg.embed_dim, cfg.depth, cfg.num_heads, cfg.mlp_ratio, cfg.qkv_bias)
        net = PlantedNet(**asdict(cfg))
        out = net.eval()(torch.empty(2, 3, 256, 192))  # shapes only: the meta device computes nothing
    params_m = sum(p.numel() for p in encoder.parameters()) / 1e6
    assert params_m == pytest.approx(ENCODER_PARAMS_M[size], rel=0.01)
    assert encoder.grid == (16, 12)
    assert sum(p.numel() for p in net.parameters()) > params_m * 1e6
    assert out["pred_pose_rotmat"].shape == (2, 24, 3, 3) and out["pred_heatmaps"].shape == (2, 30, 64, 48)
    assert out["pred_kp2d_side"].shape == (2, 30, 2) and out["pred_contact"].shape == (2, cfg.num_contact_vertices)


def test_tiny_forward_shapes():
    torch.manual_seed(0)
    cfg = model_config("tiny", num_keypoints=23, num_contact_vertices=40, num_left_contact_vertices=18)
    net = PlantedNet(**asdict(cfg)).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 256, 192))
    expected = {
        "pred_pose_rotmat": (2, 24, 3, 3), "pred_rot6d": (2, 24, 6), "pred_betas": (2, 10), "pred_cam": (2, 3),
        "pred_contact": (2, 40), "pred_contact_logits": (2, 40), "pred_tree": (2,), "pred_heatmaps": (2, 23, 64, 48),
        "pred_kp2d_front": (2, 23, 2), "pred_kp2d_side": (2, 23, 2), "pred_kp2d_top": (2, 23, 2),
    }
    for key, shape in expected.items():
        assert tuple(out[key].shape) == shape, key
    rot = out["pred_pose_rotmat"].double()
    eye = torch.eye(3, dtype=torch.float64).expand_as(rot)
    assert torch.allclose(rot @ rot.transpose(-1, -2), eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(2, 24, dtype=torch.float64), atol=1e-5)
    assert ((out["pred_contact"] >= 0) & (out["pred_contact"] <= 1)).all()


@pytest.mark.parametrize(
    "views,cva,decoder,outputs",
    [
        ("none", True, "rktd", ()),
        ("front", True, "ktd", ("front",)),
        ("front_top", True, "independent", ("front", "top")),
        ("front_side_top", False, "rktd", ("front", "side", "top")),
        ("front_side_top", True, "ktd", ("front", "side", "top")),
    ],
)
def test_ablation_switches(views, cva, decoder, outputs):
    cfg = model_config("tiny", depth=1, views=views, cross_view_attention=cva, decoder=decoder)
    net = PlantedNet(**asdict(cfg)).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 256, 192))
    present = tuple(v for v in ("front", "side", "top") if f"pred_kp2d_{v}" in out)
    assert present == outputs
    assert ("pred_heatmaps" in out) == (views != "none")
    assert out["pred_pose_rotmat"].shape == (2, 24, 3, 3)
    assert len(net.decoder.trees) == (3 if decoder == "rktd" else 1)
    if views == "front_side_top":
        assert hasattr(net.cvf.side, "query") == cva
    if decoder == "independent":
        assert not any(len(a) for a in net.decoder.trees[0].ancestors)


def test_config_round_trips_and_rejects_unknown_keys():
    cfg = Config(size="tiny", model=model_config("tiny"))
    assert Config.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(Exception, match="unknown model config keys"):
        model_config("tiny", embed_dims=3)
    with pytest.raises(Exception, match="views"):
        model_config("tiny", views="sideways")


def test_cross_view_attention_matches_eq6_reference():
    torch.manual_seed(1)
    channels, grid = 32, (4, 3)
    block = CrossViewAttention(channels).double()
    f_out = torch.randn(2, channels, *grid, dtype=torch.float64)
    f_front = torch.randn(2, grid[0] * grid[1], channels, dtype=torch.float64)
    got = block(f_out, f_front)
    # Eq. 6 written out: F'_out = Conv3x3(F_out); Q = MLP(F_front); K = V-input = MLP(F'_out); attention over tokens
    f_prime = F.conv2d(f_out, block.conv.weight, block.conv.bias, padding=1).flatten(2).transpose(1, 2)
    q, k, v = _mlp(f_front, block.query), _mlp(f_prime, block.key), _mlp(f_prime, block.value)
    attention = torch.softmax(q @ k.transpose(1, 2) / channels**0.5, dim=-1)
    want = f_prime + _mlp(attention @ v, block.out)
    assert torch.allclose(got, want, atol=1e-12)
    # without CVA the attention is dropped: F'_out + MLP(V)
    plain = CrossViewAttention(channels, attention=False).double()
    f_prime = F.conv2d(f_out, plain.conv.weight, plain.conv.bias, padding=1).flatten(2).transpose(1, 2)
    assert torch.allclose(plain(f_out, None), f_prime + _mlp(_mlp(f_prime, plain.value), plain.out), atol=1e-12)


def _vitpose_layout(encoder: VisionTransformer, keypoints: int = 17) -> dict:
    """A state dict in ViTPose's key layout: backbone.* plus keypoint_head.* (classic head, COCO's 17)."""
    state = {f"backbone.{k}": v.clone() for k, v in encoder.state_dict().items()}
    channels = encoder.pos_embed.shape[-1]
    state["keypoint_head.deconv_layers.0.weight"] = torch.randn(channels, 256, 4, 4)
    state["keypoint_head.deconv_layers.1.weight"] = torch.rand(256)
    state["keypoint_head.deconv_layers.1.bias"] = torch.randn(256)
    state["keypoint_head.deconv_layers.1.running_mean"] = torch.randn(256)
    state["keypoint_head.deconv_layers.1.running_var"] = torch.rand(256)
    state["keypoint_head.deconv_layers.3.weight"] = torch.randn(256, 256, 4, 4)
    state["keypoint_head.final_layer.weight"] = torch.randn(keypoints, 256, 1, 1)
    state["keypoint_head.final_layer.bias"] = torch.randn(keypoints)
    return {"state_dict": state}


def test_loads_vitpose_checkpoint_layout(tmp_path):
    torch.manual_seed(2)
    cfg = model_config("tiny", depth=2)
    source = VisionTransformer(cfg.embed_dim, 2, cfg.num_heads)
    checkpoint = _vitpose_layout(source)
    torch.save({"meta": {"epoch": 210}, **checkpoint}, tmp_path / "vitpose_tiny.pth")  # mmcv's file layout
    net = PlantedNet(**asdict(cfg)).eval()
    missing = load_vitpose_checkpoint(net, tmp_path / "vitpose_tiny.pth")
    assert missing == []
    for key, value in source.state_dict().items():
        assert torch.equal(net.encoder.state_dict()[key], value), key
    head = net.cvf.front_head
    assert torch.equal(head.deconv_layers[0].weight, checkpoint["state_dict"]["keypoint_head.deconv_layers.0.weight"])
    assert torch.equal(head.deconv_layers[1].running_var,
                       checkpoint["state_dict"]["keypoint_head.deconv_layers.1.running_var"])
    assert head.final_layer.weight.shape[0] == 30  # COCO's 17-keypoint layer does not fit ours: left alone
    image = torch.randn(1, 3, 256, 192)
    with torch.no_grad():
        assert torch.allclose(net.encoder(image), source.eval()(image), atol=1e-6)
    with pytest.raises(PlantedError, match="no ViT encoder weights"):
        load_vitpose_checkpoint(net, {"state_dict": {"head.weight": torch.zeros(3)}})
    wrong_width = _vitpose_layout(VisionTransformer(cfg.embed_dim * 2, 2, cfg.num_heads))
    with pytest.raises(PlantedError, match="does not fit this encoder size"):
        load_vitpose_checkpoint(net, wrong_width)


def test_loads_mae_layout_and_resizes_position_embedding():
    torch.manual_seed(3)
    cfg = model_config("tiny", depth=1)
    channels = cfg.embed_dim
    source = VisionTransformer(channels, 1, cfg.num_heads)
    state = {k: v.clone() for k, v in source.state_dict().items() if k != "pos_embed"}
    state["norm.weight"] = state.pop("last_norm.weight")
    state["norm.bias"] = state.pop("last_norm.bias")
    state["cls_token"] = torch.randn(1, 1, channels)
    state["mask_token"] = torch.randn(1, 1, channels)
    state["decoder_embed.weight"] = torch.randn(8, channels)
    # MAE's 14x14 grid + class slot; channel 0 holds the row index, channel 1 the column index, channel 2 a constant
    rows, cols = torch.meshgrid(torch.arange(14.0), torch.arange(14.0), indexing="ij")
    grid = torch.zeros(1, 14 * 14, channels)
    grid[0, :, 0], grid[0, :, 1], grid[0, :, 2] = rows.flatten(), cols.flatten(), 0.25
    extra = torch.randn(1, 1, channels)
    state["pos_embed"] = torch.cat([extra, grid], dim=1)
    encoder = VisionTransformer(channels, 1, cfg.num_heads)
    from training.model.vit import load_vitpose_weights

    load_vitpose_weights(encoder, {"model": state})
    assert torch.equal(encoder.last_norm.weight, source.last_norm.weight)
    pos = encoder.pos_embed.detach()
    assert pos.shape == (1, 16 * 12 + 1, channels)
    assert torch.equal(pos[:, :1], extra)  # the extra (cls) slot is kept, not interpolated
    resized = pos[0, 1:].reshape(16, 12, channels)
    assert torch.allclose(resized[..., 2], torch.full((16, 12), 0.25), atol=1e-6)
    # row-major layout kept: the row field varies only down the rows, the column field only across
    assert torch.allclose(resized[..., 0], resized[:, :1, 0].expand(16, 12), atol=1e-5)
    assert torch.allclose(resized[..., 1], resized[:1, :, 1].expand(16, 12), atol=1e-5)
    assert (resized[1:, 0, 0] > resized[:-1, 0, 0]).all() and (resized[0, 1:, 1] > resized[0, :-1, 1]).all()
    assert resized[..., 0].min() >= -0.5 and resized[..., 0].max() <= 13.5
    # same grid: untouched
    same = torch.randn(1, 193, 4)
    assert torch.equal(resize_pos_embed(same, (16, 12), (16, 12)), same)
