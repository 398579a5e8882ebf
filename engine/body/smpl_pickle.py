"""Convert the user's own SMPL files (SMPL_NEUTRAL.pkl, ...) into our body model .npz, safely.

SMPL's .pkl files are Python 2 pickles holding chumpy objects (which cannot be imported on
Python 3.11) and a scipy.sparse J_regressor. They are read with a restricted unpickler: `find_class`
hands out only an explicit allow-list (numpy's array reconstruction, and stand-ins for chumpy's and
scipy.sparse's classes that merely keep the pickled state), so no code from the file ever runs.
Anything else the file asks for is refused before it is even looked up.

Our extra keys are built from SMPL itself: COCO and foot keypoints from SMPL vertex ids (smplx's
'smplh' table) and SMPL joint rows; Human3.6M/LSP joints from SPIN's J_regressor_h36m.npy when the
user has it, else approximated from SMPL joint rows (recorded in the file's provenance); the soles
from the rest mesh's geometry.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import pickle
import re
import struct
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from scipy import sparse

from engine.body.joints import SMPL_JOINT_NAMES
from engine.body.keypoints import (
    COCO17_NAMES,
    FEET6_NAMES,
    H36M17_NAMES,
    H36M_TO_J14,
    KEYPOINT_SETS,
    SMPL_KEYPOINT_VERTEX_IDS,
)
from engine.body.model import FIXED_SCALARS, FORMAT_VERSION, NUM_BETAS, body_model_from_arrays, save_body_model
from engine.errors import BodyModelError

log = logging.getLogger(__name__)

SMPL_NUM_VERTICES = 6890
SOLE_TOLERANCE_M = 0.005
_SMPL_KEYS = ("v_template", "f", "J_regressor", "weights", "kintree_table", "shapedirs", "posedirs")

try:  # numpy >= 2 moved the pickling helpers to numpy._core; pickles name either module
    from numpy._core.multiarray import _reconstruct, scalar
except ImportError:
    from numpy.core.multiarray import _reconstruct, scalar


class _ChumpyStub:
    """Stands in for a chumpy object: keeps its pickled state; `array()` is its stored value `x`."""

    chumpy_class = "chumpy.ch.Ch"

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __setstate__(self, state) -> None:
        self.state = state[0] if isinstance(state, tuple) and state and isinstance(state[0], dict) else state

    def array(self) -> np.ndarray:
        if not isinstance(getattr(self, "state", None), dict) or "x" not in self.state:
            raise BodyModelError(
                f"a chumpy object of class {self.chumpy_class} holds no stored array; "
                "only SMPL's plain model files can be converted"
            )
        return np.asarray(self.state["x"])


class _SparseStub:
    """Stands in for a scipy.sparse csc/csr matrix: keeps its pickled state, rebuilt by `matrix()`."""

    layout = sparse.csc_matrix

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __setstate__(self, state) -> None:
        self.state = state

    def matrix(self) -> sparse.spmatrix:
        state = self.state if isinstance(self.state, dict) else {}
        shape = state.get("_shape", state.get("shape"))
        try:
            return self.layout((state["data"], state["indices"], state["indptr"]), shape=tuple(shape))
        except (KeyError, TypeError, ValueError) as err:
            raise BodyModelError(f"a pickled sparse matrix is malformed ({err})") from None


class _CscStub(_SparseStub):
    layout = sparse.csc_matrix


class _CsrStub(_SparseStub):
    layout = sparse.csr_matrix


def _reconstructor(cls, base, state):
    """Python 2's copy_reg._reconstructor, for our stand-ins only."""
    if not (isinstance(cls, type) and issubclass(cls, (_ChumpyStub, _SparseStub)) and base is object and state is None):
        raise BodyModelError("the file asks to rebuild an object in a way SMPL files never do; nothing was executed")
    return cls.__new__(cls)


