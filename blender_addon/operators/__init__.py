"""Operators: each gathers settings from Scene.planted, calls one engine or core function, reports errors."""

from __future__ import annotations

from ..registration import register_modules_factory
from . import capture, export, motion_import, retarget

# Each module registers its own `classes` tuple through register_classes_factory.
_MODULES = (motion_import, capture, retarget, export)

register, unregister = register_modules_factory(_MODULES)
