"""Convert MediaPipe's BlazePose person detector (pose_detection.tflite) to ONNX, once, and verify it.

The engine's default person detector (engine/capture/detector.py) runs the result in ONNX Runtime; this
script is how engine/assets/person_detector.onnx was made. It is not run by the engine or the tests.

Source: `mediapipe/modules/pose_detection/pose_detection.tflite` inside the mediapipe 0.10.21 wheel
(Apache-2.0, (c) Google LLC; license text in engine/assets/LICENSE-mediapipe.txt).

What it does: parses the .tflite flatbuffer with the `tflite` package, densifies the sparse (CSR) fp16
weights, dequantises every fp16 constant to fp32, and writes the same network as an ONNX graph (opset 17)
in NCHW layout with onnx.helper. The ONNX input keeps the tflite layout so both can be fed the same array:
`image` (N, 224, 224, 3) float32, RGB letterboxed to 224x224 and scaled to [-1, 1]; outputs `boxes`
(N, 2254, 12) raw SSD regressors (box dx, dy, w, h, then 4 keypoints x, y, in input pixels relative to
each anchor) and `scores` (N, 2254, 1) logits. The batch dimension is dynamic.

Verification: runs the .tflite in LiteRT's interpreter and the .onnx in ONNX Runtime on real frames from
../shared/data (and a blank and a noise image) and fails unless every output agrees within 1e-4.

Reproduce (a throwaway venv, never the project's .venv: mediapipe pins numpy<2 and protobuf<5):

    python3.11 -m venv /work/venvs/convert
    /work/venvs/convert/bin/pip install mediapipe==0.10.21
    /work/venvs/convert/bin/pip install tflite==2.18.0 ai-edge-litert==2.3.0 onnx==1.23.2 onnxruntime==1.32.0
    /work/venvs/convert/bin/python scripts/convert_blazepose_detector.py

It also (re)writes tests/fixtures/person_detector_tflite.npz: the tflite model's outputs on one real frame,
which tests/test_detector.py holds the committed ONNX file to.

(pip then warns that mediapipe wants protobuf<5: harmless here, mediapipe is only the file's source.)
"""

from __future__ import annotations

import argparse
import importlib.util
import pathlib
import sys

import cv2
import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "engine" / "assets" / "person_detector.onnx"
DEFAULT_FIXTURE = ROOT / "tests" / "fixtures" / "person_detector_tflite.npz"
DATA = ROOT.parent / "shared" / "data"
INPUT_SIZE = 224
OPSET = 17

_DTYPES = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
           tflite.TensorType.INT32: np.int32}
_OPNAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_ACT_NONE, _ACT_RELU, _ACT_RELU6 = 0, 1, 3


def find_tflite() -> pathlib.Path:
    """The pose_detection.tflite of the installed mediapipe wheel (found without importing mediapipe)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("mediapipe is not installed in this venv: see this script's docstring, or pass --tflite")
    path = pathlib.Path(list(spec.submodule_search_locations)[0]) / "modules/pose_detection/pose_detection.tflite"
    if not path.is_file():
        sys.exit(f"{path} is missing: install mediapipe==0.10.21")
    return path


def _vector(union_type: int, table) -> np.ndarray:
    cls = {tflite.SparseIndexVector.Int32Vector: tflite.Int32Vector,
           tflite.SparseIndexVector.Uint16Vector: tflite.Uint16Vector,
           tflite.SparseIndexVector.Uint8Vector: tflite.Uint8Vector}[union_type]
    vec = cls()
    vec.Init(table.Bytes, table.Pos)
    return vec.ValuesAsNumpy().astype(np.int64)


def densify(values: np.ndarray, shape: tuple[int, ...], sparsity) -> np.ndarray:
    """Dense array of `shape` from tflite's sparse storage: leading dims dense, the last one CSR.

    That is the only layout this model uses (traversal order identity, no block map); anything else fails
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


