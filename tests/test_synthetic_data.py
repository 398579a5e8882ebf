"""Synthetic training data: the rasteriser against the projected mesh, labels against the torch body model,
contacts from the real clips, determinism, the held-out clips, and shards that give back what was written."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from engine.body.active import load_active_body_model
from engine.body.lbs import body_forward
from engine.capture.ground import fit_ground_plane
from engine.errors import PlantedError
from training.body import BodyModel
from training.data.example import examples_to_batch
from training.data.shards import ShardDataset, write_shard
from training.data.superset import SUPERSET30_NAMES, SUPERSET_NAMES
from training.data.synthetic import raster
from training.data.synthetic.clips import clip_names, load_clip, mirrored
from training.data.synthetic.generator import SyntheticSource
from training.data.synthetic.posing import clip_contacts, sole_trajectory
from training.geometry import CROP_SCALE_PX, weak_perspective_projection

pytest.importorskip("moderngl")


@pytest.fixture(scope="module")
def body():
    return load_active_body_model()


@pytest.fixture(scope="module")
def context():
    try:
        return raster.create_context()
    except PlantedError as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def source(body, context):
    return SyntheticSource(body, "train", count=64, seed=3)


def _polygon_mask(uv: np.ndarray, faces: np.ndarray, height: int, width: int) -> np.ndarray:
    import cv2

    mask = np.zeros((height, width), np.uint8)
    for face in faces:
        cv2.fillConvexPoly(mask, np.round(uv[face] * 16).astype(np.int32), 1, shift=4)
    return mask.astype(bool)


def test_silhouette_is_the_projected_mesh(body, context):
    """The rendered coverage lies inside the mesh's projected triangles and fills them but for their edge pixels."""
    import cv2

    rotation = np.diag([1.0, -1.0, -1.0]) @ np.array([[0.8, 0, 0.6], [0, 1, 0], [-0.6, 0, 0.8]])
    pose = np.zeros((1, 24, 3))
    pose[0, 1, 0], pose[0, 16, 2] = -0.8, -0.9  # a raised thigh and a lowered arm
    vertices = body_forward(body, pose).vertices[0] @ rotation.T + np.array([0.1, 0.2, 3.2])
    camera = raster.Intrinsics(310.0, 300.0, 90.0, 130.0)
    looks = raster.MeshAppearance(np.full((body.num_vertices, 3), 0.7), np.full((body.num_vertices, 3), 0.3),
                                  np.zeros(body.num_vertices), np.asarray(body.v_template, np.float64))
    image = raster.Rasteriser(body.faces, 192, 256, context=context).render(vertices, body.faces, camera, looks)
    covered = image[..., 3] > 127
    mask = _polygon_mask(camera.project(vertices), body.faces, 256, 192)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert covered.sum() > 3000
    assert (covered & ~mask).sum() == 0
    assert (inner & ~covered).sum() <= 0.01 * inner.sum()
    assert (image[..., :3][covered] > 10).all()  # lit, not black


def test_labels_agree_with_the_torch_body_and_the_camera(body, source):
    """The 3D labels are the torch body posed by the labelled rotations and shape; the weak-perspective camera
    projects it onto the 2D labels (to the perspective's own error), and the 2D labels lie on the body."""
    examples = [source[i] for i in range(6)]
    batch = examples_to_batch(examples, SUPERSET30_NAMES)
    out = BodyModel(body)(batch["gt_pose_rotmat"], batch["gt_betas"])
    kp3d = batch["gt_keypoints_3d"][..., :3]
    roots = [SUPERSET30_NAMES.index("left_hip"), SUPERSET30_NAMES.index("right_hip")]

    def centred(points):
        return points - points[:, roots].mean(dim=1, keepdim=True)

    assert (centred(out.keypoints) - centred(kp3d)).norm(dim=-1).max() < 2e-3  # metres
    projected = weak_perspective_projection(out.keypoints, batch["gt_cam"])
    visible = batch["gt_keypoints_2d"][..., 2] > 0
    error_px = (projected - batch["gt_keypoints_2d"][..., :2]).norm(dim=-1)[visible] * CROP_SCALE_PX
    assert visible.float().mean() > 0.8
    assert error_px.median() < 6.0
    for example in examples:  # the pelvis label sits on the rendered body
        u, v = example.keypoints_2d[SUPERSET_NAMES.index("pelvis"), :2].round().astype(int)
        assert example.keypoints_2d[SUPERSET_NAMES.index("pelvis"), 2] == 1
        assert 0 <= u < 192 and 0 <= v < 256


