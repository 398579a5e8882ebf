"""`--overlay OUT.mp4` and `--triview FRAME:OUT.png`: the captured body over the video, and in three views.

The overlay is the video (every captured frame, at the motion's fps) with the final body's mesh blended over
it and the planted heels and toes ringed in red (engine.render.body). The tri-view (as the paper's Figure 5)
shows the body at one frame from the front (the camera's side), from the side (a quarter turn about the
vertical) and from above, orthographically, with the ground and the planted feet. Both write atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from engine.atomic import atomic_path
from engine.capture.video import VideoReader
from engine.errors import MotionFileError, PlantedError
from engine.fit.camera import Camera
from engine.render.body import draw_body
from engine.render.views import final_body, planted_points, world_to_camera

_CHUNK = 32


def _camera(result) -> Camera:
    return Camera.monocular(result.video.width, result.video.height, result.reconstruction.focal_length_px)


def write_overlay(result, body_model, path: str | os.PathLike, progress=None) -> Path:
    """The overlay video (module docstring) of a CaptureResult, to `path` (.mp4)."""
    path = Path(path)
    if path.suffix.lower() != ".mp4":
        raise MotionFileError(f"overlay {path} must end in .mp4")
    camera = _camera(result)
    positions = {int(f): p for p, f in enumerate(result.frame_indices)}
    fourcc = cv2.VideoWriter_fourcc(*"mp4v")
    with atomic_path(path, error=MotionFileError, what="overlay video") as tmp:
        named = Path(f"{tmp}.mp4")  # OpenCV picks the container by the file's extension
        writer = cv2.VideoWriter(str(named), fourcc, float(result.fps), (result.video.width, result.video.height))
        if not writer.isOpened():
            raise MotionFileError(f"cannot write the overlay video {path} (OpenCV has no mp4v encoder here)")
        body, start = None, -1
        try:
            for frame in VideoReader(result.video.path).frames(want=lambda p: True):
                p = positions.get(frame.index)
                if p is None:
                    continue
                if body is None or p >= start + _CHUNK:  # vertices for a chunk of frames at a time: flat memory
                    start = p
                    body = final_body(result, body_model, np.arange(p, min(p + _CHUNK, result.num_frames)))
                i = p - start
                planted = planted_points(result, body_model, body.keypoints["feet6"][i], p)
                image = draw_body(frame.image, body.vertices[i], body_model.faces, camera, planted_points=planted)
                writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
                if progress:
                    progress("overlay", p + 1, result.num_frames)
            writer.release()
            os.replace(named, tmp)
        finally:
            writer.release()
            named.unlink(missing_ok=True)
    return path


def _orthographic(axes: np.ndarray, size: int, centre: np.ndarray, extent: float) -> Camera:
    """A camera looking along axes[2] (rows: image x, image y, view direction) at `centre`, so that `extent`
    metres fill `size` pixels; approximated by a pinhole camera far away (a long lens is orthographic)."""
    distance = 200.0
    focal = size * distance / extent
    k = np.array([[focal, 0, (size - 1) / 2], [0, focal, (size - 1) / 2], [0, 0, 1.0]])
    return Camera(k, axes, -axes @ centre + np.array([0, 0, distance]), (size, size), "ortho")


def write_triview(result, body_model, frame_index: int, path: str | os.PathLike, size: int = 512) -> Path:
    """Front, side and top views of the body at video frame `frame_index` (the nearest captured frame)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise MotionFileError(f"tri-view {path} must end in .png")
    p = int(np.argmin(np.abs(result.frame_indices - frame_index)))
    if abs(int(result.frame_indices[p]) - frame_index) > max(1, result.settings.stride):
        raise PlantedError(f"--triview frame {frame_index} was not captured (frames "
                           f"{int(result.frame_indices[0])}-{int(result.frame_indices[-1])}): pick one of those")
    body = final_body(result, body_model, np.array([p]), camera_frame=False)
    verts, feet = body.vertices[0], body.keypoints["feet6"][0]
    rot, _ = world_to_camera(result)
    view = rot[2] * np.array([1.0, 0.0, 1.0])  # the camera's viewing direction, horizontal
    view = view / max(np.linalg.norm(view), 1e-9)
    up = np.array([0.0, 1.0, 0.0])
    right = np.cross(view, up)  # image x: (right, -up, view) must be a right-handed camera frame
    low = np.minimum(verts.min(axis=0), [np.inf, 0.0, np.inf])  # keep the ground (y = 0) in view
    high = verts.max(axis=0)
    centre = (low + high) / 2
    extent = 1.25 * max((high - low).max(), 1.0)
    views = {"front": np.stack([right, -up, view]), "side": np.stack([-view, -up, right]),
             "top": np.stack([right, -view, -up])}
    planted = planted_points(result, body_model, feet, p)
    panels = []
    for name, axes in views.items():
        cam = _orthographic(axes, size, centre, extent)
        canvas = np.full((size, size, 3), 245, np.uint8)
        _draw_ground(canvas, cam, centre, extent, top=name == "top")
        canvas = draw_body(canvas, verts, body_model.faces, cam, alpha=0.9, planted_points=planted)
        cv2.putText(canvas, name, (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (40, 40, 40), 2, cv2.LINE_AA)
        panels.append(canvas)
    sheet = np.concatenate(panels, axis=1)
    cv2.putText(sheet, f"frame {int(result.frame_indices[p])}", (10, size - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.7,
                (40, 40, 40), 2, cv2.LINE_AA)
    from engine.render.png import write_png

    return write_png(path, sheet, what="tri-view image")


def _draw_ground(canvas: np.ndarray, cam: Camera, centre: np.ndarray, extent: float, top: bool) -> None:
    """The ground (y = 0) as a grid of 0.5 m lines around the body."""
    half = extent
    ticks = np.arange(np.floor((centre[0] - half) * 2) / 2, centre[0] + half, 0.5)
    ticks_z = np.arange(np.floor((centre[2] - half) * 2) / 2, centre[2] + half, 0.5)
    lines = [((x, 0.0, centre[2] - half), (x, 0.0, centre[2] + half)) for x in ticks]
    lines += [((centre[0] - half, 0.0, z), (centre[0] + half, 0.0, z)) for z in ticks_z]
    colour = (200, 200, 200) if top else (150, 150, 150)
    for a, b in lines:
        uv, _ = cam.project(np.array([a, b]))
        cv2.line(canvas, tuple(np.round(uv[0]).astype(int)), tuple(np.round(uv[1]).astype(int)), colour, 1,
                 cv2.LINE_AA)
