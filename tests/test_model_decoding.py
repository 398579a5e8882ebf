"""Front-view heatmap decoding: argmax + DARK (exported) and the normalised integral regression (trained)."""

from __future__ import annotations

import pytest
import torch

from training.geometry import crop_to_pixels, soft_argmax
from training.model.cvf import CrossViewFusion
from training.model.decoding import dark_keypoints, integral_keypoints

# sub-cell centres (x, y) on the 48 x 64 heatmap, one near the bottom-left edge
CENTRES = [(10.3, 15.7), (37.6, 50.2), (3.4, 60.1)]


def _gaussians(peak: float, sigma: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Heatmaps (1, len(CENTRES), 64, 48) with a Gaussian of the given peak each, and the centres in crop pixels."""
    ys = torch.arange(64, dtype=torch.float32)[:, None]
    xs = torch.arange(48, dtype=torch.float32)[None]
    maps = [peak * torch.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2)) for cx, cy in CENTRES]
    pixels = torch.tensor([[cx * 191 / 47, cy * 255 / 63] for cx, cy in CENTRES])  # UDP cell -> pixel
    return torch.stack(maps)[None], pixels


def _pixel_errors(keypoints: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    return (crop_to_pixels(keypoints[0]) - pixels).norm(dim=-1)


@pytest.mark.parametrize("peak", [1.0, 0.4, 0.2])
def test_low_peaks_decode_within_a_pixel(peak):
    heatmaps, pixels = _gaussians(peak)
    assert _pixel_errors(dark_keypoints(heatmaps, 256, 192), pixels).max() < 1.0
    assert _pixel_errors(integral_keypoints(heatmaps, 256, 192), pixels).max() < 1.0
    # with noise at a twentieth of the lowest peak, DARK still holds a pixel
    generator = torch.Generator().manual_seed(0)
    noisy = heatmaps + 0.01 * torch.randn(heatmaps.shape, generator=generator)
    assert _pixel_errors(dark_keypoints(noisy, 256, 192), pixels).max() < 1.0


def test_raw_soft_argmax_collapses_towards_the_centre_on_low_peaks():
    """Why the decoding changed: beta 20 on raw heatmaps lets the flat background outweigh a low peak."""
    heatmaps, pixels = _gaussians(0.2)
    assert _pixel_errors(soft_argmax(heatmaps, 256, 192, 20.0), pixels).min() > 20.0


def test_decoding_ignores_the_peaks_height():
    heatmaps, _ = _gaussians(1.0)
    # DARK works on the log-heatmap: a scale is an additive constant there
    assert torch.allclose(dark_keypoints(0.3 * heatmaps, 256, 192), dark_keypoints(heatmaps, 256, 192), atol=1e-4)
    # the integral regression normalises each map to [0, 1] first: scale and offset drop out
    assert torch.allclose(integral_keypoints(0.3 * heatmaps - 0.05, 256, 192), integral_keypoints(heatmaps, 256, 192),
                          atol=1e-4)


def test_flat_heatmap_falls_back_to_the_argmax_cell():
    heatmaps = torch.zeros(1, 1, 64, 48)
    heatmaps[0, 0, 20, 30] = 1e-5  # a single, tiny bump: below the log's clip, no curvature to follow
    keypoint = crop_to_pixels(dark_keypoints(heatmaps, 256, 192)[0, 0])
    assert torch.allclose(keypoint, torch.tensor([30 * 191 / 47, 20 * 255 / 63]), atol=1e-3)


def test_cvf_exports_dark_and_trains_through_the_integral():
    torch.manual_seed(0)
    cvf = CrossViewFusion(32, (16, 12), 5, "front_side_top", deconv_channels=16, query_channels=16,
                          view_token_dim=8, view_hidden_dim=16).eval()
    f_out = torch.randn(2, 32, 16, 12, requires_grad=True)
    out = cvf(f_out)
    heatmaps = out["pred_heatmaps"]
    assert torch.equal(out["pred_kp2d_front"], dark_keypoints(heatmaps.detach(), 256, 192))
    assert torch.equal(out["pred_kp2d_front_integral"], integral_keypoints(heatmaps, 256, 192, 20.0))
    assert not out["pred_kp2d_front"].requires_grad
    out["pred_kp2d_front_integral"].sum().backward()
    assert f_out.grad is not None and f_out.grad.abs().sum() > 0
