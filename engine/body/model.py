"""The body model file: an .npz of plain arrays with SMPL's keys plus ours, parsed into `BodyModel`.

Keys (V vertices, F faces, K keypoints of a set; everything in metres, y up, facing +z at rest):

- SMPL's: v_template (V, 3), f (F, 3) int, J_regressor (24, V), weights (V, 24),
  kintree_table (2, 24) (row 0: parents, the root's -1 or 2**32 - 1), shapedirs (V, 3, 10),
  posedirs (V, 3, 207) (all zeros: the model has no pose correctives).
- Ours: joint_names (24,); for each keypoint set S of `engine.body.keypoints.KEYPOINT_SETS`,
  keypoint_regressor_S (K, V) and keypoint_names_S (K,); left_sole_ids, right_sole_ids (vertex ids
  used for foot contacts); 0-d model_id, gender, units ("m"), up_axis ("y"), forward_axis ("+z"),
  format_version (1). Any other key (provenance, ...) is kept and written back unchanged.

Files never hold pickled objects: they load with `allow_pickle=False`.
"""

from __future__ import annotations

import logging
import os
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from scipy import sparse

from engine.atomic import atomic_path
from engine.body.joints import NUM_SMPL_JOINTS, SMPL_JOINT_NAMES, SMPL_PARENTS
from engine.body.keypoints import KEYPOINT_SETS
from engine.errors import BodyModelError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
NUM_BETAS = 10
NUM_POSE_FEATURES = 9 * (NUM_SMPL_JOINTS - 1)  # 207: (R - I) of the 23 non-root joints
GENDERS: tuple[str, ...] = ("neutral", "male", "female")
# 0-d keys whose value is fixed by the format: the engine's conventions.
FIXED_SCALARS: dict[str, str] = {"units": "m", "up_axis": "y", "forward_axis": "+z"}
_UINT32_ROOT = 2**32 - 1
_WEIGHT_SUM_TOLERANCE = 1e-3

_SMPL_KEYS = ("v_template", "f", "J_regressor", "weights", "kintree_table", "shapedirs", "posedirs")
_OUR_KEYS = (
    "joint_names", "left_sole_ids", "right_sole_ids", "model_id", "gender", "units", "up_axis",
    "forward_axis", "format_version",
)
REQUIRED_KEYS: tuple[str, ...] = (
    _SMPL_KEYS
    + _OUR_KEYS
    + tuple(f"keypoint_regressor_{s}" for s in KEYPOINT_SETS)
    + tuple(f"keypoint_names_{s}" for s in KEYPOINT_SETS)
)


