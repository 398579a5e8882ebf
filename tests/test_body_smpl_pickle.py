"""Importing the user's SMPL .pkl: a pickle shaped like SMPL's (stand-in chumpy classes) converts
exactly; malicious, corrupt and truncated pickles are refused with a clear message, having run nothing."""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import pickle
import subprocess
import sys
import types

import numpy as np
import pytest
from scipy import sparse
from test_body_model import make_test_arrays

from engine.body.joints import SMPL_JOINT_NAMES
from engine.body.keypoints import COCO17_NAMES, FEET6_NAMES, H36M17_NAMES, H36M_TO_J14, LSP14_NAMES
from engine.body.model import load_body_model
from engine.body.smpl_pickle import gender_from_filename, import_smpl, read_smpl_pickle, sole_vertex_ids
from engine.cli import main as planted_main
from engine.errors import BodyModelError

# Vertex ids of the face and foot keypoints on the small test mesh (SMPL's own exceed its 288 vertices).
SMALL_MESH_KEYPOINT_IDS = {
    "nose": 180, "right_eye": 181, "left_eye": 182, "right_ear": 183, "left_ear": 184,
    "left_big_toe": 120, "left_small_toe": 121, "left_heel": 122,
    "right_big_toe": 132, "right_small_toe": 133, "right_heel": 134,
}


@contextlib.contextmanager
def fake_chumpy():
    """A module `chumpy.ch` with a class `Ch` holding its value in `x`, as chumpy's does, only while pickling."""
    package, module = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x):
            self.x = np.asarray(x)
            self.dterms = ("x",)
            self._dirty_vars = set()

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    module.Ch, package.ch, package.Ch = Ch, module, Ch
    saved = {name: sys.modules.get(name) for name in ("chumpy", "chumpy.ch")}
    sys.modules.update({"chumpy": package, "chumpy.ch": module})
    try:
        yield Ch
    finally:
        for name, value in saved.items():
            if value is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = value


def smpl_like_pickle(arrays: dict, protocol: int = 2, drop: tuple[str, ...] = (), num_shape_components: int = 12):
    """Bytes of a pickle laid out like SMPL's basicModel_*.pkl, from a body model file's arrays."""
    rng = np.random.default_rng(5)
    shapedirs = np.concatenate(
        [arrays["shapedirs"], rng.normal(0, 0.01, arrays["shapedirs"].shape[:2] + (num_shape_components - 10,))],
        axis=2,
    )
    with fake_chumpy() as Ch:
        raw = {
            "v_template": Ch(arrays["v_template"].astype(np.float64)),
            "f": arrays["f"].astype(np.uint32),
            "J_regressor": sparse.csc_matrix(arrays["J_regressor"].astype(np.float64)),
            "weights": Ch(arrays["weights"].astype(np.float64)),
            "kintree_table": (arrays["kintree_table"] % 2**32).astype(np.int64),
            "shapedirs": Ch(shapedirs),
            "posedirs": arrays["posedirs"].astype(np.float64),
            "J": arrays["J_regressor"].astype(np.float64) @ arrays["v_template"],
            "bs_style": "lbs",
            "bs_type": "lrotmin",
            "vert_sym_idxs": np.arange(arrays["v_template"].shape[0]),
            "weights_prior": Ch(arrays["weights"].astype(np.float64)),
            "pose_training_info": {"nSubjects": 1, "nPoses": 2},
        }
        for key in drop:
            del raw[key]
        data = pickle.dumps(raw, protocol=protocol)
    if protocol <= 2:  # as written by the scipy of SMPL's time
        data = data.replace(b"scipy.sparse._csc\n", b"scipy.sparse.csc\n")
    return data


@pytest.fixture(scope="module")
def arrays():
    return make_test_arrays(seed=3)


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_smpl_like_pickle_round_trips(arrays, tmp_path, protocol):
    pkl = tmp_path / "SMPL_FEMALE.pkl"
    pkl.write_bytes(smpl_like_pickle(arrays, protocol))
    out = import_smpl(pkl, tmp_path / "out" / "smpl.npz", keypoint_vertex_ids=SMALL_MESH_KEYPOINT_IDS)
    model = load_body_model(out)
    np.testing.assert_array_equal(model.v_template, arrays["v_template"])
    np.testing.assert_array_equal(model.faces, arrays["f"])
    np.testing.assert_array_equal(model.joint_regressor.toarray(), arrays["J_regressor"])
    np.testing.assert_array_equal(model.weights, arrays["weights"])
    np.testing.assert_array_equal(model.shapedirs, arrays["shapedirs"])  # first 10 of 12 components
    np.testing.assert_array_equal(model.posedirs, arrays["posedirs"])
    assert model.parents.tolist()[0] == -1 and model.joint_names == SMPL_JOINT_NAMES
    assert model.gender == "female" and model.model_id == "smpl-female"
    provenance = json.loads(str(model.extras["provenance"]))
    assert provenance["source_file"] == "SMPL_FEMALE.pkl" and "approximated" in provenance["h36m17_lsp14"]


