"""Reading the pickles that datasets ship (3DPW, AIST++) without running any code they carry.

A pickle may name any importable callable and have it called while loading; `pickle.load` on a file
from the internet is running that file's code. This unpickler resolves only what a pickle of numpy
arrays and Python containers needs (numpy's array and scalar rebuilders, dtypes, and `_codecs.encode`,
which Python 3 uses for bytes at protocol 2); anything else stops the load with an error naming it.
Containers (dict, list, tuple, str, numbers) are pickle opcodes, not globals, and need nothing here.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

from training.data.files import DatasetFileError, require_file

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _Refused(pickle.UnpicklingError):
    pass


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise _Refused(f"refusing {module}.{name}: only numpy arrays and containers are read")
        return super().find_class(module, name)


def load_pickle(path: str | os.PathLike, what: str):
    """The object in a pickle of numpy arrays and containers. Python 2 pickles (3DPW) are read as latin-1,
    as numpy needs for their array bytes."""
    path = require_file(path, what)
    try:
        return _ArraysOnly(io.BytesIO(Path(path).read_bytes()), encoding="latin1").load()
    except _Refused as err:
        raise DatasetFileError(f"{path}: {err}; this is not a plain {what} file") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise DatasetFileError(f"{path}: not a readable {what} pickle ({type(err).__name__}: {err}); "
                               "is the file complete?") from None
