"""`OnnxTrunk`: a `TrunkPlan` executed with torch, its convolution weights as trainable parameters.

Stages, for fine-tuning: runs of consecutive convolutions (in execution order) at one output stride
(2, 4, 8, ... input pixels per feature cell); `set_trainable_stages(n)` leaves the last n runs trainable
and freezes the rest (0: everything frozen). The ONNX graphs here fold batch norm into their
convolutions, so a frozen trunk behaves the same in train and eval mode.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import PlantedError
from training.model.trunks.onnx_plan import Step, TrunkPlan


def _conv(step: Step) -> nn.Conv2d:
    a = step.attrs
    top, left, bottom, right = a["pads"]
    symmetric = (top, left) == (bottom, right)
    return nn.Conv2d(a["in_channels"], a["out_channels"], tuple(a["kernel"]), stride=tuple(a["stride"]),
                     padding=(top, left) if symmetric else 0, dilation=tuple(a["dilation"]), groups=a["group"],
                     bias=a["bias"])


def _onnx_pads_to_torch(pads: list[int]) -> list[int]:
    """ONNX's [x1_begin, x2_begin, ..., x1_end, x2_end, ...] -> F.pad's (last_begin, last_end, ...)."""
    rank = len(pads) // 2
    out: list[int] = []
    for axis in reversed(range(rank)):
        out += [pads[axis], pads[axis + rank]]
    while len(out) > 2 and out[-2:] == [0, 0]:  # F.pad needs no entries for untouched leading axes
        out = out[:-2]
    return out


def _run_step(step: Step, values: dict[str, torch.Tensor], modules: nn.ModuleDict, slopes: nn.ParameterDict,
              constants: dict[str, torch.Tensor]):
    a, x = step.attrs, [values[i] for i in step.inputs]
    op = step.op
    if op == "Conv":
        top, left, bottom, right = a["pads"]
        inp = x[0] if (top, left) == (bottom, right) else F.pad(x[0], (left, right, top, bottom))
        return modules[a["key"]](inp)
    if op == "Clip":
        return torch.clamp(x[0], a["min"], a["max"])
    if op in ("Add", "Sub", "Mul"):
        left, right = (x[0], x[1]) if len(x) == 2 else (x[0], constants[step.output].to(x[0].dtype))
        if len(x) == 1 and a["constant_first"]:
            left, right = right, left
        return left + right if op == "Add" else left - right if op == "Sub" else left * right
    if op == "Relu":
        return F.relu(x[0])
    if op == "PRelu":
        return F.prelu(x[0], slopes[a["key"]])
    if op == "Sigmoid":
        return torch.sigmoid(x[0])
    if op == "Identity":
        return x[0]
    if op == "Concat":
        return torch.cat(x, dim=1)
    if op == "Pad":
        return F.pad(x[0], _onnx_pads_to_torch(a["pads"]))
    if op == "MaxPool":
        top, left, bottom, right = a["pads"]
        inp = x[0] if (top, left, bottom, right) == (0, 0, 0, 0) else F.pad(x[0], (left, right, top, bottom),
                                                                              value=float("-inf"))
        return F.max_pool2d(inp, tuple(a["kernel"]), tuple(a["stride"]), ceil_mode=bool(a["ceil_mode"]))
    if op == "Resize":
        if a["mode"] == "linear":  # half_pixel coordinates = align_corners False
            return F.interpolate(x[0], scale_factor=tuple(a["scale"]), mode="bilinear", align_corners=False)
        return F.interpolate(x[0], scale_factor=tuple(a["scale"]), mode="nearest")
    raise AssertionError(f"op {op} passed the plan reader but has no torch counterpart")


def output_strides(plan: TrunkPlan) -> dict[str, float]:
    """Input pixels per cell of every tensor of the plan (1 for the input)."""
    stride = {plan.input_name: 1.0}
    for step in plan.steps:
        s = max(stride[i] for i in step.inputs)
        if step.op in ("Conv", "MaxPool"):
            s *= step.attrs["stride"][0]
        elif step.op == "Resize":
            s /= step.attrs["scale"][0]
        stride[step.output] = s
    return stride


class OnnxTrunk(nn.Module):
    """plan's input (B, C, H, W) in the source graph's value range -> {output name: (B, C', h, w)}."""

    def __init__(self, plan: TrunkPlan) -> None:
        super().__init__()
        self.plan = plan
        self.convs = nn.ModuleDict({s.attrs["key"]: _conv(s) for s in plan.steps if s.op == "Conv"})
        self.slopes = nn.ParameterDict({s.attrs["key"]: nn.Parameter(torch.zeros(s.attrs["channels"]))
                                        for s in plan.steps if s.op == "PRelu"})
        # constant operands (from the plan, not the state dict: they are part of the graph, not weights)
        self._constants: dict[str, torch.Tensor] = {}
        for index, step in enumerate(plan.steps):
            if "constant" in step.attrs:
                value = torch.tensor(step.attrs["constant"], dtype=torch.float32).reshape(step.attrs["shape"])
                name = f"constant{index:03d}"
                self.register_buffer(name, value, persistent=False)
                self._constants[step.output] = name
        strides = output_strides(plan)
        self.stages: list[list[str]] = []
        last = None
        for step in plan.steps:
            if step.op != "Conv":
                continue
            if strides[step.output] != last:
                self.stages.append([])
                last = strides[step.output]
            self.stages[-1].append(step.attrs["key"])
        self.output_stride = {name: strides[name] for name in plan.outputs}
        # free each intermediate after its last reader: a no_grad pass then holds a few maps, not all of them
        last_read: dict[str, int] = {}
        for index, step in enumerate(plan.steps):
            for name in step.inputs:
                last_read[name] = index
        self._release: list[tuple[str, ...]] = [() for _ in plan.steps]
        for name, index in last_read.items():
            if name not in plan.outputs:
                self._release[index] += (name,)

    def load_numpy_weights(self, weights: dict) -> None:
        """Copy a plan reader's weights (numpy, keyed conv000.weight / prelu000) into the parameters."""
        state = {}
        for key, value in weights.items():
            state[f"convs.{key}" if key.startswith("conv") else f"slopes.{key}"] = torch.from_numpy(value.copy())
        self.load_state_dict(state, strict=True)

    def set_trainable_stages(self, count: int) -> None:
        if not 0 <= count <= len(self.stages):
            raise PlantedError(f"trunk_trainable_stages must lie in 0..{len(self.stages)} for this trunk, got {count}")
        trainable = {key for stage in self.stages[len(self.stages) - count:] for key in stage} if count > 0 else set()
        for key, conv in self.convs.items():
            conv.requires_grad_(key in trainable)
        self.slopes.requires_grad_(count > 0)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        values = {self.plan.input_name: x}
        constants = {output: getattr(self, name) for output, name in self._constants.items()}
        for step, release in zip(self.plan.steps, self._release, strict=True):
            values[step.output] = _run_step(step, values, self.convs, self.slopes, constants)
            for name in release:
                del values[name]
        return {name: values[name] for name in self.plan.outputs}
