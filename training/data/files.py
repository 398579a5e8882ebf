"""Checked reading of dataset files: every wrong, missing or truncated field names the file and the key.

`DatasetFileError` is what every reader raises for a file it cannot use; its message says which file, which
key, what was expected and what was found.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from engine.errors import PlantedError


class DatasetFileError(PlantedError):
    """A dataset file is missing, unreadable, or a key in it is absent or shaped wrongly."""


def require_file(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DatasetFileError(f"{path}: no such file ({what} expected here)")
    return path


def load_npz(path: str | os.PathLike, what: str) -> dict[str, np.ndarray]:
    """Every array of an .npz (no pickled objects: allow_pickle=False) as a dict."""
    path = require_file(path, what)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DatasetFileError(f"{path}: not a readable .npz ({type(err).__name__}: {err}); "
                               "is the file complete?") from None


def field(data: dict, key: str, path, shape: tuple, dtype_kind: str = "fiu", length: int | None = None) -> np.ndarray:
    """data[key] as an array checked against `shape` (None: any size; int: that size) and dtype kinds.

    `length`, when given, is what the first axis must equal (every per-frame key of a file has as many rows).
    """
    if key not in data:
        raise DatasetFileError(f"{path}: key {key!r} is missing (found: {', '.join(sorted(map(str, data)))})")
    try:
        value = np.asarray(data[key])
    except ValueError as err:  # ragged lists
        raise DatasetFileError(f"{path}: key {key!r} is not a regular array ({err})") from None
    if value.dtype.kind not in dtype_kind:
        raise DatasetFileError(f"{path}: key {key!r} has dtype {value.dtype}, expected a numeric array")
    expected = tuple(length if (i == 0 and length is not None and s is None) else s for i, s in enumerate(shape))
    if value.ndim != len(expected) or any(e is not None and e != v for e, v in zip(expected, value.shape, strict=True)):
        want = "(" + ", ".join("N" if e is None else str(e) for e in expected) + ")"
        raise DatasetFileError(f"{path}: key {key!r} has shape {value.shape}, expected {want}")
    return value
