"""What every operator shares: turning the engine's errors into one report line, in Blender's words."""

from __future__ import annotations

import logging
from collections.abc import Callable

import bpy

from engine.errors import PlantedError

from ..core.messages import blender_words

logger = logging.getLogger(__name__)


def run_reported(operator: bpy.types.Operator, work: Callable[[], str | None]) -> set[str]:
    """Run `work`; its returned text is reported as INFO. A PlantedError (a user's mistake) becomes
    one ERROR report and CANCELLED, with no traceback; anything else is a bug and propagates. Both are
    worded for the panel (core.messages)."""
    try:
        message = work()
    except PlantedError as err:
        return report_error(operator, err)
    if message:
        operator.report({"INFO"}, blender_words(message))
    return {"FINISHED"}


def report_error(operator: bpy.types.Operator, err: PlantedError) -> set[str]:
    """One ERROR report of a user's mistake, in the panel's words; CANCELLED."""
    operator.report({"ERROR"}, blender_words(str(err)))
    return {"CANCELLED"}


def ensure_object_mode(context: bpy.types.Context) -> None:
    """Leave edit or pose mode, since building armatures and baking need object mode."""
    if context.mode != "OBJECT" and context.view_layer.objects.active is not None:
        bpy.ops.object.mode_set(mode="OBJECT")
