"""Operators: each gathers settings from Scene.planted, calls one engine or core function, reports errors."""

from __future__ import annotations

from . import capture, export, motion_import, retarget

# Each module registers its own `classes` tuple through register_classes_factory.
_MODULES = (motion_import, capture, retarget, export)


def register() -> None:
    for module in _MODULES:
        module.register()


def unregister() -> None:
    for module in reversed(_MODULES):
        module.unregister()
