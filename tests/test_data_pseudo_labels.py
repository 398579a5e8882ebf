"""training.data.pseudo_labels and pseudo_examples on a real clip (pose_1.mp4, its first 30 frames)."""

from __future__ import annotations

import numpy as np
import pytest
from capture_support import DATA, VIDEO

from engine.body.active import load_active_body_model
from engine.body.lbs import body_forward
from engine.capture.video import VideoReader
from engine.rotations import axis_angle_to_matrix
from training.data.crop import apply_affine
from training.data.files import DatasetFileError
from training.data.pseudo_examples import PseudoLabelExamples
from training.data.pseudo_labels import body23_to_superset, labels_from_annotation, main, superset_keypoints_3d
from training.data.superset import SUPERSET_NAMES, coco_name

ROW = {n: i for i, n in enumerate(SUPERSET_NAMES)}
CLIP = VIDEO / "pose_1.mp4"


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    out = tmp_path_factory.mktemp("pseudo") / "labels.npz"
    assert main(["--videos", str(CLIP), "-o", str(out), "--end", "30", "-q"]) == 0
    with np.load(out, allow_pickle=False) as data:
        return out, {k: data[k] for k in data.files}


def test_the_labels_file_is_small_and_complete(labelled):
    path, labels = labelled
    n = len(labels["frame"])
    assert 25 <= n <= 30 and path.stat().st_size < 100_000
    assert set(labels["frame"]) <= set(range(30)) and (labels["method"] == "fit").all()
    assert labels["keypoints_2d"].shape == (n, len(SUPERSET_NAMES), 3) and labels["pose"].shape == (n, 72)
    assert ((labels["weight"] > 0.2) & (labels["weight"] <= 1)).all()
    assert labels["has_contact"].all() and labels["contact_bits"].any()


def test_body23_points_land_in_their_superset_rows():
    points = np.arange(23 * 2, dtype=float).reshape(1, 23, 2)
    conf = np.full((1, 23), 0.9)
    conf[0, 18] = 0.0  # left small toe: never estimated
    out = body23_to_superset(points, conf)
    np.testing.assert_array_equal(out[0, ROW["coco_left_hip"], :2], points[0, 11])
    np.testing.assert_array_equal(out[0, ROW["nose"], :2], points[0, 0])
    np.testing.assert_array_equal(out[0, ROW["left_heel"], :2], points[0, 19])
    assert out[0, ROW["left_small_toe"], 2] == 0 and out[0, ROW["left_hip"], 2] == 0  # LSP's hip: not COCO's


