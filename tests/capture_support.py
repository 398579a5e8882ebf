"""Shared by the capture tests: the real clips, the placeholder model, and clip generators."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
VIDEO = DATA / "video"


@lru_cache(maxsize=1)
def placeholder_model() -> Path:
    """An untrained contract model for the active body model: the one scripts/setup.sh made if it fits,
    else exported once (seconds) by scripts/make_placeholder_model.py into a temporary folder."""
    from engine.body.active import load_active_body_model
    from engine.capture.infer import PoseEstimator
    from engine.capture.models import PLACEHOLDER_MODEL_PATH
    from engine.errors import ModelFileError

    body = load_active_body_model()
    if PLACEHOLDER_MODEL_PATH.is_file():
        try:
            PoseEstimator(PLACEHOLDER_MODEL_PATH, body, device="cpu")
            return PLACEHOLDER_MODEL_PATH
        except ModelFileError:
            pass  # made for another body model: export a fitting one below
    out = Path(tempfile.mkdtemp(prefix="planted-placeholder-")) / "placeholder-tiny.onnx"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_placeholder_model.py"), "-o", str(out)],
                   check=True, capture_output=True)
    return out


def planted_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `planted ...` in a subprocess with the shipped default model (PLANTED_MODEL unset unless `env` sets it)."""
    full_env = {k: v for k, v in os.environ.items() if k != "PLANTED_MODEL"}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True,
                          env=full_env, cwd=ROOT)


