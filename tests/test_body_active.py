"""Which body model is active: --body-model, else PLANTED_BODY_MODEL, else the free one; cached by mtime."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from test_body_model import make_test_arrays

from engine.body import active
from engine.body.active import (
    ENV_VAR,
    FREE_BODY_MODEL_PATH,
    describe_active_body_model,
    load_active_body_model,
    resolve_body_model,
)
from engine.errors import BodyModelError


@pytest.fixture
def user_model(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez_compressed(path, **make_test_arrays())
    return path


def test_resolution_order(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_body_model().source == "free" and resolve_body_model().path == FREE_BODY_MODEL_PATH
    assert resolve_body_model().is_free
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env.npz"))
    choice = resolve_body_model()
    assert choice.source == "PLANTED_BODY_MODEL" and choice.path == tmp_path / "env.npz" and not choice.is_free
    choice = resolve_body_model(tmp_path / "cli.npz")
    assert choice.source == "--body-model" and choice.path == tmp_path / "cli.npz"
    monkeypatch.setenv(ENV_VAR, "  ")
    assert resolve_body_model().source == "free"


def test_loads_and_caches_by_mtime(user_model, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(user_model))
    first = load_active_body_model()
    assert first.model_id == "test-body"
    assert load_active_body_model() is first
    assert load_active_body_model(user_model) is first
    arrays = make_test_arrays()
    arrays["model_id"] = np.array("rewritten")
    np.savez_compressed(user_model, **arrays)
    stat = user_model.stat()
    os.utime(user_model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    second = load_active_body_model()
    assert second is not first and second.model_id == "rewritten"


def test_errors_name_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "absent.npz"))
    with pytest.raises(BodyModelError, match=r"absent\.npz.*given by PLANTED_BODY_MODEL"):
        load_active_body_model()
    broken = tmp_path / "broken.npz"
    arrays = make_test_arrays()
    arrays["weights"] = arrays["weights"][:, :20]
    np.savez(broken, **arrays)
    with pytest.raises(BodyModelError, match=r"broken\.npz: 'weights' has shape \(288, 20\)"):
        load_active_body_model(broken)


def test_missing_free_model_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(active, "FREE_BODY_MODEL_PATH", tmp_path / "free_body_model.npz")
    with pytest.raises(BodyModelError, match="free body model .* is missing.*--body-model"):
        load_active_body_model()
    assert describe_active_body_model(None).startswith("missing: free model")


def test_describe(user_model, tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    line = describe_active_body_model(str(user_model))
    assert line == f"user's (from --body-model): {user_model} (id test-body, 288 vertices, neutral)"
    monkeypatch.setenv(ENV_VAR, str(user_model))
    assert describe_active_body_model(None).startswith("user's (from PLANTED_BODY_MODEL)")
    assert describe_active_body_model(str(tmp_path / "nope.npz")).startswith("missing: user's (from --body-model)")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    assert describe_active_body_model(str(tmp_path / "junk.npz")).startswith("unusable: user's (from --body-model)")


def test_planted_info_reports_the_user_model(user_model):
    out = subprocess.run([sys.executable, "-m", "engine.cli", "--body-model", str(user_model), "info"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert f"user's (from --body-model): {user_model} (id test-body, 288 vertices" in out.stdout


def test_free_model_loads_when_built():
    if not FREE_BODY_MODEL_PATH.is_file():
        pytest.skip(f"{FREE_BODY_MODEL_PATH} is not built yet (scripts/build_free_body_model.py)")
    model = active.load_body_model(FREE_BODY_MODEL_PATH)
    assert model.num_vertices > 1000 and not model.has_pose_correctives
    assert describe_active_body_model(str(FREE_BODY_MODEL_PATH)).startswith("free model: ")
