"""BlazePose GHUM's landmark network (engine/assets, lite / full / heavy) as a torch trunk, from its ONNX file.

Features, by ONNX tensor name (found in the committed graphs: the bottleneck is the last residual sum of
the encoder, before the 1x1 expansion that feeds both the decoder and the landmark regressor; the decoder
feature is the sum of the last upsampling and its skip connection, the input of the heatmap convolution):

| trunk | bottleneck | decoder |
|---|---|---|
| blazepose_heavy | t535 (272 x 8 x 8) | t545 (48 x 64 x 64) |
| blazepose_full | t269 (144 x 8 x 8) | t279 (48 x 64 x 64) |
| blazepose_lite | t254 (96 x 8 x 8) | t264 (32 x 64 x 64) |

(sizes for a 256 x 256 input; the graph is fully convolutional, so any side divisible by 32 runs.)
Input: the model contract's image (B, 3, H, W), RGB normalised with ImageNet's mean and std; the module
un-normalises it to the [0, 1] RGB that the engine feeds BlazePose (engine.keypoints.blazepose), in NCHW,
starting after the graph's own NHWC -> NCHW transpose (tensor t0).
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from engine.errors import PlantedError
from engine.keypoints.models import model_spec
from engine.model_contract import IMAGENET_MEAN, IMAGENET_STD
from training.model.trunks.interpreter import OnnxTrunk
from training.model.trunks.onnx_plan import TrunkPlan, read_plan

NCHW_INPUT = "t0"  # output of the graph's first node, Transpose(image, perm 0 3 1 2)
FEATURES: dict[str, dict[str, tuple[str, int, int]]] = {  # trunk -> feature -> (tensor, channels, stride)
    "blazepose_heavy": {"bottleneck": ("t535", 272, 32), "decoder": ("t545", 48, 4)},
    "blazepose_full": {"bottleneck": ("t269", 144, 32), "decoder": ("t279", 48, 4)},
    "blazepose_lite": {"bottleneck": ("t254", 96, 32), "decoder": ("t264", 32, 4)},
}


def feature_spec(trunk: str, feature: str) -> tuple[str, int, int]:
    """(ONNX tensor name, channels, stride in input pixels) of a named trunk feature."""
    if trunk not in FEATURES:
        raise PlantedError(f"unknown trunk {trunk!r}: choose one of {', '.join(FEATURES)}")
    if feature not in FEATURES[trunk]:
        raise PlantedError(f"unknown trunk_feature {feature!r}: choose one of {', '.join(FEATURES[trunk])}")
    return FEATURES[trunk][feature]


@functools.lru_cache(maxsize=6)
def _read(trunk: str, feature: str):
    tensor = feature_spec(trunk, feature)[0]
    return read_plan(model_spec(trunk, "blazepose").path, NCHW_INPUT, (tensor,))


def blazepose_plan(trunk: str, feature: str) -> TrunkPlan:
    """The plan of `trunk` up to `feature`, read from its ONNX file in engine/assets (cached per process)."""
    return _read(trunk, feature)[0]


class BlazePoseTrunk(nn.Module):
    """image (B, 3, H, W) ImageNet-normalised RGB -> feature (B, C, H / stride, W / stride).

    `plan` None reads the graph and its pretrained weights from engine/assets; a plan (e.g. from a
    checkpoint) builds the same modules with untrained weights, for a state dict to fill.
    """

    def __init__(self, trunk: str = "blazepose_heavy", feature: str = "bottleneck", plan: TrunkPlan | None = None,
                 trainable_stages: int = 0) -> None:
        super().__init__()
        self.name, self.feature = trunk, feature
        self.tensor, self.channels, self.stride = feature_spec(trunk, feature)
        self.net = OnnxTrunk(plan if plan is not None else blazepose_plan(trunk, feature))
        if plan is None:
            self.net.load_numpy_weights(_read(trunk, feature)[1])
        self.net.set_trainable_stages(trainable_stages)
        std = torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
        self.register_buffer("pixel_std", std, persistent=False)
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False)

    @property
    def plan(self) -> TrunkPlan:
        return self.net.plan

    @property
    def num_stages(self) -> int:
        return len(self.net.stages)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing() and (image.shape[-2] % 32 or image.shape[-1] % 32):
            raise PlantedError(f"the BlazePose trunk needs image sides divisible by 32, got {tuple(image.shape[-2:])}")
        rgb01 = image * self.pixel_std.to(image.dtype) + self.pixel_mean.to(image.dtype)
        return self.net(rgb01)[self.tensor]
