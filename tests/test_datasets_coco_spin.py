"""COCO keypoints JSON (the real mmpose COCO file and written ones), SPIN-layout npz (Human3.6M,
MPI-INF-3DHP) and MPI-INF-3DHP's annot.mat, each in the dataset's own layout; bad files give named errors."""

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from training.data.coco import read_coco
from training.data.files import DatasetFileError
from training.data.h36m import read_h36m
from training.data.mpi_inf_3dhp import read_mpi_inf_3dhp_annot, read_mpi_inf_3dhp_npz
from training.data.superset import SPIN24_NAMES, SUPERSET_NAMES

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "images" / "pose_datasets_samples"
COCO = SAMPLES / "coco"
ROW = {n: i for i, n in enumerate(SUPERSET_NAMES)}


def test_real_coco_file_lands_in_the_superset():
    annotations = json.loads((COCO / "test_coco.json").read_text())["annotations"]
    kept = [a for a in annotations if not a["iscrowd"] and a["num_keypoints"] > 0]
    samples = read_coco(COCO / "test_coco.json", COCO)
    assert len(samples) == len(kept)
    first, raw = samples[0], np.array(kept[0]["keypoints"], float).reshape(17, 3)
    assert Path(first.image).is_file()
    assert np.allclose(first.keypoints_2d[ROW["nose"]], [*raw[0, :2], 1.0])
    assert np.allclose(first.keypoints_2d[ROW["coco_left_hip"], :2], raw[11, :2])
    # COCO's hips are not LSP's: those rows stay unlabelled, as does every 3D and SMPL label.
    assert first.keypoints_2d[ROW["left_hip"], 2] == 0 and not first.has_keypoints_3d and not first.has_pose
    x, y, w, h = kept[0]["bbox"]
    assert np.allclose(first.center, [x + w / 2, y + h / 2]) and np.isclose(first.scale, max(w, h) / 200)
    labelled = sum(int(v > 0) for v in raw[:, 2])
    assert first.keypoints_2d[:, 2].sum() == labelled


def test_real_wholebody_file_gives_the_feet():
    samples = read_coco(COCO / "test_coco_wholebody.json", COCO)
    ann = json.loads((COCO / "test_coco_wholebody.json").read_text())["annotations"][0]
    feet = np.array(ann["foot_kpts"], float).reshape(6, 3)
    assert np.allclose(samples[0].keypoints_2d[ROW["left_big_toe"], :2], feet[0, :2])
    assert np.allclose(samples[0].keypoints_2d[ROW["right_heel"], :2], feet[5, :2])


def _coco(tmp_path, keypoints, iscrowd=0):
    data = {"images": [{"id": 7, "file_name": "a.jpg", "width": 64, "height": 64}],
            "annotations": [{"id": 1, "image_id": 7, "iscrowd": iscrowd, "num_keypoints": 1,
                             "keypoints": keypoints, "bbox": [0, 0, 10, 20], "category_id": 1}],
            "categories": [{"id": 1, "name": "person"}]}
    path = tmp_path / "person_keypoints.json"
    path.write_text(json.dumps(data))
    return path


def test_coco_flags_crowds_and_errors(tmp_path):
    points = [0] * 51
    points[15 * 3: 15 * 3 + 3] = [5, 6, 1]  # left ankle, labelled but occluded: still a label
    assert read_coco(_coco(tmp_path, points), tmp_path)[0].keypoints_2d[ROW["coco_left_ankle"]].tolist() == [5, 6, 1]
    assert len(read_coco(_coco(tmp_path, points, iscrowd=1))) == 0
    with pytest.raises(DatasetFileError, match=r"person_keypoints.json.*'keypoints' has 50 values"):
        read_coco(_coco(tmp_path, points[:50]))
    path = _coco(tmp_path, points)
    path.write_text(path.read_text()[:40])
    with pytest.raises(DatasetFileError, match=r"person_keypoints.json: not valid JSON"):
        read_coco(path)
    path.write_text(json.dumps({"images": []}))
    with pytest.raises(DatasetFileError, match=r"key 'annotations' is missing"):
        read_coco(path)


def _spin_npz(path, n=3, with_smpl=True, millimetres=False, **override):
    rng = np.random.default_rng(0)
    S = np.concatenate([rng.normal(0, 0.5, (n, 24, 3)) + [0, 0, 4], np.ones((n, 24, 1))], axis=2)
    data = {"imgname": np.array([f"S1/S1_Directions_1.54138969/S1_Directions_1.54138969_{i + 1:06d}.jpg"
                                 for i in range(n)]),
            "center": rng.uniform(300, 700, (n, 2)), "scale": rng.uniform(1, 3, n),
            "part": np.concatenate([rng.uniform(0, 1000, (n, 24, 2)), np.ones((n, 24, 1))], axis=2),
            "S": S * ([1000, 1000, 1000, 1] if millimetres else 1)}
    if with_smpl:
        data.update(pose=rng.normal(0, 0.2, (n, 72)), shape=rng.normal(0, 1, (n, 10)))
    data.update(override)
    np.savez(path, **{k: v for k, v in data.items() if v is not None})
    return data


