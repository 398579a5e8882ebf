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
