"""What travels to the GPU machine: the data roots the synthetic renderer reads from the environment, the pack's
data pieces (training clips only), and slim_tree.sh's stash and restore. Nothing here downloads."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from engine.errors import PlantedError
from training.data.synthetic import appearance, clips

ROOT = pathlib.Path(__file__).resolve().parents[1]
WALK = "conventions/bvhtoolbox_walk01.bvh"  # a small training clip


def test_clips_are_read_from_planted_mocap_root(tmp_path, monkeypatch):
    monkeypatch.delenv(clips.MOCAP_ROOT_VARIABLE, raising=False)
    assert clips.mocap_root() == clips.MOCAP_ROOT  # the default, unchanged
    (tmp_path / WALK).parent.mkdir(parents=True)
    shutil.copyfile(clips.MOCAP_ROOT / WALK, tmp_path / WALK)
    monkeypatch.setenv(clips.MOCAP_ROOT_VARIABLE, str(tmp_path))
    assert clips.mocap_root() == tmp_path
    assert clips.load_clip(WALK).num_frames > 10
    with pytest.raises(PlantedError, match=clips.MOCAP_ROOT_VARIABLE):
        clips.load_clip("cmu/131_01.bvh")  # not in that folder, though in ../shared/data/mocap


def test_backgrounds_are_read_from_planted_backgrounds(tmp_path, monkeypatch):
    monkeypatch.delenv(appearance.BACKGROUNDS_VARIABLE, raising=False)
    assert appearance.backgrounds_folder() == appearance.OPENCV_SAMPLES
    photo = np.random.default_rng(0).integers(0, 255, (200, 300, 3), dtype=np.uint8)
    name = next(n for n in appearance.BACKGROUND_PHOTOS if n.endswith(".png"))  # lossless
    cv2.imwrite(str(tmp_path / name), photo[..., ::-1])  # cv2 writes BGR
    monkeypatch.setenv(appearance.BACKGROUNDS_VARIABLE, str(tmp_path))
    photos = appearance.background_photos()
    assert len(photos) == 1 and np.array_equal(photos[0], photo)
    monkeypatch.setenv(appearance.BACKGROUNDS_VARIABLE, str(tmp_path / "empty"))
    assert appearance.background_photos() == ()


def test_the_pack_holds_the_training_clips_and_no_held_out_one(tmp_path):
    site = tmp_path / "site"
    done = subprocess.run([str(ROOT / "scripts" / "gpu" / "prepare_site.sh"), "--site", str(site), "--no-download"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    listing = json.loads(clips.CLIP_LIST.read_text())
    packed = sorted(str(p.relative_to(site / "mocap")) for p in (site / "mocap").rglob("*.bvh"))
    assert packed == sorted(listing["train"]) and not set(packed) & set(listing["held_out"])
    assert (site / "python" / "smplx" / "__init__.py").is_file()
    assert not (site / "wheels").exists() and not (site / "debs").exists()
    here = [n for n in (*appearance.BACKGROUND_PHOTOS, appearance.EMPTY_STREET_VIDEO)
            if (appearance.OPENCV_SAMPLES / n).is_file()]
    assert sorted(p.name for p in (site / "backgrounds").iterdir()) == sorted(here)


def _git(repo: pathlib.Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_slim_tree_stashes_and_restores_safely(tmp_path):
    """In a repository of its own: stash moves the assets out, restore puts them back, both repeat harmlessly,
    a file git checkout brought back is kept, and one that differs from its stashed copy keeps both."""
    repo, stash = tmp_path / "repo", tmp_path / "stash"
    (repo / "scripts" / "gpu").mkdir(parents=True)
    (repo / "engine" / "assets").mkdir(parents=True)
    shutil.copyfile(ROOT / "scripts" / "gpu" / "slim_tree.sh", repo / "scripts" / "gpu" / "slim_tree.sh")
    heavy, kept = repo / "engine" / "assets" / "blazepose_landmark_heavy.onnx", repo / "engine" / "assets" / "x.npz"
    heavy.write_bytes(b"h" * 3_000_000)
    kept.write_bytes(b"k" * 1000)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "assets")

    def slim(verb):
        return subprocess.run(["bash", str(repo / "scripts" / "gpu" / "slim_tree.sh"), verb], capture_output=True,
                              text=True, env={**os.environ, "PLANTED_SLIM_STASH": str(stash)}, timeout=60)

    first = slim("stash")
    assert first.returncode == 0 and not heavy.exists() and kept.exists()
    assert "MiB would travel" in first.stdout and float(first.stdout.split("slim_tree: ")[-1].split()[0]) < 1
    assert slim("stash").returncode == 0 and (stash / "engine/assets/blazepose_landmark_heavy.onnx").is_file()
    assert slim("restore").returncode == 0 and heavy.read_bytes() == b"h" * 3_000_000
    assert slim("restore").returncode == 0 and heavy.exists()
    slim("stash")
    _git(repo, "checkout", "--", ".")  # git brings it back; restore drops the matching stashed copy
    assert slim("restore").returncode == 0 and not (stash / "engine/assets/blazepose_landmark_heavy.onnx").exists()
    slim("stash")
    heavy.write_bytes(b"edited")
    clash = slim("restore")
    assert clash.returncode == 1 and "differs" in clash.stderr and heavy.read_bytes() == b"edited"
    assert (stash / "engine/assets/blazepose_landmark_heavy.onnx").stat().st_size == 3_000_000
