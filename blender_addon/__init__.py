"""Planted for Blender: capture a video into a body with planted feet, retarget it onto your rig, export.

A thin layer over the `engine` package (bundled as a wheel in the extension): operators gather
settings from `Scene.planted`, call one engine function, and write the result into Blender.
"""

from __future__ import annotations

from . import operators, panels, properties
from .registration import register_modules_factory

# Registration order: settings before the operators that read them, panels last.
_MODULES = (properties, operators, panels)

register, unregister = register_modules_factory(_MODULES)
