"""What every conversion script shares: the real images it checks on, the parity figures, the model card.

Images: frames of every clip in ../shared/data (video/ and multiview/), each letterboxed whole and as a
centred square, plus a blank and a noise image. Fixtures for the tests are cut from the Apache-2.0 clips
only (never from LSP/LSPET, whose photos are for research and are never shipped).
"""

from __future__ import annotations

import datetime
import json
import pathlib

import cv2
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
ASSETS = ROOT / "engine" / "assets"
FIXTURES = ROOT / "tests" / "fixtures"
# Fixture frame: pose_1.mp4 (Apache-2.0, tensorflow/tfjs-models), a dancer in full view.
FIXTURE_CLIP = DATA / "video" / "pose_1.mp4"
FIXTURE_FRAME = 60


def read_frame(path: pathlib.Path, index: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB frame `index` of a video (rotation metadata applied)."""
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, bgr = cap.read()
    cap.release()
    if not ok:
        raise SystemExit(f"cannot read frame {index} of {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def square_fit(frame: np.ndarray, size: int, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """(size, size, 3) uint8: the whole frame scaled to fit, centred on black."""
    h, w = frame.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    canvas = np.zeros((size, size, 3), np.uint8)
    y0, x0 = (size - nh) // 2, (size - nw) // 2
    canvas[y0:y0 + nh, x0:x0 + nw] = cv2.resize(frame, (nw, nh), interpolation=interpolation)
    return canvas


def centre_square(frame: np.ndarray, size: int) -> np.ndarray:
    """(size, size, 3) uint8: the frame's centred square of its shorter side, resized."""
    h, w = frame.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    return cv2.resize(frame[y0:y0 + side, x0:x0 + side], (size, size), interpolation=cv2.INTER_AREA)


def clips() -> list[pathlib.Path]:
    return sorted((DATA / "video").glob("*.mp4")) + sorted((DATA / "multiview" / "pose2sim_single").glob("*.mp4"))


def verification_images(size: int) -> np.ndarray:
    """(B, size, size, 3) uint8 RGB: real frames (two per clip, whole and centred square), blank, noise."""
    images = []
    for clip in clips():
        cap = cv2.VideoCapture(str(clip))
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
        for index in (0, count // 2):
            frame = read_frame(clip, index)
            images += [square_fit(frame, size), centre_square(frame, size)]
    rng = np.random.default_rng(0)
    images.append(np.zeros((size, size, 3), np.uint8))
    images.append(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    return np.stack(images)


def fixture_image(size: int) -> np.ndarray:
    """(size, size, 3) uint8: the fixture frame's centred square (the dancer fills most of it)."""
    return centre_square(read_frame(FIXTURE_CLIP, FIXTURE_FRAME), size)


def max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


def save_verified(model, out: pathlib.Path, verify, tolerance: dict[str, float], what: str) -> dict[str, float]:
    """Save `model` beside `out`, run verify(tmp_path) -> {figure: value}, keep it as `out` only when every
    figure named in `tolerance` is within it (else exit naming them); returns the figures."""
    import onnx

    tmp = out.with_suffix(".onnx.tmp")
    onnx.save(model, str(tmp))
    figures = verify(tmp)
    failed = {k: v for k, v in figures.items() if k in tolerance and v > tolerance[k]}
    if failed:
        tmp.unlink()
        raise SystemExit(f"{what}: the ONNX file differs from the original beyond tolerance: {failed}")
    tmp.replace(out)
    summary = ", ".join(f"{k} {v:.1e}" for k, v in figures.items())
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB): {summary}")
    return figures


def write_card(onnx_path: pathlib.Path, title: str, lines: list[str], figures: dict) -> pathlib.Path:
    """The short card beside a converted file: what it is, where from, and its measured parity."""
    card = onnx_path.with_suffix(".md")
    body = [f"# {onnx_path.name}: {title}", "", *lines, "",
            f"Parity with the original runtime (measured {datetime.date.today().isoformat()}, "
            f"{figures.get('images', '?')} images: real frames of ../shared/data's clips, blank, noise):", ""]
    body += ["| quantity | max abs difference |", "|---|---|"]
    body += [f"| {k} | {v:.2e} |" for k, v in figures.items() if k != "images"]
    body += ["", f"File size: {onnx_path.stat().st_size / 1e6:.2f} MB. Raw figures: `{json.dumps(figures)}`", ""]
    card.write_text("\n".join(body))
    return card