@dataclass(frozen=True, eq=False)
class BodyModel:
    """An SMPL-compatible body model, validated. Arrays are float32 (ids int), metres, y up.

    v_template: (V, 3) rest-pose (T-pose) vertices at beta = 0.
    faces: (F, 3) int32 vertex ids of the triangles.
    joint_regressor: (24, V) sparse CSR, joints from shaped rest vertices (SMPL's J_regressor).
    weights: (V, 24) skinning weights, rows sum to 1.
    parents: (24,) int64, SMPL's kinematic tree, -1 for the root.
    shapedirs: (V, 3, 10) shape blend shapes, metres per unit beta.
    posedirs: (V, 3, 207) pose-corrective blend shapes over the flattened (R - I) of joints 1-23.
    joint_names: (24,) SMPL's joint names.
    keypoint_regressors: set name -> (K, V) sparse CSR, keypoints from posed vertices.
    keypoint_names: set name -> (K,) names.
    left_sole_ids, right_sole_ids: int32 vertex ids of each foot's sole.
    model_id: identifies the body (an ONNX model names the body it was trained with).
    gender: "neutral", "male" or "female".
    extras: any other arrays of the file (provenance, ...), kept for round trips.
    """

    v_template: np.ndarray
    faces: np.ndarray
    joint_regressor: sparse.csr_matrix
    weights: np.ndarray
    parents: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray
    joint_names: tuple[str, ...]
    keypoint_regressors: Mapping[str, sparse.csr_matrix]
    keypoint_names: Mapping[str, tuple[str, ...]]
    left_sole_ids: np.ndarray
    right_sole_ids: np.ndarray
    model_id: str
    gender: str
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)
    source: str = "<arrays>"
    # Derived arrays cached by engine.body.lbs (per dtype); never part of the file.
    derived: dict = field(default_factory=dict, init=False, repr=False)

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_joints(self) -> int:
        return int(self.parents.shape[0])

    @property
    def kintree_table(self) -> np.ndarray:
        """(2, 24) int64 as SMPL stores it: row 0 parents (root -1), row 1 the joint ids."""
        return np.stack([self.parents, np.arange(self.num_joints)]).astype(np.int64)

    @property
    def contact_vertex_ids(self) -> np.ndarray:
        """(Vc,) int32 ids of the contact vertices: the left sole's, then the right sole's."""
        return np.concatenate([self.left_sole_ids, self.right_sole_ids]).astype(np.int32)

    @property
    def num_left_contact_vertices(self) -> int:
        return int(self.left_sole_ids.shape[0])

    @cached_property
    def has_pose_correctives(self) -> bool:
        """False when posedirs is all zeros: the forward pass then skips that step."""
        return bool(np.any(self.posedirs))

    @cached_property
    def joint_template(self) -> np.ndarray:
        """(24, 3) float64 metres: J_regressor @ v_template, the rest joints at beta = 0."""
        return np.asarray(self.joint_regressor @ self.v_template.astype(np.float64))

    @cached_property
    def joint_shapedirs(self) -> np.ndarray:
        """(24, 3, 10) float64: J_regressor @ shapedirs, how the rest joints move per unit beta."""
        flat = self.shapedirs.astype(np.float64).reshape(self.num_vertices, -1)
        return np.asarray(self.joint_regressor @ flat).reshape(self.num_joints, 3, -1)

    def rest_joints(self, betas: np.ndarray | None = None) -> np.ndarray:
        """(24, 3) float64 metres: rest (T-pose) joint positions for `betas` (10,) (None: zeros)."""
        if betas is None:
            return self.joint_template.copy()
        return self.joint_template + self.joint_shapedirs @ np.asarray(betas, dtype=np.float64)

    def rest_vertices(self, betas: np.ndarray | None = None) -> np.ndarray:
        """(V, 3) float64 metres: rest (T-pose) vertices for `betas` (10,) (None: zeros)."""
        v = self.v_template.astype(np.float64)
        if betas is None:
            return v
        return v + self.shapedirs.astype(np.float64) @ np.asarray(betas, dtype=np.float64)


