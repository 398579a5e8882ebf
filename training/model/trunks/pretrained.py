"""The keypoint networks of engine/assets as torch trunks for the hybrid backbone, converted from their ONNX files.

Features, by ONNX tensor name (found in the committed graphs). "bottleneck": the encoder's last residual
stream at stride 32, before the expansion that feeds the heads; "decoder": the finest feature of the
upsampling path (stride 4), the input of the keypoint heatmap convolutions.

| trunk | bottleneck | decoder |
|---|---|---|
| blazepose_heavy | t535 (272 x 8 x 8) | t545 (48 x 64 x 64) |
| blazepose_full | t269 (144 x 8 x 8) | t279 (48 x 64 x 64) |
| blazepose_lite | t254 (96 x 8 x 8) | t264 (32 x 64 x 64) |
| movenet_thunder | block_16 project (560 x 8 x 8) | FPN re_lu_2 (24 x 64 x 64) |
| movenet_lightning | block_16 project (320 x 8 x 8) | FPN re_lu_2 (24 x 64 x 64) |

(sizes for a 256 x 256 input; the graphs are fully convolutional, so any side divisible by 32 runs;
Lightning was trained at 192 x 192.) Input: the model contract's image (B, 3, H, W), RGB normalised with
ImageNet's mean and std; the module un-normalises it to what the engine feeds each network
(engine.keypoints.blazepose: RGB in [0, 1]; engine.keypoints.movenet: RGB in [0, 255]), in NCHW, starting
after the graph's own NHWC -> NCHW transpose.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn

from engine.errors import PlantedError
from engine.keypoints.models import model_spec
from engine.model_contract import IMAGENET_MEAN, IMAGENET_STD
from training.model.trunks.interpreter import OnnxTrunk
from training.model.trunks.onnx_plan import TrunkPlan, read_plan

_MOVENET = "n_StatefulPartitionedCall_center_net_mobile_net_v2fpn_feature_extractor_model_1_"


@dataclass(frozen=True)
class TrunkFeature:
    """tensor: ONNX name; channels; stride: input pixels per feature cell."""

    tensor: str
    channels: int
    stride: int


@dataclass(frozen=True)
class TrunkSource:
    """nchw_input: the graph tensor after its NHWC -> NCHW transpose; pixel_scale: what RGB 1.0 is there."""

    nchw_input: str
    pixel_scale: float
    features: dict


TRUNKS: dict[str, TrunkSource] = {
    "blazepose_heavy": TrunkSource("t0", 1.0, {"bottleneck": TrunkFeature("t535", 272, 32),
                                               "decoder": TrunkFeature("t545", 48, 4)}),
    "blazepose_full": TrunkSource("t0", 1.0, {"bottleneck": TrunkFeature("t269", 144, 32),
                                              "decoder": TrunkFeature("t279", 48, 4)}),
    "blazepose_lite": TrunkSource("t0", 1.0, {"bottleneck": TrunkFeature("t254", 96, 32),
                                              "decoder": TrunkFeature("t264", 32, 4)}),
}
for _name, _width in (("movenet_thunder", 560), ("movenet_lightning", 320)):  # MobileNetV2 x1.75 and x1.0
    TRUNKS[_name] = TrunkSource("image_nchw", 255.0, {
        "bottleneck": TrunkFeature(_MOVENET + "model_block_16_project_BN_FusedBatchNormV3", _width, 32),
        "decoder": TrunkFeature(_MOVENET + "re_lu_2_Relu", 24, 4)})


def feature_spec(trunk: str, feature: str) -> TrunkFeature:
    """The ONNX tensor, channels and stride of a named trunk feature; PlantedError naming the choices."""
    if trunk not in TRUNKS:
        raise PlantedError(f"unknown trunk {trunk!r}: choose one of {', '.join(TRUNKS)}")
    if feature not in TRUNKS[trunk].features:
        raise PlantedError(f"unknown trunk_feature {feature!r}: choose one of {', '.join(TRUNKS[trunk].features)}")
    return TRUNKS[trunk].features[feature]


@functools.lru_cache(maxsize=6)
def _read(trunk: str, feature: str):
    return read_plan(model_spec(trunk).path, TRUNKS[trunk].nchw_input, (feature_spec(trunk, feature).tensor,))


def trunk_plan(trunk: str, feature: str) -> TrunkPlan:
    """The plan of `trunk` up to `feature`, read from its ONNX file in engine/assets (cached per process)."""
    return _read(trunk, feature)[0]


class PretrainedTrunk(nn.Module):
    """image (B, 3, H, W) ImageNet-normalised RGB -> feature (B, C, H / stride, W / stride).

    `plan` None reads the graph and its pretrained weights from engine/assets; a plan (e.g. from a
    checkpoint) builds the same modules with untrained weights, for a state dict to fill.
    """

    def __init__(self, trunk: str = "blazepose_heavy", feature: str = "bottleneck", plan: TrunkPlan | None = None,
                 trainable_stages: int = 0) -> None:
        super().__init__()
        self.name, self.feature = trunk, feature
        spec = feature_spec(trunk, feature)
        self.tensor, self.channels, self.stride = spec.tensor, spec.channels, spec.stride
        self.net = OnnxTrunk(plan if plan is not None else trunk_plan(trunk, feature))
        if plan is None:
            self.net.load_numpy_weights(_read(trunk, feature)[1])
        self.net.set_trainable_stages(trainable_stages)
        scale = TRUNKS[trunk].pixel_scale
        # one affine map from the contract's normalisation to the graph's range: x * std * s + mean * s
        self.register_buffer("pixel_gain", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1) * scale, persistent=False)
        self.register_buffer("pixel_bias", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1) * scale, persistent=False)

    @property
    def plan(self) -> TrunkPlan:
        return self.net.plan

    @property
    def num_stages(self) -> int:
        return len(self.net.stages)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing() and (image.shape[-2] % 32 or image.shape[-1] % 32):
            raise PlantedError(f"the {self.name} trunk needs image sides divisible by 32, "
                               f"got {tuple(image.shape[-2:])}")
        pixels = image * self.pixel_gain.to(image.dtype) + self.pixel_bias.to(image.dtype)
        return self.net(pixels)[self.tensor]
