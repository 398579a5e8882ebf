"""scripts/bench/body_forward.py runs and its --json output is one object with the documented keys."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import numpy as np
from test_body_model import make_test_arrays

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "bench" / "body_forward.py"


def test_bench_json(tmp_path):
    path = tmp_path / "body.npz"
    np.savez_compressed(path, **make_test_arrays())
    out = subprocess.run([sys.executable, str(SCRIPT), "--body-model", str(path), "--frames", "20", "--repeats", "1",
                          "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    for key in ("numpy_joints_fps", "numpy_vertices_fps", "smplx_fps"):
        assert result[key] > 0
    assert result["num_vertices"] == 288 and result["frames"] == 20
