"""Blender adapters: move arrays between Blender datablocks and the engine's dataclasses (no maths beyond that)."""
