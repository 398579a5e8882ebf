"""A TensorFlow.js graph model (model.json + .bin shards) -> ONNX nodes, for the ops a MobileNet-style trunk uses.

Used by scripts/convert/movenet.py; never by the engine or the tests. Needs only numpy and onnx: the
tfjs format is a TensorFlow GraphDef written as JSON (`modelTopology.node`: op, inputs, attributes) and
a weights manifest naming each constant's shape, dtype and quantisation in the concatenated shards.

Conversion is demand-driven: ask for a tfjs tensor and it converts the nodes it depends on, back to the
tensors declared available (`alias`, e.g. the network input after the graph's own batch-of-one
reshuffling). 4D activations are NCHW in ONNX (tfjs is NHWC); their NHWC shapes are tracked to get
TensorFlow's SAME padding right. Weights quantised to fp16 in the tfjs file are stored as those fp16
values and cast to fp32 in the graph (exact, half the size; ONNX Runtime folds the Cast at load).
"""

from __future__ import annotations

import base64
import json
import pathlib
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tflite_graph import same_pads

_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_QUANT_DTYPES = {"float16": np.float16, "uint8": np.uint8, "uint16": np.uint16}


@dataclass(frozen=True, eq=False)
class TfjsGraph:
    """nodes: name -> GraphDef node (dict); weights: name -> array (dequantised); fp16: names stored as fp16."""

    nodes: dict[str, dict]
    weights: dict[str, np.ndarray]
    fp16: frozenset[str]
    meta: dict


