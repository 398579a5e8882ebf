"""training.data.crop and training.data.augment: the crop's affine, and labels that follow the pixels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.body.active import load_active_body_model
from engine.body.lbs import body_forward
from engine.rotations import axis_angle_to_matrix
from training.data.augment import AugmentConfig, augment_crop, draw_params
from training.data.crop import (
    FLIP_PERMUTATION,
    crop_affine,
    crop_example,
    flip_contact,
    transform_keypoints_3d,
    transform_pose,
)
from training.data.lsp import load_split
from training.data.superset import NUM_SUPERSET, SUPERSET_NAMES

ROW = {n: i for i, n in enumerate(SUPERSET_NAMES)}


def _dot_centre(image: np.ndarray) -> np.ndarray:
    """Centroid (x, y) of the pure-magenta pixels (the drawn dot) of an RGB image."""
    r, g, b = (image[..., c].astype(int) for c in range(3))
    mask = (r > 180) & (b > 180) & (g < 80)
    assert mask.sum() > 3, "the dot is not in the crop"
    ys, xs = np.nonzero(mask)
    weights = (r + b - 2 * g)[mask].astype(float)
    return np.array([np.average(xs, weights=weights), np.average(ys, weights=weights)])


@pytest.mark.parametrize("rotation, flip, zoom", [(0.0, False, 1.0), (0.5, False, 0.8), (-0.4, True, 1.3),
                                                  (0.0, True, 3.0)])
def test_a_dot_drawn_at_a_keypoint_lands_on_the_keypoint_in_the_crop(rotation, flip, zoom):
    lsp = load_split("lsp_train")
    image = cv2.resize(lsp.image(3), (672, 672), interpolation=cv2.INTER_CUBIC)  # a larger real photo
    joint = lsp.joints[3, 7] * 3 + 1  # right elbow, in the resized photo's pixels
    cv2.circle(image, tuple(np.round(joint).astype(int)), round(6 * zoom), (255, 0, 255), -1)  # 2+ crop px
    kp = np.zeros((NUM_SUPERSET, 3))
    kp[ROW["right_elbow"]] = (*np.round(joint), 1.0)
    out = crop_example(image, np.array([330.0, 340.0]), 600.0 * zoom, source="lsp", key="im0004",
                       keypoints_2d=kp, rotation=rotation, flip=flip)
    name = "left_elbow" if flip else "right_elbow"
    point = out.example.keypoints_2d[ROW[name]]
    assert point[2] == 1.0 and out.example.keypoints_2d[:, 2].sum() == 1.0
    np.testing.assert_allclose(_dot_centre(out.example.image), point[:2], atol=0.6)
    assert out.example.image.shape == (256, 192, 3)


def test_points_outside_the_crop_lose_their_confidence():
    kp = np.zeros((NUM_SUPERSET, 3))
    kp[ROW["head_top"]] = (100, 10, 1)
    kp[ROW["neck"]] = (100, 100, 1)
    out = crop_example(np.zeros((200, 200, 3), np.uint8), np.array([100.0, 100.0]), 100.0, source="t", key="k",
                       keypoints_2d=kp)
    assert out.example.keypoints_2d[ROW["head_top"], 2] == 0
    assert out.example.keypoints_2d[ROW["neck"], 2] == 1


def test_flip_swaps_left_and_right_by_name():
    assert all(SUPERSET_NAMES[FLIP_PERMUTATION[ROW[f"left_{j}"]]] == f"right_{j}" for j in ("wrist", "heel", "eye"))
    assert SUPERSET_NAMES[FLIP_PERMUTATION[ROW["coco_left_knee"]]] == "coco_right_knee"
    assert SUPERSET_NAMES[FLIP_PERMUTATION[ROW["nose"]]] == "nose"
    lsp = load_split("lsp_train")
    kp = np.zeros((NUM_SUPERSET, 3))
    kp[ROW["right_wrist"]] = (*lsp.joints[0, 6], 1)
    kp[ROW["left_wrist"]] = (*lsp.joints[0, 11], 1)
    plain = crop_example(lsp.image(0), np.array([112.0, 112.0]), 224.0, source="lsp", key="a", keypoints_2d=kp)
    flipped = crop_example(lsp.image(0), np.array([112.0, 112.0]), 224.0, source="lsp", key="a", keypoints_2d=kp,
                           flip=True)
    a, b = plain.example.keypoints_2d, flipped.example.keypoints_2d
    np.testing.assert_allclose(b[ROW["left_wrist"], 0], 192 - a[ROW["right_wrist"], 0], atol=1e-4)
    np.testing.assert_allclose(b[ROW["left_wrist"], 1], a[ROW["right_wrist"], 1], atol=1e-4)
    # the flipped crop is the mirror image of the plain one about x = W / 2 (the engine's crop centre, in
    # cv2's pixel-centre coordinates): flipped column i holds plain column W - i
    diff = np.abs(flipped.example.image[:, ::-1][:, :-1].astype(int) - plain.example.image[:, 1:].astype(int))
    assert np.median(diff) == 0 and np.mean(diff) < 1


def test_flip_twice_is_the_identity():
    rng = np.random.default_rng(0)
    kp3 = np.concatenate([rng.normal(size=(NUM_SUPERSET, 3)), rng.uniform(size=(NUM_SUPERSET, 1))], 1)
    pose = axis_angle_to_matrix(rng.normal(scale=0.4, size=(24, 3)))
    contact = (rng.uniform(size=134) > 0.5).astype(np.float32)
    np.testing.assert_allclose(transform_keypoints_3d(transform_keypoints_3d(kp3, 0.0, True), 0.0, True), kp3,
                               atol=1e-6)
    np.testing.assert_allclose(transform_pose(transform_pose(pose, 0.0, True), 0.0, True), pose, atol=1e-6)
    np.testing.assert_array_equal(flip_contact(flip_contact(contact)), contact)
    # flipping a flipped crop about its own centre gives the plain crop
    twice = np.vstack([crop_affine((96, 128), 256, flip=True), [0, 0, 1]]) @ np.vstack(
        [crop_affine((50, 60), 80, flip=True), [0, 0, 1]])
    np.testing.assert_allclose(twice[:2], crop_affine((50, 60), 80), atol=1e-9)


def test_a_mirrored_pose_poses_the_mirrored_body():
    body = load_active_body_model()
    rng = np.random.default_rng(1)
    pose = axis_angle_to_matrix(rng.normal(scale=0.3, size=(24, 3)))
    joints = body_forward(body, pose[None], vertices=False).joints[0]
    mirrored = body_forward(body, transform_pose(pose, 0.0, True)[None].astype(np.float64), vertices=False).joints[0]
    from engine.body.joints import SMPL_MIRROR

    expected = (joints * [-1, 1, 1])[list(SMPL_MIRROR)]
    expected_rest = (body.joint_template * [-1, 1, 1])[list(SMPL_MIRROR)]
    asymmetry = np.abs(expected_rest - body.joint_template).max()  # the rest body's own left/right mismatch
    assert np.abs(mirrored - expected).max() < asymmetry + 0.01
    # a wrong mirror (joints not swapped) is far off
    wrong = body_forward(body, (np.diag([-1.0, 1, 1]) @ pose @ np.diag([-1.0, 1, 1]))[None], vertices=False).joints[0]
    assert np.abs(wrong - expected).max() > 0.05


@pytest.mark.parametrize("flip", [False, True])
def test_rotated_3d_labels_project_onto_the_rotated_2d_labels(flip):
    """A crop centred on the principal point: projecting the transformed 3D keypoints with the crop's camera
    gives the crop's 2D keypoints exactly."""
    body = load_active_body_model()
    rng = np.random.default_rng(2)
    pose = axis_angle_to_matrix(rng.normal(scale=0.25, size=(24, 3)))
    pose[0] = axis_angle_to_matrix(np.array([np.pi, 0.3, 0.0]))  # upright in the camera frame (y down)
    out = body_forward(body, pose[None], trans=np.array([0.1, 0.2, 4.0]), vertices=False, keypoint_sets=("lsp14",))
    points = out.keypoints["lsp14"][0]
    f, principal = 1200.0, np.array([640.0, 360.0])
    kp3 = np.zeros((NUM_SUPERSET, 4))
    kp2 = np.zeros((NUM_SUPERSET, 3))
    rows = [ROW[n] for n in body.keypoint_names["lsp14"]]
    kp3[rows] = np.concatenate([points, np.ones((14, 1))], 1)
    kp2[rows] = np.concatenate([f * points[:, :2] / points[:, 2:] + principal, np.ones((14, 1))], 1)
    rotation, height = 0.6, 700.0
    crop = crop_example(np.zeros((720, 1280, 3), np.uint8), principal, height, source="t", key="k",
                        keypoints_2d=kp2, keypoints_3d=kp3, pose_rotmat=pose, rotation=rotation, flip=flip)
    e = crop.example
    crop_f = f * 256 / height
    projected = crop_f * e.keypoints_3d[rows, :2] / e.keypoints_3d[rows, 2:3] + np.array([96.0, 128.0])
    np.testing.assert_allclose(projected, e.keypoints_2d[rows, :2], atol=1e-3)
    # the root rotation turned with them: the posed body from the new pose, moved to the new root, matches
    joints = body_forward(body, e.pose_rotmat[None].astype(np.float64), vertices=False,
                          keypoint_sets=("lsp14",)).keypoints["lsp14"][0]
    new = e.keypoints_3d[rows, :3]
    centred = (joints - joints.mean(0)) - (new - new.mean(0))
    assert np.abs(centred).max() < 0.03  # the rest body's asymmetry, for the flipped case


