"""training.data.real: LSP's training split and LSPET as 2D-only Examples, with augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import PlantedError
from training.data.augment import AugmentConfig
from training.data.crop import apply_affine
from training.data.example import examples_to_batch
from training.data.lsp import load_split
from training.data.real import PhotoExamples
from training.data.superset import LSP14_TO_SUPERSET, SUPERSET30_NAMES, SUPERSET_NAMES

ROW = {n: i for i, n in enumerate(SUPERSET_NAMES)}
FLIP_ALWAYS = AugmentConfig(flip_p=1.0, rotation_p=0.0, scale_factor=0.0, colour=0.0, occluder_p=0.0, blur_p=0.0,
                            noise_p=0.0, jpeg_p=0.0)


def test_the_lsp_test_split_is_refused():
    with pytest.raises(PlantedError, match="test set"):
        PhotoExamples("lsp_test")
    with pytest.raises(PlantedError, match="lsp_train"):
        PhotoExamples("lsp_everything")


def test_splits_and_masks():
    lsp, lspet = PhotoExamples("lsp_train"), PhotoExamples("lspet_train")
    assert (len(lsp), len(lspet)) == (1000, 8000)
    e = lsp[0]
    assert (e.source, e.key, e.image.shape) == ("lsp", "im0001.jpg", (256, 192, 3))
    assert lsp[999].key == "im1000.jpg" and lspet[0].key == "im02001.jpg"
    assert not (e.has_pose or e.has_betas or e.has_contact or e.has_cam) and e.contact is None
    assert (e.keypoints_3d[:, 3] == 0).all()
    labelled = np.flatnonzero(e.keypoints_2d[:, 2] > 0)
    assert set(labelled) <= set(LSP14_TO_SUPERSET.tolist()) and len(labelled) >= 12
    batch = examples_to_batch([lsp[0], lspet[1]], SUPERSET30_NAMES)
    assert batch["image"].shape == (2, 3, 256, 192) and not batch["has_pose"].any()
    assert "gt_contact" not in batch


def test_keypoints_follow_the_affine_and_flags_are_read_per_dataset():
    data = load_split("lspet_train")
    unlabelled = np.argwhere(~data.labelled)
    photo, joint = unlabelled[0]
    lspet = PhotoExamples("lspet_train")
    crop = lspet.crop(int(photo))
    row = LSP14_TO_SUPERSET[joint]
    assert crop.example.keypoints_2d[row, 2] == 0  # LSPET's (0, 0): no label
    lsp_data = load_split("lsp_train")
    occluded = np.argwhere(~lsp_data.visible)  # LSP's flag 1
    photo, joint = occluded[0]
    crop = PhotoExamples("lsp_train").crop(int(photo))
    row = LSP14_TO_SUPERSET[joint]
    assert crop.example.keypoints_2d[row, 2] == 1  # occluded, but its position is annotated
    np.testing.assert_allclose(crop.example.keypoints_2d[row, :2],
                               apply_affine(lsp_data.joints[photo, joint], crop.affine), atol=1e-3)


def test_a_flip_keeps_left_labels_on_the_left_side_of_the_body():
    plain, flipped = PhotoExamples("lsp_train"), PhotoExamples("lsp_train", augment=FLIP_ALWAYS)
    for i in range(0, 40, 4):
        a, b = plain[i].keypoints_2d, flipped[i].keypoints_2d
        # a person facing the camera has their left shoulder on the picture's right, and still does mirrored
        # (a flip without the swap would put it on the left)
        for joint in ("shoulder", "hip", "wrist"):
            da = a[ROW[f"left_{joint}"], 0] - a[ROW[f"right_{joint}"], 0]
            db = b[ROW[f"left_{joint}"], 0] - b[ROW[f"right_{joint}"], 0]
            if abs(da) > 2:
                assert np.sign(da) == np.sign(db)
        # the pixels under the flipped left wrist are the mirrored pixels under the plain right wrist
        x, y = np.round(a[ROW["right_wrist"], :2]).astype(int)
        u, v = np.round(b[ROW["left_wrist"], :2]).astype(int)
        if 6 <= x < 186 and 6 <= y < 250 and 6 <= u < 186 and 6 <= v < 250:
            pa = plain[i].image[y - 5:y + 6, x - 5:x + 6].astype(int)
            pb = flipped[i].image[v - 5:v + 6, u - 5:u + 6][:, ::-1].astype(int)
            assert np.abs(pa - pb).mean() < 12


def test_augmentation_is_reproducible_and_changes_with_the_seed_and_epoch():
    a = PhotoExamples("lspet_train", augment=AugmentConfig(), seed=3)
    b = PhotoExamples("lspet_train", augment=AugmentConfig(), seed=3)
    c = PhotoExamples("lspet_train", augment=AugmentConfig(), seed=4)
    for i in (0, 17):
        np.testing.assert_array_equal(a[i].image, b[i].image)
        np.testing.assert_array_equal(a[i].keypoints_2d, b[i].keypoints_2d)
    assert any(not np.array_equal(a[i].image, c[i].image) for i in (0, 17))
    first = a[5].image
    a.set_epoch(1)
    assert not np.array_equal(first, a[5].image)
    a.set_epoch(0)
    np.testing.assert_array_equal(first, a[5].image)


def test_the_preview_grid_draws_each_keypoint_where_it_is(tmp_path):
    import cv2

    from training.data.preview import PANEL, example_grid

    examples = [PhotoExamples("lsp_train")[i] for i in (0, 1)]
    sheet = example_grid(examples, tmp_path / "grid.png", columns=2)
    written = cv2.cvtColor(cv2.imread(str(tmp_path / "grid.png")), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(written, sheet)
    assert sheet.shape == (256, 2 * (192 + PANEL), 3)
    for column, e in enumerate(examples):
        for name, colour in (("left_knee", (255, 140, 0)), ("right_knee", (30, 144, 255))):
            x, y = np.round(e.keypoints_2d[ROW[name], :2]).astype(int)
            assert np.abs(sheet[y, column * (192 + PANEL) + x].astype(int) - colour).max() < 40, name
