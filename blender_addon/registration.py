"""Registering a package's modules: each in order, unregistered in reverse (what depends on a module goes after it)."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType


def register_modules_factory(modules: tuple[ModuleType, ...]) -> tuple[Callable[[], None], Callable[[], None]]:
    """(register, unregister) calling each module's own register() in order and unregister() in reverse,
    as bpy.utils.register_classes_factory does for classes."""

    def register() -> None:
        for module in modules:
            module.register()

    def unregister() -> None:
        for module in reversed(modules):
            module.unregister()

    return register, unregister
