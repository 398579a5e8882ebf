"""The ONE place where the engine's world frame meets Blender's.

Engine: y up, metres, characters face +z at rest. Blender: z up, characters face -y.
A quarter turn about +x takes one to the other: (x, y, z)_engine -> (x, -z, y)_blender.
Every array that crosses between the engine and Blender goes through these functions.
"""

from __future__ import annotations

import numpy as np

# Columns are the engine's x, y, z axes written in Blender's frame.
ENGINE_TO_BLENDER = np.array(
    [
        [1.0, 0.0, 0.0],
        [0.0, 0.0, -1.0],
        [0.0, 1.0, 0.0],
    ]
)
BLENDER_TO_ENGINE = ENGINE_TO_BLENDER.T


def points_to_blender(points: np.ndarray) -> np.ndarray:
    """(..., 3) engine positions (y up) -> (..., 3) Blender positions (z up), same units."""
    return np.asarray(points) @ BLENDER_TO_ENGINE


def points_to_engine(points: np.ndarray) -> np.ndarray:
    """(..., 3) Blender positions (z up) -> (..., 3) engine positions (y up), same units."""
    return np.asarray(points) @ ENGINE_TO_BLENDER


def rotations_to_blender(matrices: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations acting on engine vectors -> the same rotations acting on Blender vectors."""
    return ENGINE_TO_BLENDER @ np.asarray(matrices) @ BLENDER_TO_ENGINE


def rotations_to_engine(matrices: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations acting on Blender vectors -> the same rotations acting on engine vectors."""
    return BLENDER_TO_ENGINE @ np.asarray(matrices) @ ENGINE_TO_BLENDER
