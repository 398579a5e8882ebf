"""`planted capture` on every bad input of issue 5: one clear line on stderr, non-zero exit, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import onnx
import pytest
from capture_support import (
    ROOT,
    VIDEO,
    constant_contract_model,
    loop_clip,
    placeholder_model,
    planted_cli,
    still_clip,
)
from onnx import TensorProto, helper


def error_lines(run: subprocess.CompletedProcess) -> list[str]:
    return [line for line in run.stderr.splitlines() if line.strip()]


def assert_one_line_error(run: subprocess.CompletedProcess, *needles: str) -> None:
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    assert "Traceback" not in run.stderr
    lines = [line for line in error_lines(run) if not line.startswith("WARNING")]
    assert len(lines) == 1 and lines[0].startswith("planted: error: "), run.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def capture(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return planted_cli("capture", *args, "-q", env=env)


def test_missing_file(tmp_path):
    assert_one_line_error(capture(str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "o.npz")), "not found")


def test_not_a_video(tmp_path):
    fake = tmp_path / "holiday.mp4"
    fake.write_bytes(b"\x00\x01 definitely not a video " * 100)
    assert_one_line_error(capture(str(fake), "-o", str(tmp_path / "o.npz")), "not a video")


@pytest.mark.parametrize("container, fourcc", [("mp4", "mp4v"), ("avi", "MJPG")])
def test_zero_frames(tmp_path, container, fourcc):
    empty = tmp_path / f"empty.{container}"
    cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*fourcc), 10, (64, 48)).release()
    assert_one_line_error(capture(str(empty), "-o", str(tmp_path / "o.npz")), "no frames")


def test_stream_breaking_midway_keeps_what_decoded(tmp_path):
    full = loop_clip(VIDEO / "pose_1.mp4", tmp_path / "full.avi", 40, fourcc="MJPG")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    out = tmp_path / "o.npz"
    run = capture(str(cut), "-o", str(out), "--stride", "4")
    assert run.returncode == 3, run.stderr
    assert "Traceback" not in run.stderr
    assert any("broke at frame" in line for line in error_lines(run))
    with np.load(out) as data:
        assert 2 <= len(data["poses"]) < 10  # what decoded, not the 10 frames the container promised


def test_no_person_anywhere(tmp_path):
    room = still_clip(tmp_path / "room.mp4")
    assert_one_line_error(capture(str(room), "-o", str(tmp_path / "o.npz")), "no person")


def test_model_file_that_is_not_onnx(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_text("not a model")
    run = capture(str(VIDEO / "pose_1.mp4"), "-o", str(tmp_path / "o.npz"), "--model", str(bad),
                  "--estimator", "network")
    assert_one_line_error(run, "not an ONNX model")


def test_onnx_model_that_is_not_ours(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["out"])], "other",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, 3, 256, 192])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [None, 3, 256, 192])],
    )
    other = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), other)
    run = capture(str(VIDEO / "pose_1.mp4"), "-o", str(tmp_path / "o.npz"), "--model", str(other),
                  "--estimator", "network")
    assert_one_line_error(run, "not a Planted one")


def test_model_for_another_body_is_refused(tmp_path):
    model = onnx.load(str(placeholder_model()))
    for prop in model.metadata_props:
        if prop.key == "planted":
            meta = json.loads(prop.value)
            meta["body_model"]["id"] = "someone-elses-body"
            prop.value = json.dumps(meta)
    mismatched = tmp_path / "mismatched.onnx"
    onnx.save(model, str(mismatched))
    run = capture(str(VIDEO / "pose_1.mp4"), "-o", str(tmp_path / "o.npz"), "--model", str(mismatched),
                  "--estimator", "network")
    assert_one_line_error(run, "another body model", "someone-elses-body")


@pytest.mark.parametrize("flag", ["--network-every", "--batch-size", "--stride"])
def test_counts_below_one_name_their_flag(tmp_path, flag):
    run = capture(str(VIDEO / "pose_1.mp4"), "-o", str(tmp_path / "o.npz"), flag, "0")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert f"argument {flag}: must be at least 1, got 0" in run.stderr
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.parametrize("where", ["under_a_file", "wrong_suffix"])
def test_unwritable_output(tmp_path, where):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out = blocker / "o.npz" if where == "under_a_file" else tmp_path / "o.txt"
    assert_one_line_error(capture(str(VIDEO / "pose_1.mp4"), "-o", str(out)), "o.")


def test_cuda_asked_without_a_cuda_runtime(tmp_path):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this ONNX Runtime has CUDA")
    run = capture(str(VIDEO / "pose_1.mp4"), "-o", str(tmp_path / "o.npz"), "--device", "cuda")
    assert_one_line_error(run, "CUDA")


def peak_rss_mb(video, stride: int) -> float:
    """Peak resident memory of a capture in a fresh interpreter, MiB."""
    code = (
        "import resource, sys\n"
        "from engine.capture.pipeline import CaptureSettings, capture\n"
        f"capture({str(video)!r}, CaptureSettings(model_path={str(placeholder_model())!r}, estimator='network', "
        f"stride={stride}, "
        "foot_lock=False, threads=1, batch_size=2))\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return float(run.stdout.strip().splitlines()[-1])


def test_memory_stays_flat_on_a_long_video(tmp_path):
    # Same clip at 200 and 1000 frames (the network sees every 25th): peak memory must not grow with length.
    short = loop_clip(VIDEO / "pose_1.mp4", tmp_path / "short.mp4", 200)
    long = loop_clip(VIDEO / "pose_1.mp4", tmp_path / "long.mp4", 1000)
    rss_short, rss_long = peak_rss_mb(short, 25), peak_rss_mb(long, 25)
    print(f"peak RSS: {rss_short:.0f} MiB at 200 frames, {rss_long:.0f} MiB at 1000 frames")
    assert rss_long - rss_short < 20, (rss_short, rss_long)


def test_summary_reports_planted_feet_and_sliding(tmp_path):
    # A network that says both feet are on the ground in every frame (while the crop, and so the depth,
    # changes as the woman squats): the summary shows both feet planted, and the planted feet held the
    # root, so nothing slides even before locking.
    model = constant_contract_model(tmp_path / "planted.onnx", placeholder_model(), contact=0.95)
    run = capture(str(VIDEO / "pose_squats.mp4"), "-o", str(tmp_path / "o.npz"), "--stride", "2",
                  "--model", str(model), "--estimator", "network")
    assert run.returncode == 0, run.stderr
    lines = {line.split()[0]: line for line in run.stdout.splitlines()[1:]}
    assert "left 100.0 %, right 100.0 %" in lines["planted"]
    numbers = [float(w) for w in lines["foot"].replace(",", " ").split() if w.replace(".", "").isdigit()]
    before, after = numbers
    assert before < 1.0 and after <= before + 0.5