def test_keypoints_and_soles_built_from_smpl(arrays, tmp_path):
    pkl = tmp_path / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    pkl.write_bytes(smpl_like_pickle(arrays))
    model = load_body_model(import_smpl(pkl, keypoint_vertex_ids=SMALL_MESH_KEYPOINT_IDS))
    assert model.gender == "neutral"
    j = arrays["J_regressor"]
    feet = model.keypoint_regressors["feet6"].toarray()
    for row, name in zip(feet, FEET6_NAMES, strict=True):
        assert row.nonzero()[0].tolist() == [SMALL_MESH_KEYPOINT_IDS[name]] and row.sum() == 1.0
    coco = model.keypoint_regressors["coco17"].toarray()
    np.testing.assert_array_equal(coco[COCO17_NAMES.index("left_knee")], j[SMPL_JOINT_NAMES.index("left_knee")])
    assert coco[COCO17_NAMES.index("nose")].nonzero()[0].tolist() == [SMALL_MESH_KEYPOINT_IDS["nose"]]
    h36m = model.keypoint_regressors["h36m17"].toarray()
    np.testing.assert_array_equal(model.keypoint_regressors["lsp14"].toarray(), h36m[list(H36M_TO_J14)])
    assert model.keypoint_names["lsp14"] == LSP14_NAMES and model.keypoint_names["h36m17"] == H36M17_NAMES
    np.testing.assert_array_equal(model.keypoint_regressors["smpl24"].toarray(), j)
    # Soles: the lowest vertices of each side, left at +x.
    v = arrays["v_template"]
    assert np.all(v[model.left_sole_ids, 0] > 0) and np.all(v[model.right_sole_ids, 0] < 0)
    left_low = v[v[:, 0] > 0, 1].min()
    assert np.all(v[model.left_sole_ids, 1] <= left_low + 0.005)
    assert np.argmin(v[:, 1]) in np.concatenate([model.left_sole_ids, model.right_sole_ids])


def test_h36m_regressor_used_when_given(arrays, tmp_path):
    pkl = tmp_path / "SMPL_MALE.pkl"
    pkl.write_bytes(smpl_like_pickle(arrays))
    h36m = np.random.default_rng(0).dirichlet(np.ones(arrays["v_template"].shape[0]), 17)
    np.save(tmp_path / "J_regressor_h36m.npy", h36m)
    out = import_smpl(pkl, h36m_regressor_path=tmp_path / "J_regressor_h36m.npy",
                      keypoint_vertex_ids=SMALL_MESH_KEYPOINT_IDS)
    model = load_body_model(out)
    np.testing.assert_allclose(model.keypoint_regressors["h36m17"].toarray(), h36m.astype(np.float32))
    np.testing.assert_allclose(model.keypoint_regressors["lsp14"].toarray(), h36m[list(H36M_TO_J14)].astype(np.float32))
    assert json.loads(str(model.extras["provenance"]))["h36m17_lsp14"] == "J_regressor_h36m"


class _SystemCall:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _EvalCall(_SystemCall):
    def __reduce__(self):
        return builtins.eval, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


class _PopenCall(_SystemCall):
    def __reduce__(self):
        return subprocess.Popen, (["touch", str(self.marker)],)


@pytest.mark.parametrize(
    "payload, refused_class",
    [(_SystemCall, "posix.system"), (_EvalCall, "builtins.eval"), (_PopenCall, "subprocess.Popen")],
)
def test_malicious_pickle_refused_without_running(tmp_path, payload, refused_class):
    marker = tmp_path / "pwned"
    pkl = tmp_path / "SMPL_NEUTRAL.pkl"
    pkl.write_bytes(pickle.dumps({"v_template": np.zeros((3, 3)), "f": payload(marker)}, protocol=4))
    with pytest.raises(BodyModelError) as info:
        import_smpl(pkl)
    message = str(info.value)
    assert str(pkl) in message and f"tried to load class {refused_class}" in message
    assert "nothing was executed" in message
    assert not marker.exists()
    assert not (tmp_path / "SMPL_NEUTRAL.npz").exists()