def load_tfjs_graph(model_json: pathlib.Path) -> TfjsGraph:
    """Read model.json and its weight shards into arrays."""
    model = json.loads(model_json.read_text())
    if model.get("format") != "graph-model":
        raise ValueError(f"{model_json} is not a tfjs graph model (format {model.get('format')!r})")
    weights: dict[str, np.ndarray] = {}
    fp16: set[str] = set()
    for group in model["weightsManifest"]:
        data = b"".join((model_json.parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            shape = [int(d) for d in spec["shape"]]
            count = int(np.prod(shape)) if shape else 1
            quant = spec.get("quantization")
            if quant:
                raw = np.frombuffer(data, _QUANT_DTYPES[quant["dtype"]], count, offset)
                offset += raw.nbytes
                if quant["dtype"] == "float16":
                    fp16.add(spec["name"])
                    values = raw.astype(np.float32)
                else:
                    values = (raw * quant["scale"] + quant["min"]).astype(_DTYPES[spec["dtype"]])
            else:
                values = np.frombuffer(data, _DTYPES[spec["dtype"]], count, offset)
                offset += values.nbytes
            weights[spec["name"]] = values.reshape(shape)
        if offset != len(data):
            raise ValueError(f"{model_json}: the manifest describes {offset} bytes, the shards hold {len(data)}")
    nodes = {n["name"]: n for n in model["modelTopology"]["node"]}
    meta = {k: v for k, v in model.items() if k not in ("modelTopology", "weightsManifest")}
    return TfjsGraph(nodes=nodes, weights=weights, fp16=frozenset(fp16), meta=meta)


def _attr_string(node: dict, key: str) -> str:
    return base64.b64decode(node["attr"][key]["s"]).decode()


def _attr_ints(node: dict, key: str) -> list[int]:
    return [int(i) for i in node["attr"][key]["list"].get("i", [])]


def _fused_ops(node: dict) -> list[str]:
    return [base64.b64decode(s).decode() for s in node["attr"].get("fused_ops", {}).get("list", {}).get("s", [])]


class TfjsToOnnx:
    """Emits ONNX nodes for the tfjs tensors asked for (see the module docstring)."""

    def __init__(self, graph: TfjsGraph, store_fp16: bool = True):
        self.graph = graph
        self.store_fp16 = store_fp16
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.done: dict[str, str] = {}  # tfjs tensor -> ONNX name
        self.shapes: dict[str, tuple[int, ...]] = {}  # tfjs tensor -> its (NHWC) shape
        self._consts: set[str] = set()

    def alias(self, tf_tensor: str, onnx_name: str, shape_nhwc: tuple[int, ...]) -> None:
        """Declare a tfjs tensor already available in the ONNX graph (4D ones as NCHW)."""
        self.done[tf_tensor] = onnx_name
        self.shapes[tf_tensor] = tuple(shape_nhwc)

    def const(self, name: str) -> np.ndarray:
        return self.graph.weights[name.split(":")[0]]

    def initializer(self, name: str, array: np.ndarray, fp16: bool) -> str:
        """An ONNX constant; from fp16 weights it is stored half and cast (exact)."""
        onnx_name = f"c_{name}".replace("/", "_").replace(":", "_")
        if onnx_name in self._consts:
            return onnx_name
        self._consts.add(onnx_name)
        if fp16 and self.store_fp16 and array.dtype == np.float32:
            self.initializers.append(numpy_helper.from_array(array.astype(np.float16), f"{onnx_name}_fp16"))
            self.nodes.append(helper.make_node("Cast", [f"{onnx_name}_fp16"], [onnx_name], to=TensorProto.FLOAT))
        else:
            self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), onnx_name))
        return onnx_name

    def weight_input(self, name: str, array: np.ndarray, suffix: str = "") -> str:
        return self.initializer(name + suffix, array, name.split(":")[0] in self.graph.fp16)

    def tensor(self, ref: str) -> str:
        """The ONNX name holding tfjs tensor `ref` (converting what it depends on)."""
        ref = ref.split(":0")[0] if ref.endswith(":0") else ref
        if ref in self.done:
            return self.done[ref]
        node = self.graph.nodes[ref.split(":")[0]]
        out = f"n_{ref}".replace("/", "_").replace(":", "_")
        op = node["op"]
        inputs = node.get("input", [])
        if op in ("_FusedConv2D", "FusedDepthwiseConv2dNative", "DepthwiseConv2dNative", "Conv2D"):
            self._conv(node, out)
        elif op in ("AddV2", "Add", "Sub", "Mul"):
            names = [self._operand(i, inputs) for i in inputs]
            onnx_op = {"AddV2": "Add", "Add": "Add", "Sub": "Sub", "Mul": "Mul"}[op]
            self.nodes.append(helper.make_node(onnx_op, names, [out]))
            self.shapes[ref] = max((self.shapes.get(i, ()) for i in inputs), key=len)
        elif op in ("Sigmoid", "Relu"):
            self.nodes.append(helper.make_node(op, [self.tensor(inputs[0])], [out]))
            self.shapes[ref] = self.shapes[inputs[0]]
        elif op == "Relu6":
            self._clip(self.tensor(inputs[0]), out)
            self.shapes[ref] = self.shapes[inputs[0]]
        elif op == "ResizeBilinear":
            attr = node["attr"]
            if attr.get("align_corners", {}).get("b") or not attr.get("half_pixel_centers", {}).get("b"):
                raise NotImplementedError(f"{ref}: only half-pixel-centre bilinear resizing is handled")
            x = self.tensor(inputs[0])
            n, h, w, c = self.shapes[inputs[0]]
            oh, ow = (int(v) for v in self.const(inputs[1]))
            scales = self.initializer(f"{ref}_scales", np.array([1, 1, oh / h, ow / w], np.float32), False)
            self.nodes.append(helper.make_node("Resize", [x, "", scales], [out], mode="linear",
                                               coordinate_transformation_mode="half_pixel"))
            self.shapes[ref] = (n, oh, ow, c)
        else:
            raise NotImplementedError(f"tfjs op {op} ({ref})")
        self.done[ref] = out
        return out

    def _operand(self, ref: str, siblings: list[str]) -> str:
        """An elementwise op's input: a converted tensor, or a constant laid out like the other operand."""
        if ref.split(":")[0] not in self.graph.weights:
            return self.tensor(ref)
        value = self.const(ref).astype(np.float32)
        if value.ndim == 4:
            value = value.transpose(0, 3, 1, 2)  # NHWC broadcast shape -> NCHW
        elif value.ndim not in (0, 1) or (value.ndim == 1 and value.size != 1):
            raise NotImplementedError(f"constant {ref} of shape {value.shape} in an elementwise op")
        return self.weight_input(ref, value)

    def _clip(self, x: str, out: str) -> None:
        lo = self.initializer("relu6_lo", np.array(0, np.float32), False)
        hi = self.initializer("relu6_hi", np.array(6, np.float32), False)
        self.nodes.append(helper.make_node("Clip", [x, lo, hi], [out]))

    def _conv(self, node: dict, out: str) -> None:
        op = node["op"]
        inputs = node["input"]
        if _attr_string(node, "data_format") != "NHWC" or set(_attr_ints(node, "dilations")) != {1}:
            raise NotImplementedError(f"{node['name']}: only NHWC undilated convolutions are handled")
        x = self.tensor(inputs[0])
        n, h, w, c = self.shapes[inputs[0]]
        kernel = self.const(inputs[1]).astype(np.float32)
        depthwise = "Depthwise" in op
        if depthwise:  # (KH, KW, C, M) -> (C * M, 1, KH, KW)
            kh, kw, _, mult = kernel.shape
            weight = kernel.transpose(2, 3, 0, 1).reshape(c * mult, 1, kh, kw)
            group, out_c = c, c * mult
        else:  # (KH, KW, I, O) -> (O, I, KH, KW)
            kh, kw, _, out_c = kernel.shape
            weight = kernel.transpose(3, 2, 0, 1)
            group = 1
        strides = _attr_ints(node, "strides")[1:3]
        padding = _attr_string(node, "padding")
        if padding not in ("SAME", "VALID"):
            raise NotImplementedError(f"{node['name']}: padding {padding}")
        pads = same_pads((h, w), (kh, kw), strides) if padding == "SAME" else [0, 0, 0, 0]
        args = [x, self.weight_input(inputs[1], weight)]
        fused = _fused_ops(node) if op.startswith("_Fused") or op.startswith("Fused") else []
        if fused and fused[0] == "BiasAdd":
            args.append(self.weight_input(inputs[2], self.const(inputs[2]).astype(np.float32)))
            fused = fused[1:]
        elif fused:
            raise NotImplementedError(f"{node['name']}: fused ops {fused}")
        conv_out = out if not fused else f"{out}_conv"
        self.nodes.append(helper.make_node("Conv", args, [conv_out], kernel_shape=[kh, kw], strides=strides,
                                           pads=pads, group=group))
        if fused == ["Relu"]:
            self.nodes.append(helper.make_node("Relu", [conv_out], [out]))
        elif fused == ["Relu6"]:
            self._clip(conv_out, out)
        elif fused:
            raise NotImplementedError(f"{node['name']}: fused ops {fused}")
        oh, ow = (-(-h // strides[0]), -(-w // strides[1])) if padding == "SAME" else (
            (h - kh) // strides[0] + 1, (w - kw) // strides[1] + 1)
        self.shapes[node["name"]] = (n, oh, ow, out_c)
