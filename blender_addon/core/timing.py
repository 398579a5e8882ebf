"""The scene's timing is the user's: its frame rate (motions are resampled to it by engine.motion.resample)."""

from __future__ import annotations


def scene_fps(scene) -> float:
    """The scene's frame rate in frames per second (fps / fps_base)."""
    return scene.render.fps / scene.render.fps_base