def test_same_seed_same_example_and_different_seed_differs():
    lsp = load_split("lsp_train")
    kp = np.zeros((NUM_SUPERSET, 3))
    kp[[ROW[n] for n in ("right_ankle", "left_ankle")], :2] = lsp.joints[5, [0, 5]]
    kp[[ROW["right_ankle"], ROW["left_ankle"]], 2] = 1
    config = AugmentConfig()

    def make(seed):
        params = draw_params(config, np.random.default_rng(seed))
        crop = crop_example(lsp.image(5), np.array([112.0, 112.0]), 300 * params.scale, source="lsp", key="k",
                            keypoints_2d=kp, rotation=params.rotation, flip=params.flip)
        return augment_crop(crop, params), params

    (a, pa), (b, _), (c, pc) = make(7), make(7), make(8)
    np.testing.assert_array_equal(a.example.image, b.example.image)
    np.testing.assert_array_equal(a.example.keypoints_2d, b.example.keypoints_2d)
    assert pa != pc and not np.array_equal(a.example.image, c.example.image)


def test_augmentation_ranges_are_the_configured_ones():
    config = AugmentConfig()
    params = [draw_params(config, np.random.default_rng(s)) for s in range(400)]
    scales = np.array([p.scale for p in params])
    rotations = np.degrees([p.rotation for p in params])
    assert scales.min() >= 0.75 - 1e-9 and scales.max() <= 1.25 + 1e-9 and scales.std() > 0.1
    assert np.abs(rotations).max() <= 30 + 1e-9
    assert 0.5 < np.mean(rotations != 0) < 0.7  # rotated with p = 0.6
    assert 0.4 < np.mean([p.flip for p in params]) < 0.6
    off = AugmentConfig.none()
    assert all(draw_params(off, np.random.default_rng(s)).is_identity for s in range(20))
