"""Convert BlazePose GHUM's landmark models (lite, full, heavy) from the npm package to ONNX, and verify them.

Source: `npm pack @mediapipe/pose@0.5.1675469404` (Apache-2.0, Google LLC): package/pose_landmark_lite.tflite,
_full.tflite, _heavy.tflite. scripts/convert/setup_venv.sh fetches and unpacks it into .cache/npm/.
Writes engine/assets/blazepose_landmark_{lite,full,heavy}.onnx, a card beside each with the parity
figures, and tests/fixtures/blazepose_landmark_reference.npz (LiteRT's outputs on one real ROI).

The ONNX files (opset 17, fp16 weights as in the tflite files, batch dynamic):
    input  image            (N, 256, 256, 3) float32 RGB in [0, 1]: the ROI, upright for the body
    output landmarks        (N, 195) 39 points x (x, y, z, visibility logit, presence logit); x, y in ROI
                                     pixels (0..256), z in the same scale, relative to the hips' depth
           pose_flag        (N, 1)   probability that a person is in the ROI
           heatmap          (N, 39, 64, 64) logits, one map per point (NCHW, a 4 px grid over the ROI)
           world_landmarks  (N, 117) 39 points x (x, y, z) metres, hip-centred, ROI axes (y down)
The model's segmentation output is left out (the ops that only feed it are pruned).

Verification: LiteRT (ai-edge-litert, its reference kernels) and ONNX Runtime on real frames; fails beyond the
tolerances. The card also gives the difference from LiteRT's XNNPACK delegate, what MediaPipe runs.

    bash scripts/convert/setup_venv.sh
    .venv-convert/bin/python scripts/convert/blazepose_landmarks.py
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np
import onnx
from onnx import helper

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
from tflite_graph import TfliteToOnnx  # noqa: E402

PACKAGE = "@mediapipe/pose@0.5.1675469404"
DEFAULT_PACKAGE_DIR = ROOT / ".cache" / "npm" / "mediapipe-pose" / "package"
VARIANTS = ("lite", "full", "heavy")
SIZE = 256
OUTPUTS = {"landmarks": "Identity", "pose_flag": "Identity_1", "heatmap": "Identity_3",
           "world_landmarks": "Identity_4"}
# Max abs differences allowed: ROI pixels for landmarks (x, y, z), logits for visibility/presence and the
# heatmap, probability for the flag, metres for world landmarks. float32 summation order alone moves
# deep-layer activations by ~1e-4 relative.
TOLERANCE = {"landmarks_xyz_px": 0.02, "landmarks_logits": 0.01, "pose_flag": 1e-4, "heatmap": 0.01,
             "world_landmarks_m": 1e-4}


def convert(tflite_bytes: bytes, variant: str) -> onnx.ModelProto:
    model = TfliteToOnnx(tflite_bytes).convert("image", OUTPUTS, f"blazepose_landmark_{variant}",
                                               nchw_outputs=("heatmap",))
    model.producer_name = "planted scripts/convert/blazepose_landmarks.py"
    model.doc_string = (f"BlazePose GHUM pose_landmark_{variant}.tflite from npm {PACKAGE} (Apache-2.0, Google LLC), "
                        "converted (modified) to ONNX by Planted; segmentation output removed.")
    helper.set_model_props(model, {"source": f"npm {PACKAGE} pose_landmark_{variant}.tflite", "license": "Apache-2.0",
                                   "input_range": "[0, 1] RGB 256x256 ROI", "planted_keypoint_model": "blazepose",
                                   "variant": variant})
    return model


def run_litert(tflite_path: pathlib.Path, images: np.ndarray, reference_kernels: bool = True) -> dict[str, np.ndarray]:
    """The original model in LiteRT, one image at a time: {onnx output name: (B, ...)} in the ONNX layouts.

    reference_kernels: LiteRT's reference kernels (exact fp32 op semantics); False: its default XNNPACK
    delegate (MediaPipe's), whose own summation order differs from the reference by up to ~0.02 px.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.BUILTIN_REF if reference_kernels else OpResolverType.AUTO
    interpreter = Interpreter(model_path=str(tflite_path), experimental_op_resolver_type=resolver)
    interpreter.allocate_tensors()
    in_index = interpreter.get_input_details()[0]["index"]
    by_name = {d["name"]: d["index"] for d in interpreter.get_output_details()}
    out: dict[str, list] = {k: [] for k in OUTPUTS}
    for image in images:
        interpreter.set_tensor(in_index, image[None])
        interpreter.invoke()
        for onnx_name, tensor in OUTPUTS.items():
            out[onnx_name].append(interpreter.get_tensor(by_name[tensor])[0])
    result = {k: np.stack(v) for k, v in out.items()}
    result["heatmap"] = result["heatmap"].transpose(0, 3, 1, 2)
    return result


def run_onnx(onnx_path: pathlib.Path, images: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return dict(zip(OUTPUTS, session.run(list(OUTPUTS), {"image": images}), strict=True))


def parity(ref: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> dict[str, float]:
    lm_ref, lm_got = ref["landmarks"].reshape(-1, 39, 5), got["landmarks"].reshape(-1, 39, 5)
    return {
        "landmarks_xyz_px": max_abs(lm_ref[..., :3], lm_got[..., :3]),
        "landmarks_logits": max_abs(lm_ref[..., 3:], lm_got[..., 3:]),
        "pose_flag": max_abs(ref["pose_flag"], got["pose_flag"]),
        "heatmap": max_abs(ref["heatmap"], got["heatmap"]),
        "world_landmarks_m": max_abs(ref["world_landmarks"], got["world_landmarks"]),
    }


def fixture_entries(variant: str, ref: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What the tests hold the committed file to: landmarks, flag, world landmarks, and each heatmap's peak."""
    heat = ref["heatmap"][0].reshape(39, -1)
    return {f"{variant}_landmarks": ref["landmarks"][0], f"{variant}_pose_flag": ref["pose_flag"][0],
            f"{variant}_world_landmarks": ref["world_landmarks"][0],
            f"{variant}_heatmap_argmax": heat.argmax(axis=1), f"{variant}_heatmap_max": heat.max(axis=1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package-dir", type=pathlib.Path, default=DEFAULT_PACKAGE_DIR,
                        help=f"the unpacked `npm pack {PACKAGE}` (its package/ folder)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--out-dir", type=pathlib.Path, default=ASSETS)
    args = parser.parse_args()
    images = verification_images(SIZE).astype(np.float32) / np.float32(255)
    fixture = fixture_image(SIZE)
    entries: dict[str, np.ndarray] = {"image": fixture}
    for variant in args.variants:
        source = args.package_dir / f"pose_landmark_{variant}.tflite"
        if not source.is_file():
            sys.exit(f"{source} is missing: run scripts/convert/setup_venv.sh (it unpacks npm {PACKAGE})")
        out = args.out_dir / f"blazepose_landmark_{variant}.onnx"

        def verify(path: pathlib.Path, source=source) -> dict[str, float]:
            got = run_onnx(path, images)
            figures = parity(run_litert(source, images), got)
            xnnpack = parity(run_litert(source, images, False), got)
            return {**figures, **{f"{k} (vs XNNPACK)": v for k, v in xnnpack.items()}}

        figures = save_verified(convert(source.read_bytes(), variant), out, verify, TOLERANCE, variant)
        write_card(out, f"BlazePose GHUM landmark model ({variant})", [
            f"Converted (modified) from `pose_landmark_{variant}.tflite` in npm `{PACKAGE}` (Apache-2.0, "
            "Copyright Google LLC; license text: LICENSE-mediapipe.txt) by scripts/convert/blazepose_landmarks.py.",
            "The network is unchanged; the segmentation output and the ops feeding only it are removed, weights",
            "are the tflite file's fp16 values. Inputs and outputs: that script's docstring.",
        ], {"images": len(images), **figures})
        entries.update(fixture_entries(variant, run_litert(source, fixture[None].astype(np.float32) / np.float32(255))))
    FIXTURES.mkdir(parents=True, exist_ok=True)
    path = FIXTURES / "blazepose_landmark_reference.npz"
    if set(args.variants) == set(VARIANTS):
        np.savez_compressed(path, **entries)
        print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