def test_examples_are_reproducible_and_varied(source):
    first, again, other = source[5], source[5], source[6]
    assert np.array_equal(first.image, again.image)
    assert np.array_equal(first.keypoints_2d, again.keypoints_2d)
    assert first.key == again.key and first.key != other.key
    assert not np.array_equal(first.image, other.image)
    assert first.image.shape == (256, 192, 3) and first.has_pose and first.has_contact and first.has_cam
    assert first.image.std() > 10


def test_contacts_follow_the_planted_foot_of_a_real_walk(body):
    """Eq. 4 over a real CMU walk: each sole is labelled on the frames it is down and still, never while it swings."""
    clip = load_clip("cmu/131_01.bvh")
    contact = clip_contacts(body, clip, np.zeros(10))
    soles = sole_trajectory(body, clip, np.zeros(10))
    speed = np.linalg.norm(np.diff(soles, axis=0), axis=-1) * clip.fps  # m/s per sole vertex
    assert np.median(speed[contact[1:]]) < 0.2 and np.median(speed[~contact[1:]]) > 0.35
    half = body.num_left_contact_vertices
    for side in (slice(0, half), slice(half, None)):
        down = contact[:, side].any(axis=1)
        assert 0.2 < down.mean() < 0.95  # a walk: each foot both stands and swings
    plane = fit_ground_plane(soles)  # Eq. 4's plane is the floor: level, and where the soles rest
    assert plane.normal[1] > np.cos(np.radians(3))
    assert np.abs(np.median(plane.signed_distance(soles).min(axis=1))) < 0.02


def test_mirroring_swaps_sides_and_twice_is_identity(body):
    clip = load_clip("xia/neutral_01_000.bvh")
    twice = mirrored(mirrored(clip))
    assert np.allclose(twice.rotations, clip.rotations) and np.allclose(twice.pelvis, clip.pelvis)
    joints = body_forward(body, clip.rotations[:20], np.zeros(10), vertices=False).joints
    flipped = body_forward(body, mirrored(clip).rotations[:20], np.zeros(10), vertices=False).joints
    # the mirrored left ankle is the right ankle reflected through x = 0 (the body is nearly symmetric)
    assert np.abs(flipped[:, 7] - joints[:, 8] * [-1, 1, 1]).max() < 0.02


def test_held_out_clips_never_train(body, context):
    train, held_out = set(clip_names("train")), set(clip_names("held_out"))
    assert train and held_out and not train & held_out
    evaluation = SyntheticSource(body, "held_out", count=8, seed=0)
    keys = [evaluation[i].key for i in range(8)]
    assert all(k.split(":")[1].split("#")[0] in held_out for k in keys)
    with pytest.raises(PlantedError, match="split"):
        clip_names("test")


def test_shard_round_trip(source, tmp_path):
    examples = [source[i] for i in range(5)]
    path = write_shard(tmp_path / "s.npz", examples)
    back = ShardDataset([path, path])
    assert len(back) == 10
    for original, stored in zip(examples * 2, [back[i] for i in range(10)], strict=True):
        assert stored.key == original.key and stored.source == original.source
        assert np.array_equal(stored.keypoints_2d, original.keypoints_2d)
        assert np.array_equal(stored.contact, original.contact)
        assert np.abs(stored.image.astype(int) - original.image).mean() < 8  # JPEG quality 95 of noisy crops
    batch = examples_to_batch([back[0], back[1]], SUPERSET30_NAMES)
    assert torch.equal(batch["gt_pose_rotmat"][0], torch.from_numpy(examples[0].pose_rotmat))


def test_damaged_shard_is_refused_with_its_name(source, tmp_path):
    path = write_shard(tmp_path / "s.npz", [source[0]])
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(PlantedError, match="s.npz"):
        ShardDataset([path])
    with pytest.raises(PlantedError, match="does not exist"):
        ShardDataset([tmp_path / "missing.npz"])


def test_a_sequence_is_one_person_filmed_by_one_camera(body, context):
    """Consecutive frames of a held-out walk: same shape and camera, the body moving smoothly in the camera frame,
    each frame cropped around the person."""
    source = SyntheticSource(body, "held_out", count=1, seed=2)
    walk = [c.name for c in source.clips].index("cmu/131_02.bvh")
    frames = source.sequence(walk, start=500, length=12, stride=4)
    assert len(frames) == 12 and all(f.key.startswith("cmu/131_02.bvh:") for f in frames)
    assert all(np.array_equal(f.betas, frames[0].betas) for f in frames)
    pelvis = np.array([f.keypoints_3d[SUPERSET_NAMES.index("pelvis"), :3] for f in frames])
    steps = np.linalg.norm(np.diff(pelvis, axis=0), axis=1)  # metres per 4 frames at 120 fps
    assert 0.01 < np.median(steps) < 0.1
    for f in frames:  # each crop frames the person
        visible = f.keypoints_2d[:, 2] > 0
        assert visible.mean() > 0.95