def body_model_from_arrays(arrays: Mapping[str, np.ndarray], source: str = "<arrays>") -> BodyModel:
    """Validate the arrays of a body model file (keys as in the module docstring) into a BodyModel.

    Raises BodyModelError naming `source`, the key, and what was expected.
    """
    check = _Checker(arrays, source)
    check.present(REQUIRED_KEYS)
    version = check.scalar_int("format_version")
    if version != FORMAT_VERSION:
        raise BodyModelError(
            f"{source}: format_version is {version}, this engine reads version {FORMAT_VERSION}; "
            "rebuild or re-import the file with this version of Planted"
        )
    for key, expected in FIXED_SCALARS.items():
        value = check.scalar_str(key)
        if value != expected:
            raise BodyModelError(f"{source}: '{key}' is {value!r}, expected {expected!r}")

    v_template = check.floats("v_template", (None, 3))
    num_v = v_template.shape[0]
    j = NUM_SMPL_JOINTS
    faces = check.ids("f", (None, 3), num_v)
    weights = check.floats("weights", (num_v, j))
    if np.any(weights < -1e-6):
        raise BodyModelError(f"{source}: 'weights' has negative entries; skinning weights must be >= 0")
    worst = float(np.max(np.abs(weights.sum(axis=1, dtype=np.float64) - 1.0)))
    if worst > _WEIGHT_SUM_TOLERANCE:
        raise BodyModelError(f"{source}: rows of 'weights' must sum to 1, one is off by {worst:.3g}")
    parents = _parents_from_kintree(check.array("kintree_table", (2, j)), source)
    regressors, names = {}, {}
    for set_name, canonical in KEYPOINT_SETS.items():
        k = len(canonical)
        regressors[set_name] = sparse.csr_matrix(check.floats(f"keypoint_regressor_{set_name}", (k, num_v)))
        names[set_name] = check.strings(f"keypoint_names_{set_name}", k)
    joint_names = check.strings("joint_names", j)
    if joint_names != SMPL_JOINT_NAMES:
        log.warning("%s: joint_names differ from SMPL's; SMPL's order is assumed", source)
    gender = check.scalar_str("gender")
    if gender not in GENDERS:
        raise BodyModelError(f"{source}: 'gender' is {gender!r}, expected one of {', '.join(GENDERS)}")
    extras = {key: np.asarray(arrays[key]) for key in arrays if key not in REQUIRED_KEYS}
    return BodyModel(
        v_template=v_template,
        faces=faces.astype(np.int32),
        joint_regressor=sparse.csr_matrix(check.floats("J_regressor", (j, num_v))),
        weights=weights,
        parents=parents,
        shapedirs=check.floats("shapedirs", (num_v, 3, NUM_BETAS)),
        posedirs=check.floats("posedirs", (num_v, 3, NUM_POSE_FEATURES)),
        joint_names=joint_names,
        keypoint_regressors=regressors,
        keypoint_names=names,
        left_sole_ids=check.ids("left_sole_ids", (None,), num_v, nonempty=True).astype(np.int32),
        right_sole_ids=check.ids("right_sole_ids", (None,), num_v, nonempty=True).astype(np.int32),
        model_id=check.scalar_str("model_id"),
        gender=gender,
        extras=extras,
        source=source,
    )


def body_model_to_arrays(model: BodyModel) -> dict[str, np.ndarray]:
    """The arrays of `model`'s file (dense float32 regressors, SMPL's keys plus ours)."""
    arrays: dict[str, np.ndarray] = {
        "v_template": model.v_template.astype(np.float32),
        "f": model.faces.astype(np.int32),
        "J_regressor": model.joint_regressor.toarray().astype(np.float32),
        "weights": model.weights.astype(np.float32),
        "kintree_table": model.kintree_table,
        "shapedirs": model.shapedirs.astype(np.float32),
        "posedirs": model.posedirs.astype(np.float32),
        "joint_names": np.array(model.joint_names),
        "left_sole_ids": model.left_sole_ids.astype(np.int32),
        "right_sole_ids": model.right_sole_ids.astype(np.int32),
        "model_id": np.array(model.model_id),
        "gender": np.array(model.gender),
        "format_version": np.array(FORMAT_VERSION),
        **{key: np.array(value) for key, value in FIXED_SCALARS.items()},
    }
    for set_name, regressor in model.keypoint_regressors.items():
        arrays[f"keypoint_regressor_{set_name}"] = regressor.toarray().astype(np.float32)
        arrays[f"keypoint_names_{set_name}"] = np.array(model.keypoint_names[set_name])
    arrays.update({key: value for key, value in model.extras.items() if key not in arrays})
    return arrays


