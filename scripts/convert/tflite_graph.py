"""A .tflite flatbuffer -> the same network as an ONNX graph, for the few ops MediaPipe's pose models use.

Used by scripts/convert/blazepose_detector.py and scripts/convert/blazepose_landmarks.py; never by the
engine or the tests (they load the ONNX files it wrote). Needs the `tflite` package (flatbuffer
bindings) and onnx, in the conversion venv (scripts/convert/setup_venv.sh).

How: the one subgraph is walked in order and each op becomes ONNX nodes (opset 17). 4D activations are
kept NCHW inside the graph (ONNX's convolution layout); the input keeps the tflite NHWC layout so both
runtimes take the same array, and a 4D output goes back to NHWC. fp16 weights (DEQUANTIZE, DENSIFY:
possibly sparse CSR) are stored as the model's own fp16 values and cast to fp32 in the graph: ONNX Runtime
folds the Cast when it loads the file, so inference is fp32 while the file stays half the size. Only the
ops that feed the requested outputs are kept (a model's segmentation branch can be left out).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
_DTYPES = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
           tflite.TensorType.INT32: np.int32}
_OPNAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_ACT_NONE, _ACT_RELU, _ACT_RELU6 = 0, 1, 3


def _vector(union_type: int, table) -> np.ndarray:
    cls = {tflite.SparseIndexVector.Int32Vector: tflite.Int32Vector,
           tflite.SparseIndexVector.Uint16Vector: tflite.Uint16Vector,
           tflite.SparseIndexVector.Uint8Vector: tflite.Uint8Vector}[union_type]
    vec = cls()
    vec.Init(table.Bytes, table.Pos)
    return vec.ValuesAsNumpy().astype(np.int64)


def densify(values: np.ndarray, shape: tuple[int, ...], sparsity) -> np.ndarray:
    """Dense array of `shape` from tflite's sparse storage: leading dims dense, the last one CSR.

    That is the only layout these models use (traversal order identity, no block map); anything else fails
    loudly rather than convert wrongly.
    """
    order = sparsity.TraversalOrderAsNumpy()
    formats = [sparsity.DimMetadata(d).Format() for d in range(sparsity.DimMetadataLength())]
    dense, csr = tflite.DimensionType.DENSE, tflite.DimensionType.SPARSE_CSR
    if list(order) != list(range(len(shape))) or sparsity.BlockMapLength() or formats != [dense] * (
        len(shape) - 1
    ) + [csr]:
        raise NotImplementedError(f"sparsity layout {list(order)} {formats} is not handled")
    last = sparsity.DimMetadata(len(shape) - 1)
    segments = _vector(last.ArraySegmentsType(), last.ArraySegments())
    indices = _vector(last.ArrayIndicesType(), last.ArrayIndices())
    rows = np.repeat(np.arange(len(segments) - 1), np.diff(segments))
    out = np.zeros((int(np.prod(shape[:-1])), shape[-1]), values.dtype)
    out[rows, indices] = values
    return out.reshape(shape)


def same_pads(in_hw: Sequence[int], kernel_hw: Sequence[int], stride_hw: Sequence[int]) -> list[int]:
    """ONNX pads (top, left, bottom, right) reproducing TensorFlow's SAME padding (the extra pixel after)."""
    before, after = [], []
    for size, k, s in zip(in_hw, kernel_hw, stride_hw, strict=True):
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        before.append(total // 2)
        after.append(total - total // 2)
    return before + after


def prune_to_outputs(graph: onnx.GraphProto) -> None:
    """Drop the nodes and initialisers that no graph output depends on (in place)."""
    needed = {o.name for o in graph.output}
    keep = []
    for node in reversed(list(graph.node)):
        if any(out in needed for out in node.output):
            keep.append(node)
            needed.update(i for i in node.input if i)
    del graph.node[:]
    graph.node.extend(reversed(keep))
    inits = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)


class TfliteToOnnx:
    """Walks a tflite model's subgraph once and emits ONNX nodes; 4D activations are kept NCHW."""

    def __init__(self, model_bytes: bytes, store_fp16: bool = True):
        self.store_fp16 = store_fp16
        self.fp16_sources: set[int] = set()
        self.model = tflite.Model.GetRootAsModel(model_bytes, 0)
        if self.model.SubgraphsLength() != 1:
            raise NotImplementedError("expected one subgraph")
        self.graph = self.model.Subgraphs(0)
        self.consts: dict[int, np.ndarray] = {}
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._relu6_bounds: list[str] = []
        self._const_names: set[str] = set()
        self._read_constants()

    # --- tensors -----------------------------------------------------------------------------------

    def tensor_name(self, i: int) -> str:
        """The tflite tensor's own name (e.g. b'Identity_3' -> 'Identity_3')."""
        return self.graph.Tensors(i).Name().decode()

    def shape(self, i: int) -> tuple[int, ...]:
        return tuple(int(d) for d in self.graph.Tensors(i).ShapeAsNumpy())

    def input_indices(self) -> list[int]:
        return [int(i) for i in self.graph.InputsAsNumpy()]

    def output_indices(self) -> list[int]:
        return [int(i) for i in self.graph.OutputsAsNumpy()]

    def _read_constants(self) -> None:
        for i in range(self.graph.TensorsLength()):
            t = self.graph.Tensors(i)
            buf = self.model.Buffers(t.Buffer())
            if buf is None or buf.DataLength() == 0:
                continue
            values = np.frombuffer(buf.DataAsNumpy().tobytes(), _DTYPES[t.Type()])
            sparsity = t.Sparsity()
            self.consts[i] = (densify(values, self.shape(i), sparsity) if sparsity is not None
                              else values.reshape(self.shape(i)))

    def name(self, i: int) -> str:
        return f"t{i}"

    def const_input(self, i: int, array: np.ndarray, suffix: str = "") -> str:
        name = f"{self.name(i)}{suffix}_const"
        if name in self._const_names:  # tflite shares some constants between ops
            return name
        self._const_names.add(name)
        if i in self.fp16_sources and array.dtype == np.float32 and self.store_fp16:
            self.initializers.append(numpy_helper.from_array(array.astype(np.float16), f"{name}_fp16"))
            self.nodes.append(helper.make_node("Cast", [f"{name}_fp16"], [name], to=TensorProto.FLOAT))
        else:
            self.initializers.append(numpy_helper.from_array(array, name))
        return name

    # --- ops ---------------------------------------------------------------------------------------

    def activation(self, x: str, act: int, out: str) -> None:
        if act == _ACT_NONE:
            self.nodes.append(helper.make_node("Identity", [x], [out]))
        elif act == _ACT_RELU:
            self.nodes.append(helper.make_node("Relu", [x], [out]))
        elif act == _ACT_RELU6:
            if not self._relu6_bounds:
                self._relu6_bounds = [self.const_input(-1, np.array(v, np.float32), f"_relu6_{v}") for v in (0, 6)]
            self.nodes.append(helper.make_node("Clip", [x, *self._relu6_bounds], [out]))
        else:
            raise NotImplementedError(f"fused activation {act}")

    def _options(self, op, cls):
        opts = cls()
        table = op.BuiltinOptions()
        opts.Init(table.Bytes, table.Pos)
        return opts

    def conv(self, op, inputs, out, depthwise: bool) -> None:
        cls = tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions
        opts = self._options(op, cls)
        if opts.DilationHFactor() != 1 or opts.DilationWFactor() != 1:
            raise NotImplementedError("dilated convolution")
        weight = self.consts[inputs[1]].astype(np.float32)  # (O, KH, KW, I) or depthwise (1, KH, KW, C)
        if depthwise:
            group = self.shape(inputs[0])[3]
            weight = weight.transpose(3, 0, 1, 2)  # (C, 1, KH, KW)
        else:
            group = 1
            weight = weight.transpose(0, 3, 1, 2)  # (O, I, KH, KW)
        kernel = weight.shape[2:]
        stride = (opts.StrideH(), opts.StrideW())
        in_hw = self.shape(inputs[0])[1:3]
        pads = same_pads(in_hw, kernel, stride) if opts.Padding() == tflite.Padding.SAME else [0, 0, 0, 0]
        args = [self.name(inputs[0]), self.const_input(inputs[1], weight)]
        if len(inputs) > 2 and inputs[2] >= 0:
            args.append(self.const_input(inputs[2], self.consts[inputs[2]].astype(np.float32)))
        conv_out = f"{out}_conv"
        self.nodes.append(helper.make_node("Conv", args, [conv_out], kernel_shape=list(kernel),
                                           strides=list(stride), pads=pads, group=group))
        self.activation(conv_out, opts.FusedActivationFunction(), out)

    def max_pool(self, op, inputs, out) -> None:
        opts = self._options(op, tflite.Pool2DOptions)
        kernel = (opts.FilterHeight(), opts.FilterWidth())
        stride = (opts.StrideH(), opts.StrideW())
        in_hw = self.shape(inputs[0])[1:3]
        # TensorFlow's SAME max pooling ignores the padded cells, as ONNX's MaxPool does.
        pads = same_pads(in_hw, kernel, stride) if opts.Padding() == tflite.Padding.SAME else [0, 0, 0, 0]
        pool_out = f"{out}_pool"
        self.nodes.append(helper.make_node("MaxPool", [self.name(inputs[0])], [pool_out], kernel_shape=list(kernel),
                                           strides=list(stride), pads=pads))
        self.activation(pool_out, opts.FusedActivationFunction(), out)

    def reshape(self, inputs, output, out) -> None:
        target = self.shape(output)
        if len(target) == 4:
            raise NotImplementedError("4D reshape")
        # Back to NHWC first so the flattening order is tflite's; batch kept dynamic (0 = copy).
        source = self.name(inputs[0])
        if len(self.shape(inputs[0])) == 4:
            source = f"{out}_nhwc"
            self.nodes.append(helper.make_node("Transpose", [self.name(inputs[0])], [source], perm=[0, 2, 3, 1]))
        shape = self.const_input(output, np.array([0, *target[1:-1], -1], np.int64), "_shape")
        self.nodes.append(helper.make_node("Reshape", [source, shape], [out]))

    def emit(self, op) -> None:
        code = self.model.OperatorCodes(op.OpcodeIndex())
        kind = _OPNAMES[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        inputs = [int(i) for i in op.InputsAsNumpy()]
        output = int(op.OutputsAsNumpy()[0])
        out = self.name(output)
        if kind in ("DEQUANTIZE", "DENSIFY"):
            # Constant folding: fp16 (possibly sparse) weights become dense fp32 constants.
            value = self.consts[inputs[0]]
            self.consts[output] = value.astype(np.float32) if kind == "DEQUANTIZE" else value
            if value.dtype == np.float16 or inputs[0] in self.fp16_sources:
                self.fp16_sources.add(output)
        elif kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            self.conv(op, inputs, out, depthwise=kind == "DEPTHWISE_CONV_2D")
        elif kind == "MAX_POOL_2D":
            self.max_pool(op, inputs, out)
        elif kind == "ADD":
            opts = self._options(op, tflite.AddOptions)
            self.nodes.append(helper.make_node("Add", [self.name(i) for i in inputs], [f"{out}_add"]))
            self.activation(f"{out}_add", opts.FusedActivationFunction(), out)
        elif kind == "LOGISTIC":
            self.nodes.append(helper.make_node("Sigmoid", [self.name(inputs[0])], [out]))
        elif kind == "PAD":
            nhwc = self.consts[inputs[1]].astype(np.int64)  # (4, 2): before/after per NHWC dim
            nchw = nhwc[[0, 3, 1, 2]]
            pads = self.const_input(output, np.concatenate([nchw[:, 0], nchw[:, 1]]), "_pads")
            self.nodes.append(helper.make_node("Pad", [self.name(inputs[0]), pads], [out], mode="constant"))
        elif kind == "DEPTH_TO_SPACE":
            opts = self._options(op, tflite.DepthToSpaceOptions)
            # TF's NHWC depth_to_space channel order is ONNX's DCR mode.
            self.nodes.append(helper.make_node("DepthToSpace", [self.name(inputs[0])], [out],
                                               blocksize=opts.BlockSize(), mode="DCR"))
        elif kind == "RESIZE_BILINEAR":
            opts = self._options(op, tflite.ResizeBilinearOptions)
            if opts.AlignCorners() or not opts.HalfPixelCenters():
                raise NotImplementedError("only half-pixel-centre bilinear resizing is handled")
            in_hw = self.shape(inputs[0])[1:3]
            out_hw = self.consts[inputs[1]]
            scales = np.array([1, 1, out_hw[0] / in_hw[0], out_hw[1] / in_hw[1]], np.float32)
            self.nodes.append(helper.make_node(
                "Resize", [self.name(inputs[0]), "", self.const_input(output, scales, "_scales")], [out],
                mode="linear", coordinate_transformation_mode="half_pixel"))
        elif kind == "RESHAPE":
            self.reshape(inputs, output, out)
        elif kind == "CONCATENATION":
            opts = self._options(op, tflite.ConcatenationOptions)
            if len(self.shape(output)) == 4:
                raise NotImplementedError("4D concatenation")
            self.nodes.append(helper.make_node("Concat", [self.name(i) for i in inputs], [f"{out}_cat"],
                                               axis=opts.Axis()))
            self.activation(f"{out}_cat", opts.FusedActivationFunction(), out)
        else:
            raise NotImplementedError(f"tflite op {kind}")

    # --- the graph ---------------------------------------------------------------------------------

    def convert(self, input_name: str, outputs: dict[str, str], graph_name: str,
                nchw_outputs: Sequence[str] = ()) -> onnx.ModelProto:
        """The ONNX model: input `input_name` (N, H, W, C) float32 (tflite's layout, batch dynamic) and
        `outputs` {onnx name: tflite tensor name}. 4D outputs are NHWC as in tflite unless named in
        `nchw_outputs`. Ops that feed none of the outputs are left out."""
        (inp,) = self.input_indices()
        by_name = {self.tensor_name(i): i for i in self.output_indices()}
        missing = [t for t in outputs.values() if t not in by_name]
        if missing:
            raise KeyError(f"no output tensor(s) {missing}; the model has {sorted(by_name)}")
        self.nodes.append(helper.make_node("Transpose", [input_name], [self.name(inp)], perm=[0, 3, 1, 2]))
        for k in range(self.graph.OperatorsLength()):
            self.emit(self.graph.Operators(k))
        value_infos = []
        for onnx_name, tensor in outputs.items():
            index = by_name[tensor]
            shape = ["N", *self.shape(index)[1:]]
            if len(shape) == 4 and onnx_name in nchw_outputs:
                shape = [shape[0], shape[3], shape[1], shape[2]]
                self.nodes.append(helper.make_node("Identity", [self.name(index)], [onnx_name]))
            elif len(shape) == 4:
                self.nodes.append(helper.make_node("Transpose", [self.name(index)], [onnx_name], perm=[0, 2, 3, 1]))
            else:
                self.nodes.append(helper.make_node("Identity", [self.name(index)], [onnx_name]))
            value_infos.append(helper.make_tensor_value_info(onnx_name, TensorProto.FLOAT, shape))
        in_shape = ["N", *self.shape(inp)[1:]]
        graph = helper.make_graph(self.nodes, graph_name,
                                  [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, in_shape)],
                                  value_infos, self.initializers)
        prune_to_outputs(graph)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model