def test_the_crop_affine_maps_the_full_view_onto_the_crop(source):
    """The stored affine takes the virtual camera's full-image projection to the crop's 2D labels."""
    example = source[7]
    rng = np.random.default_rng((source.seed, 7))
    posed, _ = source.posed_body(rng)
    from training.data.synthetic.camera import sample_camera

    camera = sample_camera(rng, posed.keypoints, 192, 256, source.settings.camera)
    points = camera.to_camera(posed.keypoints)
    full = points[:, :2] / points[:, 2:3] * camera.focal
    mapped = full @ example.affine[:, :2].T + example.affine[:, 2]
    assert np.abs(mapped - example.keypoints_2d[:, :2]).max() < 1e-3


def test_a_mixed_batch_keeps_the_contact_labels_it_has(source):
    """Synthetic examples carry contacts, photos do not: the batch keeps the former's and masks the latter."""
    from dataclasses import replace

    with_contact = source[0]
    photo = replace(source[1], contact=None, has_contact=False)
    batch = examples_to_batch([with_contact, photo], SUPERSET30_NAMES)
    assert batch["has_contact"].tolist() == [True, False]
    assert torch.equal(batch["gt_contact"][0], torch.from_numpy(with_contact.contact))
    assert batch["gt_contact"][1].abs().sum() == 0


def test_make_shards_writes_shards_and_a_grid(context, tmp_path, capsys):
    from training.data.make_shards import main

    assert main(["--kind", "synthetic_held_out", "--count", "3", "--per-shard", "2", "-o", str(tmp_path / "s"),
                 "--grid", str(tmp_path / "grid.png")]) == 0
    shards = sorted((tmp_path / "s").glob("*.npz"))
    assert [p.name for p in shards] == ["synthetic_held_out-00000.npz", "synthetic_held_out-00001.npz"]
    assert len(ShardDataset(shards)) == 3 and (tmp_path / "grid.png").stat().st_size > 10000
    assert main(["--kind", "nope", "-o", str(tmp_path / "t")]) == 2
    assert "unknown kind 'nope'" in capsys.readouterr().err


class _RenderedWhere(torch.utils.data.Dataset):
    """Item i: example i's image, the process that rendered it and the process that opened its GL context."""

    def __init__(self, source: SyntheticSource) -> None:
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> dict:
        image = self.source[i].image
        return {"image": torch.from_numpy(image), "pid": os.getpid(), "gl_pid": self.source._rasteriser_pid}


_WORKERS_RENDER = """
import os, sys, numpy as np, torch
from engine.body.active import load_active_body_model
from tests.test_synthetic_data import _RenderedWhere
from training.data.synthetic.generator import SyntheticSource
source = SyntheticSource(load_active_body_model(), "train", count=4, seed=5)
items = list(torch.utils.data.DataLoader(_RenderedWhere(source), batch_size=None, sampler=range(4), num_workers=2))
workers = {int(item["pid"]) for item in items}
assert len(workers) == 2 and os.getpid() not in workers, workers
assert all(int(item["gl_pid"]) == int(item["pid"]) for item in items)
assert all(np.array_equal(item["image"].numpy(), source[i].image) for i, item in enumerate(items))
print("ok")
"""


def test_dataloader_workers_render_in_gl_contexts_of_their_own():
    """Two workers forked before anything rendered (a fresh interpreter: this one has contexts open) each open
    their own context (Mesa EGL here, the driver's on a GPU machine) and render what the parent renders after."""
    root = pathlib.Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", _WORKERS_RENDER], capture_output=True, text=True, timeout=120,
                          cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_a_worker_forked_after_the_parent_rendered_refuses_to_render(source):
    """EGL hangs in a child forked after its parent opened a context: the worker says so instead."""
    source[0]  # the parent's context is open
    loader = torch.utils.data.DataLoader(_RenderedWhere(source), batch_size=None, sampler=range(1), num_workers=1)
    with pytest.raises(PlantedError, match="forked from process"):
        list(loader)