def load_body_model(path: str | os.PathLike) -> BodyModel:
    """Read and validate a body model .npz (no pickled objects allowed).

    Raises BodyModelError naming the file when it is missing, unreadable, or not shaped as expected.
    """
    path = Path(path)
    if path.suffix.lower() in (".pkl", ".pickle"):
        raise BodyModelError(
            f"{path} is a pickle, not a body model .npz: convert it once with `planted body import {path}`"
        )
    if not path.is_file():
        raise BodyModelError(f"body model file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except ValueError as err:
        if "pickle" in str(err):
            raise BodyModelError(f"{path} holds pickled objects; body model files must be plain arrays") from None
        raise BodyModelError(f"{path} is not a readable body model .npz ({err})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as err:
        raise BodyModelError(f"{path} is not a readable body model .npz ({type(err).__name__}: {err})") from None
    return body_model_from_arrays(arrays, source=str(path))


def save_body_model(model: BodyModel, path: str | os.PathLike) -> Path:
    """Write `model` as a compressed .npz at `path`, atomically (temp file then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, error=BodyModelError, what="body model") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **body_model_to_arrays(model))
    return path


def _parents_from_kintree(table: np.ndarray, source: str) -> np.ndarray:
    """SMPL's kintree_table row 0 -> (24,) int64 parents with -1 for the root."""
    row = np.asarray(table[0]).astype(np.int64)
    if row[0] in (-1, _UINT32_ROOT):
        row[0] = -1
    if tuple(row.tolist()) != SMPL_PARENTS:
        raise BodyModelError(
            f"{source}: kintree_table row 0 is {row.tolist()}, expected SMPL's parents {list(SMPL_PARENTS)}"
        )
    return row


class _Checker:
    """Reads keys of a file's arrays, raising BodyModelError that names the file, key and expectation."""

    def __init__(self, arrays: Mapping[str, np.ndarray], source: str) -> None:
        self.arrays, self.source = arrays, source

    def fail(self, key: str, message: str) -> BodyModelError:
        return BodyModelError(f"{self.source}: '{key}' {message}")

    def present(self, keys: tuple[str, ...]) -> None:
        missing = [key for key in keys if key not in self.arrays]
        if missing:
            raise BodyModelError(
                f"{self.source} is not a complete body model file: missing key(s) {', '.join(missing)}"
            )

    def array(self, key: str, shape: tuple[int | None, ...]) -> np.ndarray:
        value = np.asarray(self.arrays[key])
        if value.ndim != len(shape) or any(e is not None and e != a for e, a in zip(shape, value.shape, strict=False)):
            wanted = "(" + ", ".join("any" if e is None else str(e) for e in shape) + ")"
            raise self.fail(key, f"has shape {value.shape}, expected {wanted}")
        return value

    def floats(self, key: str, shape: tuple[int | None, ...]) -> np.ndarray:
        value = self.array(key, shape)
        if value.dtype.kind not in "fiu":
            raise self.fail(key, f"has dtype {value.dtype}, expected floating point numbers")
        value = value.astype(np.float32)
        if not np.all(np.isfinite(value)):
            raise self.fail(key, "holds NaN or infinite values")
        return value

    def ids(self, key: str, shape: tuple[int | None, ...], count: int, nonempty: bool = False) -> np.ndarray:
        value = self.array(key, shape)
        if value.dtype.kind not in "iu":
            raise self.fail(key, f"has dtype {value.dtype}, expected integer vertex ids")
        if nonempty and value.size == 0:
            raise self.fail(key, "is empty")
        if value.size and (value.min() < 0 or value.max() >= count):
            raise self.fail(key, f"holds ids outside [0, {count}) (min {value.min()}, max {value.max()})")
        return value.astype(np.int64)

    def strings(self, key: str, count: int) -> tuple[str, ...]:
        value = self.array(key, (count,))
        if value.dtype.kind not in "US":
            raise self.fail(key, f"has dtype {value.dtype}, expected strings")
        return tuple(_text(v) for v in value.tolist())

    def scalar_str(self, key: str) -> str:
        value = self.array(key, ())
        if value.dtype.kind not in "US":
            raise self.fail(key, f"has dtype {value.dtype}, expected a string")
        return _text(value.item())

    def scalar_int(self, key: str) -> int:
        value = self.array(key, ())
        if value.dtype.kind not in "iu":
            raise self.fail(key, f"has dtype {value.dtype}, expected an integer")
        return int(value.item())


def _text(value: str | bytes) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
