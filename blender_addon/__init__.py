"""Planted for Blender: capture a video into a body with planted feet, retarget it onto your rig, export.

A thin layer over the `engine` package (bundled as a wheel in the extension): operators gather
settings from `Scene.planted`, call one engine function, and write the result into Blender.
"""

from __future__ import annotations

from . import operators, panels, properties

# Registration order: settings before the operators that read them, panels last.
_MODULES = (properties, operators, panels)


def register() -> None:
    for module in _MODULES:
        module.register()


def unregister() -> None:
    for module in reversed(_MODULES):
        module.unregister()