class Converter:
    """Walks the tflite subgraph once and emits ONNX nodes; 4D activations are kept NCHW."""

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

    def _tensor(self, i: int):
        return self.graph.Tensors(i)

    def _shape(self, i: int) -> tuple[int, ...]:
        return tuple(int(d) for d in self._tensor(i).ShapeAsNumpy())

    def _read_constants(self) -> None:
        for i in range(self.graph.TensorsLength()):
            t = self._tensor(i)
            buf = self.model.Buffers(t.Buffer())
            if buf is None or buf.DataLength() == 0:
                continue
            values = np.frombuffer(buf.DataAsNumpy().tobytes(), _DTYPES[t.Type()])
            sparsity = t.Sparsity()
            self.consts[i] = (densify(values, self._shape(i), sparsity) if sparsity is not None
                              else values.reshape(self._shape(i)))

    def name(self, i: int) -> str:
        return f"t{i}"

    def const_input(self, i: int, array: np.ndarray, suffix: str = "") -> str:
        name = f"{self.name(i)}{suffix}_const"
        if name in self._const_names:  # tflite shares some constants between ops
            return name
        self._const_names.add(name)
        if i in self.fp16_sources and array.dtype == np.float32 and self.store_fp16:
            # Stored as the model's own fp16 values (exact), cast to fp32 in the graph: ONNX Runtime folds the
            # Cast at load, so inference is fp32 while the file stays half the size.
            self.initializers.append(numpy_helper.from_array(array.astype(np.float16), f"{name}_fp16"))
            self.nodes.append(helper.make_node("Cast", [f"{name}_fp16"], [name], to=TensorProto.FLOAT))
        else:
            self.initializers.append(numpy_helper.from_array(array, name))
        return name

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

    def _same_pads(self, in_hw, kernel_hw, stride_hw) -> list[int]:
        before, after = [], []
        for size, k, s in zip(in_hw, kernel_hw, stride_hw, strict=True):
            out = -(-size // s)
            total = max((out - 1) * s + k - size, 0)
            before.append(total // 2)
            after.append(total - total // 2)
        return before + after

    def conv(self, op, inputs, out, depthwise: bool) -> None:
        cls = tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions
        opts = self._options(op, cls)
        if opts.DilationHFactor() != 1 or opts.DilationWFactor() != 1:
            raise NotImplementedError("dilated convolution")
        weight = self.consts[inputs[1]].astype(np.float32)  # (O, KH, KW, I) or depthwise (1, KH, KW, C)
        if depthwise:
            group = self._shape(inputs[0])[3]
            weight = weight.transpose(3, 0, 1, 2)  # (C, 1, KH, KW)
        else:
            group = 1
            weight = weight.transpose(0, 3, 1, 2)  # (O, I, KH, KW)
        kernel = weight.shape[2:]
        stride = (opts.StrideH(), opts.StrideW())
        in_hw = self._shape(inputs[0])[1:3]
        pads = self._same_pads(in_hw, kernel, stride) if opts.Padding() == tflite.Padding.SAME else [0, 0, 0, 0]
        args = [self.name(inputs[0]), self.const_input(inputs[1], weight)]
        if len(inputs) > 2 and inputs[2] >= 0:
            args.append(self.const_input(inputs[2], self.consts[inputs[2]].astype(np.float32)))
        conv_out = f"{out}_conv"
        self.nodes.append(helper.make_node("Conv", args, [conv_out], kernel_shape=list(kernel),
                                           strides=list(stride), pads=pads, group=group))
        self.activation(conv_out, opts.FusedActivationFunction(), out)

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
        elif kind == "ADD":
            opts = self._options(op, tflite.AddOptions)
            self.nodes.append(helper.make_node("Add", [self.name(i) for i in inputs], [f"{out}_add"]))
            self.activation(f"{out}_add", opts.FusedActivationFunction(), out)
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
            in_hw = self._shape(inputs[0])[1:3]
            out_hw = self.consts[inputs[1]]
            scales = np.array([1, 1, out_hw[0] / in_hw[0], out_hw[1] / in_hw[1]], np.float32)
            self.nodes.append(helper.make_node(
                "Resize", [self.name(inputs[0]), "", self.const_input(output, scales, "_scales")], [out],
                mode="linear", coordinate_transformation_mode="half_pixel"))
        elif kind == "RESHAPE":
            # Back to NHWC first so the flattening order is tflite's; batch kept dynamic (0 = copy).
            nhwc = f"{out}_nhwc"
            self.nodes.append(helper.make_node("Transpose", [self.name(inputs[0])], [nhwc], perm=[0, 2, 3, 1]))
            target = self._shape(output)
            shape = self.const_input(output, np.array([0, -1, target[-1]], np.int64), "_shape")
            self.nodes.append(helper.make_node("Reshape", [nhwc, shape], [out]))
        elif kind == "CONCATENATION":
            opts = self._options(op, tflite.ConcatenationOptions)
            if len(self._shape(output)) == 4:
                raise NotImplementedError("4D concatenation")
            self.nodes.append(helper.make_node("Concat", [self.name(i) for i in inputs], [f"{out}_cat"],
                                               axis=opts.Axis()))
            self.activation(f"{out}_cat", opts.FusedActivationFunction(), out)
        else:
            raise NotImplementedError(f"tflite op {kind}")

    def convert(self) -> onnx.ModelProto:
        (inp,) = [int(i) for i in self.graph.InputsAsNumpy()]
        boxes_idx, scores_idx = [int(i) for i in self.graph.OutputsAsNumpy()]
        if self._shape(boxes_idx)[-1] != 12 or self._shape(scores_idx)[-1] != 1:
            raise NotImplementedError("unexpected output order")
        self.nodes.append(helper.make_node("Transpose", ["image"], [self.name(inp)], perm=[0, 3, 1, 2]))
        for k in range(self.graph.OperatorsLength()):
            self.emit(self.graph.Operators(k))
        self.nodes.append(helper.make_node("Identity", [self.name(boxes_idx)], ["boxes"]))
        self.nodes.append(helper.make_node("Identity", [self.name(scores_idx)], ["scores"]))
        n = self._shape(boxes_idx)[1]
        graph = helper.make_graph(
            self.nodes, "blazepose_person_detector",
            [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", INPUT_SIZE, INPUT_SIZE, 3])],
            [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", n, 12]),
             helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", n, 1])],
            self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="planted scripts/convert_blazepose_detector.py")
        model.ir_version = 8
        model.doc_string = ("MediaPipe BlazePose pose_detection.tflite (mediapipe 0.10.21, Apache-2.0, Google LLC), "
                            "converted to ONNX with fp16 weights dequantised to fp32.")
        helper.set_model_props(model, {"source": "mediapipe==0.10.21 modules/pose_detection/pose_detection.tflite",
                                       "license": "Apache-2.0", "input_range": "[-1, 1] RGB letterboxed 224x224"})
        onnx.checker.check_model(model)
        return model


def letterbox(frame_rgb: np.ndarray) -> np.ndarray:
    """(224, 224, 3) float32 in [-1, 1]: the frame scaled to fit and centred on black, as the engine does."""
    h, w = frame_rgb.shape[:2]
    scale = INPUT_SIZE / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    canvas = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    y0, x0 = (INPUT_SIZE - nh) // 2, (INPUT_SIZE - nw) // 2
    canvas[y0:y0 + nh, x0:x0 + nw] = cv2.resize(frame_rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return canvas.astype(np.float32) / 127.5 - 1.0


def write_fixture(tflite_path: pathlib.Path, out: pathlib.Path, top: int = 20) -> None:
    """The tflite model's own outputs on one real frame, for tests/test_detector.py to hold the ONNX to.

    Saves `image` (224, 224, 3) uint8 (pose_1.mp4 frame 60, letterboxed: the test feeds image / 127.5 - 1),
    `scores` (2254,) logits, `top_index` (top,) the best anchors and `top_boxes` (top, 12) their regressors.
    """
    from ai_edge_litert.interpreter import Interpreter

    cap = cv2.VideoCapture(str(DATA / "video" / "pose_1.mp4"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 60)
    ok, bgr = cap.read()
    if not ok:
        sys.exit("cannot read pose_1.mp4 frame 60")
    image = np.round((letterbox(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)) + 1.0) * 127.5).astype(np.uint8)
    interpreter = Interpreter(model_path=str(tflite_path))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"],
                           (image.astype(np.float32) / 127.5 - 1.0)[None])
    interpreter.invoke()
    boxes, scores = (interpreter.get_tensor(d["index"])[0] for d in
                     sorted(interpreter.get_output_details(), key=lambda d: -int(d["shape"][-1])))
    order = np.argsort(-scores[:, 0])[:top]
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, image=image, scores=scores[:, 0], top_index=order, top_boxes=boxes[order])
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB)")


def verification_images() -> np.ndarray:
    """(B, 224, 224, 3) real frames from every shared clip plus a blank and a noise image."""
    clips = sorted((DATA / "video").glob("*.mp4")) + sorted((DATA / "multiview" / "pose2sim_single").glob("*.mp4"))
    images = []
    for clip in clips:
        cap = cv2.VideoCapture(str(clip))
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        for index in (0, count // 2):
            cap.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, bgr = cap.read()
            if ok:
                images.append(letterbox(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
        cap.release()
    rng = np.random.default_rng(0)
    images.append(np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.float32))
    images.append(rng.uniform(-1, 1, (INPUT_SIZE, INPUT_SIZE, 3)).astype(np.float32))
    return np.stack(images)


def verify(tflite_path: pathlib.Path, onnx_path: pathlib.Path, tolerance: float = 1e-4) -> dict[str, float]:
    """Compare ONNX Runtime with LiteRT on the verification images; exits if they differ beyond `tolerance`.

    Checked within `tolerance`, absolutely: what the engine uses, i.e. sigmoid scores and box/keypoint
    coordinates as fractions of the 224 px input; relatively (|diff| / largest |output|): the raw outputs.
    The raw outputs reach about 230 (logits, pixel offsets), where float32 summation order alone moves
    them by a few 1e-3: LiteRT's own XNNPACK and reference kernels differ from each other that much.
    """
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(tflite_path))
    interpreter.allocate_tensors()
    in_index = interpreter.get_input_details()[0]["index"]
    out_details = sorted(interpreter.get_output_details(), key=lambda d: -int(d["shape"][-1]))
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    images = verification_images()
    onnx_boxes, onnx_scores = session.run(["boxes", "scores"], {"image": images})
    ref_boxes, ref_scores = np.empty_like(onnx_boxes), np.empty_like(onnx_scores)
    for b, image in enumerate(images):
        interpreter.set_tensor(in_index, image[None])
        interpreter.invoke()
        ref_boxes[b], ref_scores[b] = (interpreter.get_tensor(d["index"])[0] for d in out_details)

    def sigmoid(x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(x.astype(np.float64), -100, 100)))

    diffs = {
        "raw_abs": float(max(np.abs(ref_boxes - onnx_boxes).max(), np.abs(ref_scores - onnx_scores).max())),
        "raw_rel": float(max(np.abs(ref_boxes - onnx_boxes).max() / np.abs(ref_boxes).max(),
                             np.abs(ref_scores - onnx_scores).max() / np.abs(ref_scores).max())),
        "score_abs": float(np.abs(sigmoid(ref_scores) - sigmoid(onnx_scores)).max()),
        "coord_abs": float(np.abs(ref_boxes - onnx_boxes).max() / INPUT_SIZE),
    }
    print(f"verified on {len(images)} images (14 real frames, blank, noise; ONNX batched): "
          + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()))
    failed = {k: v for k, v in diffs.items() if k != "raw_abs" and v > tolerance}
    if failed:
        sys.exit(f"ONNX differs from the tflite model beyond {tolerance:.0e}: {failed}")
    return diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tflite", type=pathlib.Path, default=None,
                        help="pose_detection.tflite (default: the installed mediapipe's)")
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    parser.add_argument("--fixture", type=pathlib.Path, default=DEFAULT_FIXTURE,
                        help="where to write the test fixture (the tflite model's outputs on a real frame)")
    parser.add_argument("--fp32-weights", action="store_true",
                        help="store weights as fp32 (twice the file size; same outputs)")
    args = parser.parse_args()
    source = args.tflite or find_tflite()
    model = Converter(source.read_bytes(), store_fp16=not args.fp32_weights).convert()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".onnx.tmp")
    onnx.save(model, str(tmp))
    tmp.replace(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) from {source}")
    verify(source, args.out)
    write_fixture(source, args.fixture)


if __name__ == "__main__":
    main()
