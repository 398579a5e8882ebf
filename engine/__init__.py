"""Planted engine: video to SMPL motion with planted feet, retargeting and foot locking.

Imports numpy, scipy, opencv and onnxruntime only; never bpy or torch (tests enforce it).
"""

__version__ = "0.1.0"
