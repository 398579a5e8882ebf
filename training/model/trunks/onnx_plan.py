"""Read a convolutional ONNX graph into a plan: the steps that compute some named tensors, and their weights.

A plan is plain data (ops, tensor names, attributes, convolution shapes) that `OnnxTrunk` executes with
torch; the weights travel separately (numpy arrays keyed by convolution name) so that a checkpoint holding
the plan and a state dict rebuilds the trunk without the ONNX file.

Supported ops (what BlazePose's landmark graphs and MoveNet's trunk use between their input and their
heatmaps): Conv (any group, symmetric or asymmetric pads), Add / Sub / Mul of two tensors or of a tensor
and a small constant (kept in the plan, e.g. MoveNet's input scaling), Relu, PRelu, Clip with constant
bounds, Sigmoid, MaxPool, Pad (constant mode, any axis), Resize (linear or nearest, constant scales),
Concat over channels, Identity; Cast and Identity of constants are folded. Anything else is a
PlantedError naming the op.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from engine.errors import PlantedError

_ELEMENTWISE = {"Add", "Sub", "Mul", "Relu", "Sigmoid", "Identity", "Concat", "PRelu"}
_BINARY = {"Add", "Sub", "Mul"}
_MAX_CONSTANT = 4096  # values of a constant operand kept in the plan (MoveNet's are 3)
_SUPPORTED = _ELEMENTWISE | {"Conv", "Clip", "MaxPool", "Pad", "Resize"}


@dataclass(frozen=True)
class Step:
    """One op: `inputs` are tensor names (constants are folded into `attrs`), `output` is one tensor name."""

    op: str
    inputs: tuple[str, ...]
    output: str
    attrs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TrunkPlan:
    """The steps from `input_name` (NCHW float, the graph's own value range) to `outputs`, in execution order."""

    input_name: str
    outputs: tuple[str, ...]
    steps: tuple[Step, ...]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> "TrunkPlan":
        steps = tuple(Step(s["op"], tuple(s["inputs"]), s["output"], dict(s["attrs"])) for s in raw["steps"])
        return cls(raw["input_name"], tuple(raw["outputs"]), steps)

    def conv_steps(self) -> list[Step]:
        return [s for s in self.steps if s.op in ("Conv", "PRelu")]


def _attributes(node) -> dict:
    import onnx

    out = {}
    for a in node.attribute:
        value = onnx.helper.get_attribute_value(a)
        out[a.name] = value.decode() if isinstance(value, bytes) else value
    return out


def _constants(graph) -> dict[str, np.ndarray]:
    """Initialisers, and Cast/Identity/Constant nodes of them, folded to float32 / int64 arrays."""
    from onnx import numpy_helper

    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        elif node.op_type in ("Cast", "Identity") and node.input[0] in values:
            value = values[node.input[0]]
            values[node.output[0]] = value.astype(np.float32) if value.dtype.kind == "f" else value
    return values


def _needed_nodes(graph, input_name: str, outputs: tuple[str, ...], constants: dict) -> list:
    """The graph's nodes (in their topological order) that lie between `input_name` and `outputs`."""
    producer = {o: n for n in graph.node for o in n.output}
    needed, stack = set(), list(outputs)
    while stack:
        name = stack.pop()
        if name == input_name or name in constants or name == "":
            continue
        if name not in producer:
            raise PlantedError(f"tensor {name!r} is not computed from {input_name!r} in this graph")
        node = producer[name]
        if id(node) in needed:
            continue
        needed.add(id(node))
        stack.extend(node.input)
    return [n for n in graph.node if id(n) in needed]


def _conv_step(node, constants: dict, index: int, weights: dict) -> Step:
    attrs = _attributes(node)
    weight = constants[node.input[1]].astype(np.float32)
    bias = constants[node.input[2]].astype(np.float32) if len(node.input) > 2 and node.input[2] else None
    if attrs.get("auto_pad", "NOTSET") != "NOTSET":
        raise PlantedError(f"Conv {node.name or node.output[0]}: auto_pad is not supported")
    key = f"conv{index:03d}"
    weights[key + ".weight"] = weight
    if bias is not None:
        weights[key + ".bias"] = bias
    out_ch, in_per_group, kh, kw = weight.shape
    group = int(attrs.get("group", 1))
    return Step("Conv", (node.input[0],), node.output[0], {
        "key": key, "in_channels": in_per_group * group, "out_channels": out_ch, "kernel": [kh, kw],
        "stride": list(attrs.get("strides", [1, 1])), "pads": list(attrs.get("pads", [0, 0, 0, 0])),
        "dilation": list(attrs.get("dilations", [1, 1])), "group": group, "bias": bias is not None,
    })


def _scalar(value) -> float:
    return float(np.asarray(value).reshape(-1)[0])


def _step(node, constants: dict, index: int, weights: dict) -> Step:
    op, name = node.op_type, node.name or node.output[0]
    tensors = tuple(i for i in node.input if i and i not in constants)
    attrs = _attributes(node)
    if op not in _SUPPORTED:
        raise PlantedError(f"ONNX op {op} ({name}) is not supported by the trunk converter")
    if op == "Conv":
        return _conv_step(node, constants, index, weights)
    if op == "Clip":
        low = _scalar(constants[node.input[1]]) if len(node.input) > 1 and node.input[1] else None
        high = _scalar(constants[node.input[2]]) if len(node.input) > 2 and node.input[2] else None
        return Step("Clip", tensors, node.output[0], {"min": low, "max": high})
    if op == "Pad":
        if attrs.get("mode", "constant") != "constant" or (len(node.input) > 2 and node.input[2]
                                                             and _scalar(constants[node.input[2]]) != 0.0):
            raise PlantedError(f"Pad {name}: only zero constant padding is supported")
        return Step("Pad", tensors, node.output[0], {"pads": [int(p) for p in constants[node.input[1]]]})
    if op == "MaxPool":
        return Step("MaxPool", tensors, node.output[0], {
            "kernel": list(attrs["kernel_shape"]), "stride": list(attrs.get("strides", [1, 1])),
            "pads": list(attrs.get("pads", [0, 0, 0, 0])), "ceil_mode": int(attrs.get("ceil_mode", 0))})
    if op == "Resize":
        scales = constants.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if scales is None or len(scales) != 4 or list(scales[:2]) != [1.0, 1.0]:
            raise PlantedError(f"Resize {name}: only constant spatial scales are supported")
        mode, coords = attrs.get("mode", "nearest"), attrs.get("coordinate_transformation_mode", "half_pixel")
        if mode not in ("linear", "nearest") or (mode == "linear" and coords != "half_pixel"):
            raise PlantedError(f"Resize {name}: mode {mode} with {coords} coordinates is not supported")
        return Step("Resize", tensors, node.output[0], {"scale": [float(scales[2]), float(scales[3])], "mode": mode})
    if op == "Concat":
        if int(attrs["axis"]) != 1:
            raise PlantedError(f"Concat {name}: only the channel axis is supported")
        return Step("Concat", tensors, node.output[0])
    if op == "PRelu":
        key = f"prelu{index:03d}"
        weights[key] = constants[node.input[1]].astype(np.float32).reshape(-1)
        return Step("PRelu", tensors, node.output[0], {"key": key, "channels": int(weights[key].size)})
    if op in _BINARY and len(tensors) == 1:
        position = 0 if node.input[0] in constants else 1
        value = np.asarray(constants[node.input[position]], np.float32)
        if value.size > _MAX_CONSTANT:
            raise PlantedError(f"{op} {name}: a constant operand of {value.size} values is not supported")
        return Step(op, tensors, node.output[0], {"constant": value.tolist(), "shape": list(value.shape),
                                                  "constant_first": position == 0})
    if len(tensors) != len([i for i in node.input if i]):
        raise PlantedError(f"{op} {name}: constant operands are not supported")
    return Step(op, tensors, node.output[0])


def read_plan(path, input_name: str, outputs: tuple[str, ...]) -> tuple[TrunkPlan, dict[str, np.ndarray]]:
    """The plan from tensor `input_name` to `outputs` in the ONNX file at `path`, and its weights (float32)."""
    import onnx

    graph = onnx.load(str(path)).graph
    constants = _constants(graph)
    weights: dict[str, np.ndarray] = {}
    steps = tuple(_step(n, constants, i, weights)
                  for i, n in enumerate(_needed_nodes(graph, input_name, outputs, constants)))
    return TrunkPlan(input_name, tuple(outputs), steps), weights
