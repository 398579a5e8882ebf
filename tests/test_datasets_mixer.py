"""The keypoint superset, samples with masks, their collation into the losses' batch, LSP/LSPET as 2D-only
samples (the real files), and the weighted, seeded mixer."""

import numpy as np
import pytest
import torch

from engine.errors import PlantedError
from training.body import KEYPOINT_SETS, ROOT_KEYPOINTS
from training.config import LossConfig
from training.data.lsp import lsp_samples
from training.data.mixer import DatasetMixer
from training.data.sample import Sample, SampleSet, collate
from training.data.superset import (
    COCO17_TO_SUPERSET,
    LSP14_TO_SUPERSET,
    OPENPOSE18_NAMES,
    OPENPOSE18_TO_SUPERSET,
    SUPERSET30_NAMES,
    SUPERSET_NAMES,
    select,
)
from training.losses import loss_terms
from training.losses.cvf import view_targets


def test_superset_starts_with_the_networks_keypoint_set():
    assert SUPERSET30_NAMES == tuple(ours for _, _, ours in KEYPOINT_SETS["superset30"])
    assert SUPERSET_NAMES[:30] == SUPERSET30_NAMES and len(set(SUPERSET_NAMES)) == len(SUPERSET_NAMES)
    # COCO's face points are SPIN's; its hips are not LSP's; OpenPose's neck is nobody's.
    assert SUPERSET_NAMES[COCO17_TO_SUPERSET[0]] == "nose"
    assert SUPERSET_NAMES[COCO17_TO_SUPERSET[11]] == "coco_left_hip"
    assert OPENPOSE18_TO_SUPERSET[OPENPOSE18_NAMES.index("neck")] == -1
    assert sorted(LSP14_TO_SUPERSET) == list(range(14))
    with pytest.raises(PlantedError, match="not in the superset"):
        select(np.zeros((30 + 12, 3)), ["left_pinky"])


def test_lsp_and_lspet_as_2d_only_samples():
    lsp, lspet = lsp_samples("lsp_train"), lsp_samples("lspet_train")
    assert len(lsp) == 1000 and len(lspet) == 8000
    s = lsp[0]
    assert s.image.endswith("im0001.jpg") and s.keypoints_2d[:14, 2].sum() == 14
    assert not (s.has_keypoints_3d or s.has_pose or s.has_betas or s.has_smpl_joints or s.has_contact)
    unlabelled = np.array([lspet[i].keypoints_2d[:14, 2].sum() for i in range(200)])
    assert (unlabelled < 14).any()  # LSPET leaves some joints unlabelled: they carry confidence 0


def _three_d_sample(rng):
    kp3d = np.zeros((len(SUPERSET_NAMES), 4))
    kp3d[:30] = np.concatenate([rng.normal(0, 0.3, (30, 3)) + [0, 0, 4], np.ones((30, 1))], axis=1)
    return Sample("h36m", "a.jpg", keypoints_3d=kp3d, pose=rng.normal(0, 0.2, 72), has_pose=True,
                  betas=rng.normal(0, 1, 10), has_betas=True)


def test_collated_batch_feeds_the_losses_with_masks():
    rng = np.random.default_rng(0)
    photo = lsp_samples("lsp_train")[3]
    batch = collate([photo, _three_d_sample(rng)])
    assert batch["gt_keypoints_2d"].shape == (2, 30, 3) and batch["gt_pose_rotmat"].shape == (2, 24, 3, 3)
    assert batch["has_pose"].tolist() == [False, True] and "gt_contact" not in batch
    assert np.allclose(batch["gt_pose_rotmat"][0], np.eye(3))
    tensors = {k: torch.from_numpy(v) for k, v in batch.items()}
    root_ids = [SUPERSET30_NAMES.index(n) for n in ROOT_KEYPOINTS]
    # The photo has no 3D label: it gets no side/top target, the 3D sample does.
    _, _, weights = view_targets(tensors["gt_keypoints_3d"], root_ids)
    assert weights[0].sum() == 0 and weights[1].sum() == 30
    pred = {"pred_cam": torch.tensor([[1.0, 0, 0]] * 2), "pred_pose_rotmat": torch.eye(3).repeat(2, 24, 1, 1),
            "pred_betas": torch.zeros(2, 10)}
    terms = loss_terms(pred, tensors, torch.zeros(2, 30, 3), root_ids, LossConfig())
    assert terms["keypoints_3d"] > 0 and terms["smpl_pose"] > 0 and terms["contact"] == 0


def _sets():
    small = SampleSet("small", ["s.jpg"] * 3, scale=np.arange(3.0))
    big = SampleSet("big", ["b.jpg"] * 300, scale=np.arange(300.0))
    unused = SampleSet("unused", ["u.jpg"] * 5)
    return {"small": small, "big": big, "unused": unused}


def test_mixer_follows_weights_and_seed():
    mixer = DatasetMixer(_sets(), {"small": 3.0, "big": 1.0, "unused": 0.0}, seed=7)
    draws = mixer.draw_indices(8000)
    names = [n for n, _ in draws]
    assert names.count("small") / 8000 == pytest.approx(0.75, abs=0.02) and "unused" not in names
    assert {i for n, i in draws if n == "small"} == {0, 1, 2}  # every sample of a dataset is drawn
    again = DatasetMixer(_sets(), {"small": 3.0, "big": 1.0, "unused": 0.0}, seed=7).draw_indices(8000)
    other = DatasetMixer(_sets(), {"small": 3.0, "big": 1.0, "unused": 0.0}, seed=8).draw_indices(8000)
    assert again == draws and other != draws
    sample = next(iter(mixer))
    assert sample.dataset in ("small", "big") and sample.image in ("s.jpg", "b.jpg")


def test_mixer_refuses_bad_weights():
    with pytest.raises(PlantedError, match="one weight per dataset"):
        DatasetMixer(_sets(), {"small": 1.0})
    with pytest.raises(PlantedError, match="finite, >= 0"):
        DatasetMixer(_sets(), {"small": -1.0, "big": 1.0, "unused": 0.0})
    with pytest.raises(PlantedError, match="LSP's test split"):
        DatasetMixer({"lsp": lsp_samples("lsp_test")}, {"lsp": 1.0})
    with pytest.raises(PlantedError, match="hold no samples"):
        DatasetMixer({"empty": SampleSet("empty", [])}, {"empty": 1.0})
