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

Reproduce (scripts/convert/setup_venv.sh makes the venv; mediapipe itself stays out of it, its wheel is
only the source: scripts/bench/setup_blazepose_venv.sh installs it into .venv-blazepose):

    bash scripts/convert/setup_venv.sh && bash scripts/bench/setup_blazepose_venv.sh
    .venv-convert/bin/python scripts/convert/blazepose_detector.py \
        --tflite .venv-blazepose/lib/python3.11/site-packages/mediapipe/modules/pose_detection/pose_detection.tflite

It also (re)writes tests/fixtures/person_detector_tflite.npz: the tflite model's outputs on one real frame,
which tests/test_detector.py holds the committed ONNX file to.

"""

from __future__ import annotations

import argparse
import importlib.util
import pathlib
import sys

import cv2
import numpy as np
import onnx
from onnx import helper

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from parity import square_fit  # noqa: E402
from tflite_graph import TfliteToOnnx  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "engine" / "assets" / "person_detector.onnx"
DEFAULT_FIXTURE = ROOT / "tests" / "fixtures" / "person_detector_tflite.npz"
DATA = ROOT.parent / "shared" / "data"
INPUT_SIZE = 224


def find_tflite() -> pathlib.Path:
    """pose_detection.tflite of a mediapipe wheel installed in this venv (found without importing it)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("mediapipe is not installed in this venv: pass --tflite (see this script's docstring)")
    path = pathlib.Path(list(spec.submodule_search_locations)[0]) / "modules/pose_detection/pose_detection.tflite"
    if not path.is_file():
        sys.exit(f"{path} is missing: install mediapipe==0.10.21")
    return path


def convert(model_bytes: bytes, store_fp16: bool = True) -> onnx.ModelProto:
    """The detector as ONNX: input `image` (N, 224, 224, 3), outputs `boxes` (N, 2254, 12), `scores` (N, 2254, 1)."""
    converter = TfliteToOnnx(model_bytes, store_fp16=store_fp16)
    boxes_idx, scores_idx = converter.output_indices()
    if converter.shape(boxes_idx)[-1] != 12 or converter.shape(scores_idx)[-1] != 1:
        raise NotImplementedError("unexpected output order")
    model = converter.convert("image", {"boxes": converter.tensor_name(boxes_idx),
                                        "scores": converter.tensor_name(scores_idx)}, "blazepose_person_detector")
    model.producer_name = "planted scripts/convert/blazepose_detector.py"
    model.doc_string = ("MediaPipe BlazePose pose_detection.tflite (mediapipe 0.10.21, Apache-2.0, Google LLC), "
                        "converted to ONNX with fp16 weights dequantised to fp32.")
    helper.set_model_props(model, {"source": "mediapipe==0.10.21 modules/pose_detection/pose_detection.tflite",
                                   "license": "Apache-2.0", "input_range": "[-1, 1] RGB letterboxed 224x224"})
    return model


def letterbox(frame_rgb: np.ndarray) -> np.ndarray:
    """(224, 224, 3) float32 in [-1, 1]: the frame scaled to fit and centred on black, as the engine does."""
    return square_fit(frame_rgb, INPUT_SIZE, cv2.INTER_LINEAR).astype(np.float32) / 127.5 - 1.0


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
    model = convert(source.read_bytes(), store_fp16=not args.fp32_weights)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".onnx.tmp")
    onnx.save(model, str(tmp))
    tmp.replace(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) from {source}")
    verify(source, args.out)
    write_fixture(source, args.fixture)


if __name__ == "__main__":
    main()
