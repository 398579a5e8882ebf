import os
import stat

import pytest

from engine.atomic import atomic_path
from engine.errors import MotionFileError, PlantedError


def test_replaces_target_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]  # no temporary left behind
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_gets_the_mode_open_would_give(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "f") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o644


def test_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(MotionFileError, match="does not exist"):
        with atomic_path(tmp_path / "nope" / "f.bvh", error=MotionFileError, what="BVH"):
            pass
    with pytest.raises(PlantedError):
        with atomic_path(tmp_path / "nope" / "f"):
            pass