def _encode_latin1(text: str, encoding: str = "latin1") -> bytes:
    """What Python 3 pickles (protocol < 3) use for bytes: `_codecs.encode(text, 'latin1')`."""
    if encoding != "latin1" or not isinstance(text, str):
        raise BodyModelError("the file calls _codecs.encode in a way SMPL files never do; nothing was executed")
    return text.encode("latin1")


def _frombuffer(buffer, dtype, shape, order):
    """numpy's protocol-5 array reconstruction, reimplemented so no numpy internals are called by the file."""
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order)


_ALLOWED: dict[tuple[str, str], object] = {
    **{(m, "_reconstruct"): _reconstruct for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(m, "scalar"): scalar for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(m, "_frombuffer"): _frombuffer for m in ("numpy.core.numeric", "numpy._core.numeric")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("copy_reg", "_reconstructor"): _reconstructor,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    # Plain containers that chumpy objects' state may hold (caches, dirty-variable sets).
    **{(m, c.__name__): c for m in ("__builtin__", "builtins") for c in (set, frozenset)},
    ("_codecs", "encode"): _encode_latin1,
    **{(m, "csc_matrix"): _CscStub for m in ("scipy.sparse.csc", "scipy.sparse._csc")},
    **{(m, "csr_matrix"): _CsrStub for m in ("scipy.sparse.csr", "scipy.sparse._csr")},
}
_chumpy_stubs: dict[str, type] = {}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only the allow-list above; chumpy's classes become `_ChumpyStub`s."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if (module == "chumpy" or module.startswith("chumpy.")) and re.fullmatch(r"[A-Za-z_]\w*", name):
            qualified = f"{module}.{name}"
            if qualified not in _chumpy_stubs:
                _chumpy_stubs[qualified] = type(f"Chumpy_{name}", (_ChumpyStub,), {"chumpy_class": qualified})
            return _chumpy_stubs[qualified]
        raise BodyModelError(
            f"the file tried to load class {module}.{name}, which SMPL model files never contain; "
            "it was refused and nothing was executed. Use the .pkl files from SMPL's website"
        )


def read_smpl_pickle(path: str | os.PathLike) -> dict[str, np.ndarray | sparse.spmatrix]:
    """The arrays of an SMPL .pkl, chumpy objects resolved to numpy, sparse matrices rebuilt.

    Raises BodyModelError naming the file when it is missing, corrupt, truncated, unsafe, or not a dict.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise BodyModelError(f"cannot read SMPL file {path}: {err.strerror or err}") from None
    try:
        raw = _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except BodyModelError as err:
        raise BodyModelError(f"{path}: {err}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            struct.error, UnicodeDecodeError, OverflowError, MemoryError) as err:
        raise BodyModelError(
            f"{path} is not a readable SMPL model pickle (corrupt or truncated: {type(err).__name__}: {err})"
        ) from None
    if not isinstance(raw, dict):
        raise BodyModelError(f"{path} holds a {type(raw).__name__}, not the dict of arrays of an SMPL model file")
    try:
        return {str(key): _resolve(value) for key, value in raw.items()}
    except BodyModelError as err:
        raise BodyModelError(f"{path}: {err}") from None


def _resolve(value):
    if isinstance(value, _ChumpyStub):
        return value.array()
    if isinstance(value, _SparseStub):
        return value.matrix()
    return value


def sole_vertex_ids(v_template: np.ndarray, tolerance: float = SOLE_TOLERANCE_M) -> tuple[np.ndarray, np.ndarray]:
    """Each foot's sole at rest: vertices within `tolerance` metres of that side's lowest point.

    v_template: (V, 3) metres, y up, the body's left at +x. Returns (left ids, right ids), int32.
    """
    soles = []
    for side in (v_template[:, 0] > 0, v_template[:, 0] < 0):
        heights = np.where(side, v_template[:, 1], np.inf)
        soles.append(np.flatnonzero(heights <= heights.min() + tolerance).astype(np.int32))
    return soles[0], soles[1]


def smpl_keypoint_regressors(
    joint_regressor: np.ndarray,
    keypoint_vertex_ids: Mapping[str, int],
    h36m_regressor: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Our keypoint sets for an SMPL-topology mesh, each (K, V) float32 over posed vertices.

    joint_regressor: (24, V) SMPL's J_regressor; keypoint_vertex_ids: name -> vertex id for the
    face and foot keypoints; h36m_regressor: (17, V) SPIN's J_regressor_h36m, or None to
    approximate Human3.6M's joints from SMPL's.
    """
    num_v = joint_regressor.shape[1]
    joint = {name: joint_regressor[i] for i, name in enumerate(SMPL_JOINT_NAMES)}

    def vertex(name: str) -> np.ndarray:
        row = np.zeros(num_v)
        row[keypoint_vertex_ids[name]] = 1.0
        return row

    coco = [vertex(n) if n in keypoint_vertex_ids else joint[n] for n in COCO17_NAMES]
    if h36m_regressor is None:
        approx = {
            **{n: joint[n] for n in H36M17_NAMES if n in joint},
            "spine": (joint["spine1"] + joint["spine2"]) / 2,
            "thorax": (joint["spine3"] + joint["neck"]) / 2,
            "nose": vertex("nose"),
        }
        h36m = np.stack([approx[n] for n in H36M17_NAMES])
    else:
        h36m = np.asarray(h36m_regressor, dtype=np.float64)
    regressors = {
        "smpl24": joint_regressor,
        "lsp14": h36m[list(H36M_TO_J14)],
        "coco17": np.stack(coco),
        "feet6": np.stack([vertex(n) for n in FEET6_NAMES]),
        "h36m17": h36m,
    }
    return {name: np.asarray(r, dtype=np.float32) for name, r in regressors.items()}


def smpl_to_body_arrays(
    raw: Mapping[str, object],
    *,
    gender: str,
    source: str,
    keypoint_vertex_ids: Mapping[str, int] = SMPL_KEYPOINT_VERTEX_IDS,
    h36m_regressor: np.ndarray | None = None,
    provenance: Mapping[str, object] | None = None,
) -> dict[str, np.ndarray]:
    """The arrays of our body model file from the arrays of an SMPL .pkl (see `read_smpl_pickle`)."""
    missing = [key for key in _SMPL_KEYS if key not in raw]
    if missing:
        raise BodyModelError(f"{source} is not an SMPL model file: missing key(s) {', '.join(missing)}")
    arrays = {key: raw[key] for key in _SMPL_KEYS}
    if sparse.issparse(arrays["J_regressor"]):
        arrays["J_regressor"] = arrays["J_regressor"].toarray()
    arrays = {key: np.asarray(value) for key, value in arrays.items()}
    shapedirs = arrays["shapedirs"]
    if shapedirs.ndim != 3 or shapedirs.shape[2] < NUM_BETAS:
        raise BodyModelError(f"{source}: 'shapedirs' has shape {shapedirs.shape}, expected (V, 3, >= {NUM_BETAS})")
    num_v = arrays["v_template"].shape[0]
    if arrays["J_regressor"].shape != (24, num_v):
        raise BodyModelError(f"{source}: 'J_regressor' has shape {arrays['J_regressor'].shape}, expected (24, {num_v})")
    out_of_range = {n: i for n, i in keypoint_vertex_ids.items() if not 0 <= i < num_v}
    if out_of_range:
        raise BodyModelError(
            f"{source} has {num_v} vertices, not SMPL's {SMPL_NUM_VERTICES}: its keypoint vertex ids "
            f"({', '.join(out_of_range)}) do not exist; only SMPL's own files can be imported"
        )
    if h36m_regressor is not None and np.shape(h36m_regressor) != (17, num_v):
        raise BodyModelError(f"the Human3.6M regressor has shape {np.shape(h36m_regressor)}, expected (17, {num_v})")
    if shapedirs.shape[2] > NUM_BETAS:
        log.info("%s: keeping the first %d of %d shape components", source, NUM_BETAS, shapedirs.shape[2])
    if h36m_regressor is None:
        log.warning(
            "%s: no J_regressor_h36m.npy given: the Human3.6M/LSP keypoints are approximated from SMPL's joints "
            "(pass --h36m-regressor for evaluation-grade ones)", source,
        )
    v_template = arrays["v_template"].astype(np.float32)
    left_soles, right_soles = sole_vertex_ids(v_template)
    regressors = smpl_keypoint_regressors(arrays["J_regressor"], keypoint_vertex_ids, h36m_regressor)
    notes = dict(provenance or {})
    notes.update({
        "converted_by": "planted body import",
        "shape_components": f"first {NUM_BETAS} of {shapedirs.shape[2]}",
        "h36m17_lsp14": "J_regressor_h36m" if h36m_regressor is not None else "approximated from SMPL joint rows",
        "coco17_feet6": "SMPL vertex ids (smplx vertex_ids 'smplh') and SMPL joint rows",
        "soles": f"vertices within {SOLE_TOLERANCE_M * 1000:g} mm of each foot's lowest point at rest",
    })
    result = {
        "v_template": v_template,
        "f": arrays["f"].astype(np.int32),
        "J_regressor": arrays["J_regressor"].astype(np.float32),
        "weights": arrays["weights"].astype(np.float32),
        "kintree_table": arrays["kintree_table"].astype(np.int64),
        "shapedirs": shapedirs[:, :, :NUM_BETAS].astype(np.float32),
        "posedirs": arrays["posedirs"].astype(np.float32),
        "joint_names": np.array(SMPL_JOINT_NAMES),
        "left_sole_ids": left_soles,
        "right_sole_ids": right_soles,
        "model_id": np.array(f"smpl-{gender}"),
        "gender": np.array(gender),
        "format_version": np.array(FORMAT_VERSION),
        "provenance": np.array(json.dumps(notes, sort_keys=True)),
        **{key: np.array(value) for key, value in FIXED_SCALARS.items()},
    }
    for name in KEYPOINT_SETS:
        result[f"keypoint_regressor_{name}"] = regressors[name]
        result[f"keypoint_names_{name}"] = np.array(KEYPOINT_SETS[name])
    return result


def gender_from_filename(path: Path) -> str | None:
    """'neutral', 'male' or 'female' from SMPL's file names (SMPL_FEMALE.pkl, basicModel_f_lbs_...), else None."""
    stem = path.stem.lower()
    for gender, patterns in (("neutral", ("neutral",)), ("female", ("female", "_f_", "_f.")),
                             ("male", ("male", "_m_", "_m."))):
        if any(p in stem or p in path.name.lower() for p in patterns):
            return gender
    return None


def import_smpl(
    path: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    gender: str | None = None,
    h36m_regressor_path: str | os.PathLike | None = None,
    keypoint_vertex_ids: Mapping[str, int] = SMPL_KEYPOINT_VERTEX_IDS,
) -> Path:
    """Convert an SMPL .pkl into our body model .npz (default: beside it, same name) and return its path."""
    path = Path(path)
    gender = gender or gender_from_filename(path)
    if gender is None:
        raise BodyModelError(f"cannot tell the gender of {path.name} from its name: pass --gender neutral|male|female")
    raw = read_smpl_pickle(path)
    h36m = None
    if h36m_regressor_path is not None:
        try:
            h36m = np.load(h36m_regressor_path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as err:
            raise BodyModelError(f"cannot read the Human3.6M regressor {h36m_regressor_path}: {err}") from None
    provenance = {"source_file": path.name, "source_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    arrays = smpl_to_body_arrays(raw, gender=gender, source=str(path), keypoint_vertex_ids=keypoint_vertex_ids,
                                 h36m_regressor=h36m, provenance=provenance)
    out = Path(out) if out is not None else path.with_suffix(".npz")
    model = body_model_from_arrays(arrays, source=f"{path} (converted)")
    return save_body_model(model, out)