def loop_clip(source: Path, out: Path, frames: int, fourcc: str = "mp4v") -> Path:
    """A generated clip of `frames` frames: the source's frames played back and forth."""
    capture = cv2.VideoCapture(str(source))
    images = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        images.append(image)
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    cycle = images + images[-2:0:-1]
    h, w = images[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    for k in range(frames):
        writer.write(cycle[k % len(cycle)])
    writer.release()
    return out


def still_clip(out: Path, frames: int = 12, size=(320, 240)) -> Path:
    """A clip of an empty room: a flat wall and floor, no person."""
    image = np.zeros((size[1], size[0], 3), np.uint8)
    image[: size[1] * 2 // 3] = (180, 190, 200)
    image[size[1] * 2 // 3:] = (90, 110, 120)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    for _ in range(frames):
        writer.write(image)
    writer.release()
    return out


def two_people_clip(out: Path, frames: int = 24) -> Path:
    """Two real people side by side: the dancer of pose_1.mp4 (larger, left) and the squatting woman of
    pose_squats.mp4 (a little smaller, right, on a grey margin)."""
    big, small = cv2.VideoCapture(str(VIDEO / "pose_1.mp4")), cv2.VideoCapture(str(VIDEO / "pose_squats.mp4"))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 30, (876, 576))
    for _ in range(frames):
        ok_a, a = big.read()
        ok_b, b = small.read()
        if not (ok_a and ok_b):
            break
        canvas = np.full((576, 876, 3), 200, np.uint8)
        canvas[:, :576] = a
        canvas[150:534, 620:836] = cv2.resize(b, (216, 384), interpolation=cv2.INTER_AREA)
        writer.write(canvas)
    writer.release()
    return out


def constant_contract_model(out: Path, like: Path, keypoint_shift=(0.0, 0.0), contact: float = 0.5) -> Path:
    """A real ONNX file that honours the model contract (metadata copied from `like`) and answers every
    crop with the same outputs: rest pose, mean shape, s = 1, contacts 0.5, and 2D keypoints spread over
    the crop's middle (x in [-0.45, 0.45], y in [-0.9, 0.9] normalised) shifted by `keypoint_shift`.
    It lets a test know what the network says, so what the pipeline does with it can be checked."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    source = onnx.load(str(like), load_external_data=False)
    props = {p.key: p.value for p in source.metadata_props}
    import json

    meta = json.loads(props["planted"])
    k, vc = len(meta["keypoint_names"]), len(meta["contact_vertex_ids"])
    grid = np.stack(np.meshgrid(np.linspace(-0.45, 0.45, 3), np.linspace(-0.9, 0.9, 10)), -1).reshape(-1, 2)
    kp = (np.resize(grid, (k, 2)) + np.asarray(keypoint_shift)).astype(np.float32)
    pose = np.tile(np.eye(3, dtype=np.float32), (1, 24, 1, 1))
    pose[0, 0] = np.diag([1.0, -1.0, -1.0])
    values = {
        "pose_rotmat": pose,
        "betas": np.zeros((1, 10), np.float32),
        "cam": np.array([[1.0, 0.0, 0.0]], np.float32),
        "contact": np.full((1, vc), contact, np.float32),
        "kp2d_front": kp[None], "kp2d_side": kp[None], "kp2d_top": kp[None],
    }
    nodes = [helper.make_node("Shape", ["image"], ["shape"]),
             helper.make_node("Slice", ["shape", "zero", "one"], ["batch"])]
    inits = [numpy_helper.from_array(np.array([0], np.int64), "zero"),
             numpy_helper.from_array(np.array([1], np.int64), "one")]
    outputs = []
    for name, value in values.items():
        inits += [numpy_helper.from_array(value, f"{name}_value"),
                  numpy_helper.from_array(np.array(value.shape[1:], np.int64), f"{name}_dims")]
        nodes += [helper.make_node("Concat", ["batch", f"{name}_dims"], [f"{name}_shape"], axis=0),
                  helper.make_node("Expand", [f"{name}_value", f"{name}_shape"], [name])]
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, *value.shape[1:]]))
    graph = helper.make_graph(
        nodes, "constant", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, 3, 256, 192])],
        outputs, inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    helper.set_model_props(model, {"planted": props["planted"]})
    onnx.save(model, str(out))
    return out


def _edited_dancer(out: Path, spans: list[tuple[int, int]], edit, frames: int) -> Path:
    """pose_1.mp4 (a dancer, 30 fps, 576x576) with `edit(image)` applied to the frames in each [start, end)."""
    capture = cv2.VideoCapture(str(VIDEO / "pose_1.mp4"))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 30, (576, 576))
    for k in range(frames):
        ok, image = capture.read()
        if not ok:
            break
        writer.write(edit(image) if any(a <= k < b for a, b in spans) else image)
    writer.release()
    return out


def clip_with_gaps(out: Path, empty: list[tuple[int, int]], frames: int = 120) -> Path:
    """pose_1.mp4 (a dancer, 30 fps) with the frames in each [start, end) of `empty` replaced by the
    empty room (the frame's top-left corner stretched over it: no person)."""
    return _edited_dancer(out, empty, lambda image: cv2.resize(image[:100, :100], (576, 576)), frames)


def occluded_clip(out: Path, occluded: list[tuple[int, int]], frames: int = 120) -> Path:
    """pose_1.mp4 (a dancer, 30 fps) with a grey board in front of her in the frames of each [start, end) of
    `occluded`: the whole body hidden, the room around still in view."""
    def board(image: np.ndarray) -> np.ndarray:
        image[:, 60:516] = (128, 128, 128)
        return image

    return _edited_dancer(out, occluded, board, frames)


def crossing_clip(out: Path, frames: int = 120) -> tuple[Path, np.ndarray, np.ndarray]:
    """Two real people, one walking across in front of the other: the dancer of pose_1.mp4 stands still in
    an 800x288 frame (frame x 256-544) while the squatting woman of pose_squats.mp4 (162x288, with her own
    background, so she hides the dancer completely while she passes) slides from the right edge to the
    left one. Returns the clip and each frame's true horizontal centre of the dancer and of the woman (px)."""
    dancer, woman = cv2.VideoCapture(str(VIDEO / "pose_1.mp4")), cv2.VideoCapture(str(VIDEO / "pose_squats.mp4"))
    women = []
    while True:
        ok, image = woman.read()
        if not ok:
            break
        women.append(cv2.resize(image, (162, 288), interpolation=cv2.INTER_AREA))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 30, (800, 288))
    lefts = np.linspace(800 - 162, 0, frames).round().astype(int)
    for k in range(frames):
        ok, a = dancer.read()
        if not ok:
            dancer.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, a = dancer.read()
        canvas = np.full((288, 800, 3), 170, np.uint8)
        canvas[:, 256:544] = cv2.resize(a, (288, 288), interpolation=cv2.INTER_AREA)
        canvas[:, lefts[k]:lefts[k] + 162] = women[k % len(women)]
        writer.write(canvas)
    writer.release()
    return out, np.full(frames, 400.0), lefts + 81.0


def small_people_frame() -> np.ndarray:
    """(576, 1024, 3) RGB: four copies of pose_1.mp4's dancer shrunk to 96 px tall (a street seen from afar)
    on a grey ground, at known places; returns the image (the dancers' centres: SMALL_PEOPLE_CENTRES)."""
    capture = cv2.VideoCapture(str(VIDEO / "pose_1.mp4"))
    ok, image = capture.read()
    small = cv2.resize(image, (128, 128), interpolation=cv2.INTER_AREA)
    canvas = np.full((576, 1024, 3), 150, np.uint8)
    for x, y in SMALL_PEOPLE_CENTRES:
        canvas[y - 64:y + 64, x - 64:x + 64] = small
    return cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB)


SMALL_PEOPLE_CENTRES = ((160, 170), (420, 380), (640, 200), (880, 420))