def test_h36m_npz_in_spins_layout(tmp_path):
    data = _spin_npz(tmp_path / "h36m_train.npz")
    samples = read_h36m(tmp_path / "h36m_train.npz", "/data/h36m/images")
    assert len(samples) == 3
    s = samples[1]
    assert s.image == "/data/h36m/images/" + str(data["imgname"][1])
    spin_rows = [ROW[n] for n in SPIN24_NAMES]
    assert np.allclose(s.keypoints_3d[spin_rows], data["S"][1]) and np.allclose(s.keypoints_2d[spin_rows],
                                                                                data["part"][1])
    assert s.keypoints_3d[ROW["left_big_toe"], 3] == 0  # the feet are not in SPIN's 24
    assert s.has_pose and s.has_betas and np.allclose(s.pose, data["pose"][1]) and np.allclose(s.betas,
                                                                                             data["shape"][1])


def test_mpi_npz_has_smpl_flags_and_byte_names(tmp_path):
    names = np.array([b"S1/Seq1/imageFrames/video_0/frame_000001.jpg"] * 3)
    _spin_npz(tmp_path / "mpi_inf_3dhp_train.npz", has_smpl=np.array([1.0, 0.0, 1.0]), imgname=names)
    samples = read_mpi_inf_3dhp_npz(tmp_path / "mpi_inf_3dhp_train.npz", "root")
    assert [samples[i].has_pose for i in range(3)] == [True, False, True]
    assert samples[0].image == "root/S1/Seq1/imageFrames/video_0/frame_000001.jpg"


def test_spin_npz_errors_name_file_and_key(tmp_path):
    path = tmp_path / "h36m_train.npz"
    _spin_npz(path, S=None)
    with pytest.raises(DatasetFileError, match=r"h36m_train.npz: key 'S' is missing"):
        read_h36m(path)
    _spin_npz(path, part=np.zeros((3, 17, 3)))
    with pytest.raises(DatasetFileError, match=r"key 'part' has shape \(3, 17, 3\), expected \(3, 24, 3\)"):
        read_h36m(path)
    _spin_npz(path, center=np.zeros((2, 2)))
    with pytest.raises(DatasetFileError, match=r"key 'center' has shape \(2, 2\), expected \(3, 2\)"):
        read_h36m(path)
    _spin_npz(path, millimetres=True)
    with pytest.raises(DatasetFileError, match=r"key 'S' .*millimetres"):
        read_h36m(path)
    _spin_npz(path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DatasetFileError, match=r"h36m_train.npz: not a readable .npz"):
        read_h36m(path)
    with pytest.raises(DatasetFileError, match=r"nothing.npz: no such file"):
        read_h36m(tmp_path / "nothing.npz")


def _annot_mat(path, frames=4, cameras=14, **override):
    rng = np.random.default_rng(1)
    annot2, annot3 = np.empty((cameras, 1), object), np.empty((cameras, 1), object)
    for c in range(cameras):
        annot2[c, 0] = rng.uniform(0, 2048, (frames, 56))
        annot3[c, 0] = rng.normal(0, 400, (frames, 84)) + np.tile([0, 0, 4000], 28)
    data = {"annot2": annot2, "annot3": annot3, "univ_annot3": annot3, "cameras": np.arange(cameras)[None],
            "frames": np.arange(frames)[:, None]}
    data.update(override)
    scipy.io.savemat(path, {k: v for k, v in data.items() if v is not None})
    return data


def test_mpi_annot_mat(tmp_path):
    data = _annot_mat(tmp_path / "annot.mat")
    samples = read_mpi_inf_3dhp_annot(tmp_path / "annot.mat", "S1/Seq1", cameras=[0, 8], every=2)
    assert len(samples) == 4
    assert samples[3].image == "S1/Seq1/imageFrames/video_8/frame_000003.jpg"
    mpi = data["annot3"][8, 0][2].reshape(28, 3) / 1000.0  # camera 8, frame 2, in metres
    s = samples[3]
    assert np.allclose(s.keypoints_3d[ROW["right_knee"], :3], mpi[24]) and s.keypoints_3d[ROW["right_knee"], 3] == 1
    assert np.allclose(s.keypoints_2d[ROW["head_top"], :2], data["annot2"][8, 0][2].reshape(28, 2)[7])
    assert s.keypoints_3d[ROW["spine"], 3] == 0  # MPI's spine joints are not SPIN's spine point
    _annot_mat(tmp_path / "annot.mat", annot3=None)
    with pytest.raises(DatasetFileError, match=r"annot.mat: key 'annot3' is missing"):
        read_mpi_inf_3dhp_annot(tmp_path / "annot.mat", "S1/Seq1")
    bad = np.empty((14, 1), object)
    for c in range(14):
        bad[c, 0] = np.zeros((4, 50))
    _annot_mat(tmp_path / "annot.mat", annot2=bad)
    with pytest.raises(DatasetFileError, match=r"key 'annot2' camera 0 has shape \(4, 50\)"):
        read_mpi_inf_3dhp_annot(tmp_path / "annot.mat", "S1/Seq1")
    _annot_mat(tmp_path / "annot.mat")
    (tmp_path / "annot.mat").write_bytes((tmp_path / "annot.mat").read_bytes()[:1000])
    with pytest.raises(DatasetFileError, match=r"annot.mat: not a readable MATLAB file"):
        read_mpi_inf_3dhp_annot(tmp_path / "annot.mat", "S1/Seq1")
