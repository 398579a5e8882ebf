"""training.evaluate end to end: a perfect prediction scores zero error, a checkpoint and its ONNX export give the
same table, the report, metrics and tri-view figures are written (the GPU recipe: tests/test_gpu_recipe.py)."""

from __future__ import annotations

import json
import pathlib
import tomllib

import cv2
import numpy as np
import pytest

from training.body import BodyModel
from training.data.example import examples_to_batch
from training.evaluate import dataset_metrics, evaluate, main
from training.geometry import orthographic_views
from training.run_config import run_config_from_dict
from training.synthetic_body import write_synthetic_body_model
from training.toy_discs import toy_disc_sequences
from training.train import train

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval")
    body = write_synthetic_body_model(folder / "body.npz")
    raw = tomllib.loads((ROOT / "training" / "configs" / "smoke.toml").read_text())
    raw["body_model"] = str(body)
    raw["train"].update(steps=5, log_every=5)
    run = run_config_from_dict(raw)
    train(run, folder / "run", progress=False)
    return folder, body, run


def test_perfect_prediction_has_no_error(trained):
    _, body_path, run = trained
    body = BodyModel.from_file(body_path)
    config = run.config
    examples = toy_disc_sequences(body, 2, 6, seed=3, image_size=(128, 96),
                                  contact_vertex_ids=config.body.contact_vertex_ids)
    batch = examples_to_batch(examples, config.body.keypoint_names)
    side, top = orthographic_views(batch["gt_keypoints_3d"][..., :3], config.body.root_keypoints,
                                   config.loss.view_scale_m)
    pred = {"pred_pose_rotmat": batch["gt_pose_rotmat"].numpy(), "pred_betas": batch["gt_betas"].numpy(),
            "pred_cam": batch["gt_cam"].numpy(), "pred_contact": batch["gt_contact"].numpy(),
            "pred_kp2d_front": batch["gt_keypoints_2d"][..., :2].numpy(), "pred_kp2d_side": side.numpy(),
            "pred_kp2d_top": top.numpy()}
    values = dataset_metrics(pred, examples, body, config)
    for key in ("mpjpe_lsp14_mm", "pa_mpjpe_lsp14_mm", "mpjpe_smpl24_mm", "pa_mpjpe_smpl24_mm", "pve_mm",
                "foot_mpjpe_mm", "side_view_mm", "top_view_mm", "accel_error_mm"):
        assert values[key] == pytest.approx(0.0, abs=1e-3), key
    assert values["pck_front_0.2"] == 1.0
    assert batch["gt_contact"].sum() > 0 and values["contact_f1"] == 1.0
    assert np.isfinite(values["foot_sliding_mm"])
    # a pose error costs MPJPE and PA-MPJPE
    turned = pred["pred_pose_rotmat"].copy()
    turned[:, 18] = turned[:, 18] @ np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]])  # left elbow bent 90 degrees
    worse = dataset_metrics({**pred, "pred_pose_rotmat": turned}, examples, body, config)
    assert worse["mpjpe_smpl24_mm"] > 5 and worse["pa_mpjpe_smpl24_mm"] > 1


def test_checkpoint_and_onnx_give_the_same_table(trained, tmp_path):
    folder, body_path, _ = trained
    checkpoint = folder / "run" / "last.pt"
    data = ["toy_discs:6:1000", "toy_sequences:2:5:1001"]
    results = evaluate(str(checkpoint), data, tmp_path / "pt", figures=2)
    assert set(results) == {"toy_discs_1000", "toy_sequences_1001"}
    assert "foot_sliding_mm" in results["toy_sequences_1001"] and "contact_f1" in results["toy_discs_1000"]
    report = (tmp_path / "pt" / "report.md").read_text()
    assert "| PA-MPJPE, LSP 14 (mm) |" in report and "### toy_sequences_1001" in report
    assert json.loads((tmp_path / "pt" / "metrics.json").read_text()) == results
    figures = sorted((tmp_path / "pt" / "figures").glob("*.png"))
    assert len(figures) == 4
    image = cv2.imread(str(figures[0]))
    assert image.shape[0] == 320 and image.shape[1] > 3 * 200 and image.std() > 10
    from training.export import export_checkpoint

    export_checkpoint(checkpoint, tmp_path / "model.onnx")
    onnx_results = evaluate(str(tmp_path / "model.onnx"), data, tmp_path / "onnx", body_model=str(body_path),
                            figures=0)
    for name, values in results.items():
        for key, value in values.items():
            assert onnx_results[name][key] == pytest.approx(value, rel=1e-3, abs=1e-3), (name, key)


@pytest.mark.skipif(not (ROOT.parent / "shared" / "data" / "images" / "lsp").is_dir(), reason="no LSP photos")
def test_lsp_photos_give_pck_only(trained, tmp_path):
    folder, _, run = trained
    results = evaluate(str(folder / "run" / "last.pt"), ["lsp_test:6"], tmp_path, figures=1)
    assert set(results["lsp_test"]) == {"pck_front_0.2"} and 0 <= results["lsp_test"]["pck_front_0.2"] <= 1
    from training.evaluate import lsp_examples

    examples = lsp_examples("lsp_test", 6, (128, 96))
    assert examples[0].image.shape == (128, 96, 3)
    batch = examples_to_batch(examples, run.config.body.keypoint_names)
    # the labels moved with the photo: the truth as the prediction scores 1, a shift of half a torso 0
    truth = {"pred_kp2d_front": batch["gt_keypoints_2d"][..., :2].numpy()}
    body = BodyModel.from_file(folder / "body.npz")
    assert dataset_metrics(truth, examples, body, run.config)["pck_front_0.2"] == 1.0
    shifted = {"pred_kp2d_front": truth["pred_kp2d_front"] + 0.3}
    assert dataset_metrics(shifted, examples, body, run.config)["pck_front_0.2"] < 0.2
    assert len(list((tmp_path / "figures").glob("lsp_test_*.png"))) == 1


def test_cli_errors(tmp_path, capsys):
    assert main(["--model", str(tmp_path / "none.pt"), "--data", "toy_discs"]) == 2
    assert "does not exist" in capsys.readouterr().err