def test_examples_carry_the_stage_keypoints_and_a_camera_frame_body(labelled):
    path, labels = labelled
    examples = PseudoLabelExamples(path)
    diagonal = np.hypot(576, 576)  # the capture's default focal length (px), principal point at the centre
    upright = []
    for i in (0, len(examples) // 2, len(examples) - 1):
        crop = examples.crop(i)
        e = crop.example
        assert e.image.shape == (256, 192, 3) and e.has_pose and e.has_betas and e.has_contact
        assert e.contact.shape == (len(load_active_body_model().contact_vertex_ids),)
        assert e.key.startswith("pose_1.mp4:")
        kp = labels["keypoints_2d"][i]
        sure = kp[:, 2] > 0.5
        np.testing.assert_allclose(e.keypoints_2d[sure, :2], apply_affine(kp[sure, :2], crop.affine), atol=1e-3)
        # the 3D body, projected by the video's camera, sits on the stage's 2D points
        x = e.keypoints_3d[:, :3]
        assert (x[:, 2] > 1).all()
        projected = apply_affine(diagonal * x[:, :2] / x[:, 2:3] + 288, crop.affine)
        error = np.linalg.norm(projected[sure] - e.keypoints_2d[sure, :2], axis=1)
        assert np.median(error) < 8, error  # crop px (the person is ~200 px tall)
        # the body's up (its rest +y) points up the image (-y in the camera frame)
        upright.append(-e.pose_rotmat[0][1, 1])
    assert min(upright) > 0.7


def test_frames_are_the_engine_s_decoded_frames_in_any_order(labelled):
    path, labels = labelled
    examples = PseudoLabelExamples(path)
    frames = {f.index: f.image for f in VideoReader(CLIP, end=12)}
    for i in (10, 3, 4, 11):
        np.testing.assert_array_equal(examples.image(i), frames[int(labels["frame"][i])])
    import pickle

    copy = pickle.loads(pickle.dumps(examples))  # as a spawned data-loading worker gets it
    np.testing.assert_array_equal(copy[7].image, examples[7].image)


def test_a_multiview_annotation_is_seen_from_each_camera_consistently():
    """Labels in the calibration's world, seen from a real pose2sim camera: the body posed with the converted
    (camera-frame) pose and translation is the world body moved into the camera."""
    from engine.fit.calibration import read_qualisys

    body = load_active_body_model()
    cameras = read_qualisys(DATA / "multiview" / "pose2sim_single" / "Calib.qca.txt")
    rng = np.random.default_rng(0)
    t = 3
    poses = rng.normal(scale=0.2, size=(t, 72))
    betas, trans = rng.normal(scale=0.5, size=10), rng.normal(size=(t, 3)) + [0, 1, 0]
    v = len(cameras)
    contact = np.zeros((t, body.num_vertices), bool)
    contact[:, body.contact_vertex_ids[:10]] = True
    annotation = {
        "poses": poses, "betas": betas, "trans": trans, "vertex_contact_bits": np.packbits(contact, axis=1),
        "num_vertices": np.int64(body.num_vertices), "camera_names": np.array([c.name for c in cameras]),
        "camera_rotation": np.stack([c.rotation for c in cameras]),
        "camera_translation": np.stack([c.translation for c in cameras]),
        "keypoints_2d": rng.uniform(100, 900, size=(v, t, 23, 2)), "keypoint_confidence": np.full((v, t, 23), 0.9),
        "reprojection_px": np.full((v, t), 3.0), "frame_indices": np.arange(t),
    }
    world = superset_keypoints_3d(body, axis_angle_to_matrix(poses.reshape(t, 24, 3)), betas, trans)
    for view, camera in enumerate(cameras[:2]):
        rows = labels_from_annotation(annotation, "labels.npz", view, f"{camera.name}.mp4", body)
        expected = world[..., :3] @ camera.rotation.T + camera.translation
        np.testing.assert_allclose(rows["keypoints_3d"][..., :3], expected, atol=1e-4)
        posed = superset_keypoints_3d(body, axis_angle_to_matrix(rows["pose"].reshape(t, 24, 3).astype(np.float64)),
                                      betas, rows["trans"].astype(np.float64))
        np.testing.assert_allclose(posed[..., :3], expected, atol=1e-3)
        got = np.unpackbits(rows["contact_bits"], axis=1, count=len(body.contact_vertex_ids)).astype(bool)
        assert got[:, :10].all() and not got[:, 10:].any() and (rows["view"] == camera.name).all()


def test_bad_input_is_a_clear_error(tmp_path, capsys):
    assert main(["--videos", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "l.npz")]) == 2
    assert "--videos: no such file" in capsys.readouterr().err
    assert main(["--videos", str(CLIP), "-o", str(tmp_path / "l.txt")]) == 2
    assert "must end in .npz" in capsys.readouterr().err
    with pytest.raises(DatasetFileError, match="bad.npz: key 'video' is missing"):
        np.savez(tmp_path / "bad.npz", frame=np.arange(2))
        PseudoLabelExamples(tmp_path / "bad.npz")


def test_flipped_pseudo_labels_keep_pose_and_keypoints_together(labelled):
    """A flipped crop's 3D keypoints are the mirrored pose's body (to the rest body's asymmetry)."""
    path, _ = labelled
    from training.data.augment import AugmentConfig

    flip = AugmentConfig(flip_p=1.0, rotation_p=1.0, scale_factor=0.0, colour=0.0, occluder_p=0.0, blur_p=0.0,
                         noise_p=0.0, jpeg_p=0.0)
    body = load_active_body_model()
    e = PseudoLabelExamples(path, augment=flip)[2]
    posed = body_forward(body, e.pose_rotmat[None].astype(np.float64), e.betas[None].astype(np.float64),
                         vertices=False, keypoint_sets=("coco17",)).keypoints["coco17"][0]
    rows = [ROW[coco_name(n)] for n in body.keypoint_names["coco17"]]
    target = e.keypoints_3d[rows, :3]
    assert np.abs((posed - posed.mean(0)) - (target - target.mean(0))).max() < 0.03


def test_the_preview_grid_shows_side_and_top_views_of_3d_labels(labelled, tmp_path):
    from training.data.preview import PANEL, example_grid

    path, _ = labelled
    sheet = example_grid([PseudoLabelExamples(path)[0]], tmp_path / "grid.png", columns=1)
    panels = sheet[:, 192:192 + PANEL]
    for half in (panels[:PANEL], panels[PANEL:]):  # side above, top below: a drawn skeleton in each
        for colour in ((255, 140, 0), (30, 144, 255)):  # both sides of the body drawn
            assert (np.abs(half.astype(int) - colour).max(axis=-1) < 30).sum() > 20