def test_malicious_pickle_refused_by_cli(tmp_path, capsys):
    marker = tmp_path / "pwned"
    pkl = tmp_path / "SMPL_NEUTRAL.pkl"
    pkl.write_bytes(pickle.dumps([_SystemCall(marker)], protocol=2))
    assert planted_main(["body", "import", str(pkl)]) == 2
    err = capsys.readouterr().err
    assert "tried to load class posix.system" in err and "Traceback" not in err
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_pickle_refused(arrays, tmp_path, damage):
    data = smpl_like_pickle(arrays)
    data = {"garbage": b"\x13\x37 not a pickle" * 20, "truncated": data[: len(data) // 2], "empty": b""}[damage]
    pkl = tmp_path / "SMPL_NEUTRAL.pkl"
    pkl.write_bytes(data)
    with pytest.raises(BodyModelError, match=rf"{pkl}.*not a readable SMPL model pickle"):
        read_smpl_pickle(pkl)


def test_missing_key_named(arrays, tmp_path):
    pkl = tmp_path / "SMPL_NEUTRAL.pkl"
    pkl.write_bytes(smpl_like_pickle(arrays, drop=("posedirs",)))
    with pytest.raises(BodyModelError, match="not an SMPL model file: missing key.*posedirs"):
        import_smpl(pkl, keypoint_vertex_ids=SMALL_MESH_KEYPOINT_IDS)


def test_not_a_dict_refused(tmp_path):
    pkl = tmp_path / "SMPL_NEUTRAL.pkl"
    pkl.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(BodyModelError, match="holds a list, not the dict"):
        read_smpl_pickle(pkl)


def test_cli_refuses_non_smpl_topology(arrays, tmp_path, capsys):
    """With SMPL's own keypoint vertex ids, a 288-vertex mesh cannot be SMPL: refused with the reason."""
    pkl = tmp_path / "SMPL_NEUTRAL.pkl"
    pkl.write_bytes(smpl_like_pickle(arrays))
    assert planted_main(["body", "import", str(pkl), "-o", str(tmp_path / "x.npz")]) == 2
    assert "has 288 vertices, not SMPL's 6890" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


def test_cli_imports_smpl_sized_pickle(tmp_path, capsys):
    """A 6890-vertex pickle shaped like SMPL's goes through `planted body import` end to end."""
    rng = np.random.default_rng(0)
    small = make_test_arrays(seed=1)
    owner = np.arange(6890) % small["v_template"].shape[0]  # every vertex copies one of the small mesh's
    arrays = dict(small)
    arrays["v_template"] = (small["v_template"][owner] + rng.normal(0, 0.002, (6890, 3))).astype(np.float32)
    arrays["weights"] = small["weights"][owner]
    arrays["shapedirs"] = small["shapedirs"][owner]
    arrays["posedirs"] = np.zeros((6890, 3, 207), dtype=np.float32)
    j = np.zeros((24, 6890), dtype=np.float32)
    j[:, : small["J_regressor"].shape[1]] = small["J_regressor"]
    arrays["J_regressor"] = j
    arrays["f"] = np.arange(6888).reshape(-1, 3)
    pkl = tmp_path / "SMPL_MALE.pkl"
    pkl.write_bytes(smpl_like_pickle(arrays, num_shape_components=10))
    out = tmp_path / "converted.npz"
    assert planted_main(["body", "import", str(pkl), "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    model = load_body_model(out)
    assert model.num_vertices == 6890 and model.model_id == "smpl-male" and not model.has_pose_correctives
    assert model.keypoint_regressors["feet6"].toarray()[0].nonzero()[0].tolist() == [3216]


def test_gender_from_file_names():
    from pathlib import Path

    assert gender_from_filename(Path("SMPL_NEUTRAL.pkl")) == "neutral"
    assert gender_from_filename(Path("SMPL_FEMALE.pkl")) == "female"
    assert gender_from_filename(Path("SMPL_MALE.pkl")) == "male"
    assert gender_from_filename(Path("basicModel_f_lbs_10_207_0_v1.0.0.pkl")) == "female"
    assert gender_from_filename(Path("basicmodel_m_lbs_10_207_0_v1.1.0.pkl")) == "male"
    assert gender_from_filename(Path("body.pkl")) is None


def test_sole_vertex_ids_split_by_side():
    v = np.array([[0.1, 0.0, 0.0], [0.1, 0.004, 0.1], [0.1, 0.02, 0.0], [-0.1, 0.001, 0.0], [-0.1, 0.5, 0.0]])
    left, right = sole_vertex_ids(v)
    assert left.tolist() == [0, 1] and right.tolist() == [3]
