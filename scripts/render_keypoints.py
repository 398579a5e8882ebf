"""A PNG of video frames with a capture's keypoints drawn on them (and BlazePose's region outlined).

    .venv/bin/python scripts/render_keypoints.py MOTION.npz VIDEO -o frames.png [--frames 0,20,40,60]

MOTION.npz is what `planted capture` wrote for VIDEO. Default frames: eight spread over the clip.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import cv2
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from engine.capture.video import VideoReader  # noqa: E402
from engine.keypoints.roi import Roi  # noqa: E402
from engine.render.keypoints import contact_sheet, draw_keypoints  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("motion")
    parser.add_argument("video")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--frames", default=None, help="comma-separated motion frame numbers")
    args = parser.parse_args()
    with np.load(args.motion, allow_pickle=False) as data:
        points, conf = data["keypoints_2d"], data["keypoint_confidence"]
        roi, indices = data["keypoint_roi"], data["frame_indices"]
    t = len(points)
    if args.frames:
        picks = [int(f) for f in args.frames.split(",")]
    else:
        picks = np.linspace(0, t - 1, 8).round().astype(int).tolist()
    wanted = {int(indices[p]): p for p in picks}
    images, labels = [], []
    for frame in VideoReader(args.video).frames():
        if frame.index in wanted:
            p = wanted[frame.index]
            r = roi[p]
            r = r.astype(np.float64)
            corners = Roi(r[None, :2], r[2:3], r[3:4]).corners()[0]
            images.append(draw_keypoints(frame.image, points[p], conf[p], roi_corners=corners))
            labels.append(f"frame {frame.index}")
    sheet = contact_sheet(images, labels)
    pathlib.Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(args.output, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.output} ({len(images)} frames)")


if __name__ == "__main__":
    main()
