"""Calibrated cameras from a Qualisys calibration file (.qca.txt, as Pose2Sim's demos ship them).

The file is XML: per camera a `transform` (the camera's position x, y, z in millimetres and its rotation
r11..r33 in the calibration's world) and an `intrinsic` (focal lengths and principal point in sensor units,
64 per pixel; distortion, which the fit does not model: the demo's coefficients move a pixel at the
image corners by well under one pixel). A Qualisys camera looks along its -z axis with y up; the fit's
cameras look along +z with y down (a half turn about x), as Pose2Sim's own conversion does.

The world: the calibration's is z up, millimetres; the fit's is y up, metres, like Pose2Sim's .trc files
(x_fit, y_fit, z_fit) = (y_q, z_q, x_q) / 1000 (Pose2Sim's zup2yup), so the fitted body, the triangulated
markers and our motion files share one frame.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from engine.errors import PlantedError
from engine.fit.camera import Camera

_SENSOR_UNITS_PER_PIXEL = 64.0
# World axes: the fit's (y up) from the calibration's (z up), as rows: x_fit = y_q, y_fit = z_q, z_fit = x_q.
ZUP_TO_YUP = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
_QUALISYS_TO_OPENCV = np.diag([1.0, -1.0, -1.0])  # a half turn about the camera's x axis


class CalibrationError(PlantedError):
    """A calibration file cannot be read."""


def _float(element, name: str, path: Path) -> float:
    value = element.get(name)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise CalibrationError(f"{path}: camera attribute {name!r} is {value!r}, not a number") from None


def read_qualisys(path: str | os.PathLike) -> list[Camera]:
    """The cameras of a Qualisys .qca.txt file, sorted by name, in the fit's y-up metric world."""
    path = Path(path)
    if not path.is_file():
        raise CalibrationError(f"calibration file not found: {path}")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise CalibrationError(f"{path} is not a Qualisys calibration (.qca.txt is XML): {err}") from None
    cameras = []
    for cam in root.iter("camera"):
        name = cam.get("serial") or f"camera{len(cameras) + 1}"
        transform, intrinsic, fov = cam.find("transform"), cam.find("intrinsic"), cam.find("fov_video")
        if transform is None or intrinsic is None or fov is None:
            raise CalibrationError(f"{path}: camera {name} lacks its transform, intrinsic or fov_video element")
        left, top = _float(fov, "left", path), _float(fov, "top", path)
        width = int(round(_float(fov, "right", path) - left + 1))
        height = int(round(_float(fov, "bottom", path) - top + 1))
        k = np.array([[_float(intrinsic, "focalLengthU", path) / _SENSOR_UNITS_PER_PIXEL, 0.0,
                       _float(intrinsic, "centerPointU", path) / _SENSOR_UNITS_PER_PIXEL - left],
                      [0.0, _float(intrinsic, "focalLengthV", path) / _SENSOR_UNITS_PER_PIXEL,
                       _float(intrinsic, "centerPointV", path) / _SENSOR_UNITS_PER_PIXEL - top],
                      [0.0, 0.0, 1.0]])
        axes = np.array([[_float(transform, f"r{i}{j}", path) for j in (1, 2, 3)] for i in (1, 2, 3)])
        position = np.array([_float(transform, c, path) for c in "xyz"]) / 1000.0
        if not np.allclose(axes @ axes.T, np.eye(3), atol=1e-4):
            raise CalibrationError(f"{path}: camera {name}'s rotation r11..r33 is not a rotation matrix")
        # r11..r33 turn the calibration world into the camera (Qualisys axes: looking along -z, y up); the fit needs
        # OpenCV axes, and the y-up world.
        rotation = _QUALISYS_TO_OPENCV @ axes @ ZUP_TO_YUP.T
        centre = ZUP_TO_YUP @ position
        cameras.append(Camera(intrinsics=k, rotation=rotation, translation=-rotation @ centre,
                              size=(width, height), name=name))
    if not cameras:
        raise CalibrationError(f"{path} holds no camera elements: is it a Qualisys calibration?")
    return sorted(cameras, key=lambda c: c.name)
