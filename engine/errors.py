"""The engine's own errors: each carries a message a user can act on.

The CLI and the Blender add-on catch `PlantedError` and show `str(err)` as one line; anything else
is a bug and may show a traceback.
"""


class PlantedError(Exception):
    """A user-facing failure: what was wrong and what to do about it."""


class BodyModelError(PlantedError):
    """A body model file is missing, unsafe, or not shaped as expected."""


class MotionFileError(PlantedError):
    """A motion file (BVH, npz) cannot be read or written."""


class ModelFileError(PlantedError):
    """An ONNX model file is missing or does not match the engine's contract."""


class VideoError(PlantedError):
    """A video cannot be opened or decoded."""


class BoneMapError(PlantedError):
    """A bone map does not fit the skeletons it is used with."""


def command_exit_code(prog: str, work, cancelled: str = "cancelled") -> int:
    """Run a command's work() and turn what it raises into the exit status users expect: a PlantedError is
    printed as "prog: message" (status 2, no traceback: it is the user's to fix), Ctrl-C as "prog: cancelled"
    (status 130); otherwise work()'s own status (None counts as 0)."""
    import sys

    try:
        return int(work() or 0)
    except PlantedError as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: {cancelled}", file=sys.stderr)
        return 130
