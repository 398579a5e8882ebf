"""Writing a rendered picture: an RGB array to a PNG file, atomically (a temp file, then rename)."""

from __future__ import annotations

import os
import pathlib

import numpy as np

from engine.atomic import atomic_path
from engine.errors import MotionFileError


def write_png(path: str | os.PathLike, image_rgb: np.ndarray, what: str = "image") -> pathlib.Path:
    """(H, W, 3) uint8 RGB -> `path`; MotionFileError naming `what` when it cannot be written."""
    import cv2

    path = pathlib.Path(path)
    with atomic_path(path, error=MotionFileError, what=what) as tmp:
        ok, encoded = cv2.imencode(".png", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
        if not ok:
            raise MotionFileError(f"cannot encode the {what} {path}")
        tmp.write_bytes(encoded.tobytes())
    return path
