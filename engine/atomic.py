"""Atomic file writes: a temporary file in the target's folder, renamed over the target on success.

A reader never sees a half-written file and a failed write never destroys the previous one, so a
user's earlier output survives a crash, a full disk or a cancel.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
from collections.abc import Iterator

from engine.errors import PlantedError


def default_file_mode() -> int:
    """0o666 less the umask: what open() would give (mkstemp's files are private, 0o600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike, *, error: type[PlantedError] = PlantedError, what: str = "file"
) -> Iterator[pathlib.Path]:
    """Yield a temporary path beside `path`; on a clean exit it replaces `path`.

    Write to the yielded path (by name: it exists, empty). Any exception removes the temporary
    file; an OSError becomes `error` naming `what` and `path`. The file gets the mode that
    open() would have given it.
    """
    path = pathlib.Path(path)
    folder = path.parent if str(path.parent) else pathlib.Path(".")
    if not folder.is_dir():
        raise error(f"cannot write {what} {path}: folder {folder} does not exist")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as err:
        raise error(f"cannot write {what} {path}: {err.strerror or err}") from None
    os.close(fd)
    tmp = pathlib.Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except OSError as err:
        raise error(f"cannot write {what} {path}: {err.strerror or err}") from None
    finally:
        tmp.unlink(missing_ok=True)
