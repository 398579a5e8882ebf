"""3DPW sequence pickles (restricted unpickler: pickled code never runs) and AIST++'s keypoints3d, camera
settings and SMPL motions, written in the datasets' own layouts; bad files give named errors."""

import json
import pickle

import numpy as np
import pytest

from engine.rotations import axis_angle_to_matrix
from training.data.aist import (
    aist_samples,
    read_aist_cameras,
    read_aist_keypoints3d,
    read_aist_mapping,
    read_aist_motion,
)
from training.data.files import DatasetFileError
from training.data.pw3d import read_3dpw
from training.data.superset import SUPERSET_NAMES

ROW = {n: i for i, n in enumerate(SUPERSET_NAMES)}
N = 4


def _rot_y(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _pw3d(path, **override):
    """A two-actor sequence as 3DPW ships it (lists per actor, poses2d (N, 3, 18), cam_poses (N, 4, 4))."""
    rng = np.random.default_rng(2)
    cam = np.tile(np.eye(4), (N, 1, 1))
    cam[:, :3, :3] = _rot_y(0.5)
    cam[:, :3, 3] = [0.1, -0.2, 3.0]
    poses2d = rng.uniform(100, 900, (N, 3, 18))
    poses2d[:, 2] = 0.8
    data = {
        "sequence": "downtown_walking_00", "genders": ["m", "f"],
        "betas": [rng.normal(0, 1, 10), rng.normal(0, 1, 10)],
        "betas_clothed": [rng.normal(0, 1, 10)] * 2, "v_template_clothed": [np.zeros((6890, 3))] * 2,
        "poses": [rng.normal(0, 0.3, (N, 72)) for _ in range(2)], "trans": [rng.normal(0, 1, (N, 3))] * 2,
        "poses_60Hz": [rng.normal(0, 0.3, (2 * N, 72))] * 2, "trans_60Hz": [rng.normal(0, 1, (2 * N, 3))] * 2,
        "poses2d": [poses2d, poses2d.copy()], "jointPositions": [rng.normal(0, 0.5, (N, 72)) for _ in range(2)],
        "cam_poses": cam, "cam_intrinsics": np.array([[1961.0, 0, 540], [0, 1969.0, 960], [0, 0, 1]]),
        "campose_valid": [np.array([1, 1, 0, 1], bool), np.ones(N, bool)],
        "img_frame_ids": np.arange(10, 10 + N),
    }
    data.update(override)
    path.write_bytes(pickle.dumps({k: v for k, v in data.items() if v is not None}, protocol=2))
    return data


def test_3dpw_sequence_moves_labels_into_the_camera(tmp_path):
    data = _pw3d(tmp_path / "downtown_walking_00.pkl")
    samples = read_3dpw(tmp_path / "downtown_walking_00.pkl", "imageFiles")
    assert len(samples) == 3 + 4  # actor 0's frame 2 has no valid camera pose
    s = samples[2]  # actor 0, frame 3
    assert s.image == "imageFiles/downtown_walking_00/image_00013.jpg"
    joints = data["jointPositions"][0][3].reshape(24, 3)
    assert np.allclose(s.smpl_joints_3d, joints @ _rot_y(0.5).T + [0.1, -0.2, 3.0]) and s.has_smpl_joints
    root_world = axis_angle_to_matrix(data["poses"][0][3, :3])
    assert np.allclose(axis_angle_to_matrix(s.pose[:3]), _rot_y(0.5) @ root_world, atol=1e-9)
    assert np.allclose(s.pose[3:], data["poses"][0][3, 3:]) and np.allclose(s.betas, data["betas"][0])
    openpose = data["poses2d"][0][3].T  # (18, 3): OpenPose's 7 is the left wrist, 1 the neck (not kept)
    assert np.allclose(s.keypoints_2d[ROW["coco_left_wrist"]], openpose[7])
    assert s.keypoints_2d[:, 2].sum() == pytest.approx(0.8 * 17)
    assert not s.has_keypoints_3d and s.contact is None


def test_3dpw_pickle_runs_no_code(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"sequence": "x", "poses": [Payload()]}, protocol=2))
    with pytest.raises(DatasetFileError, match=r"evil.pkl: refusing .*open"):
        read_3dpw(tmp_path / "evil.pkl")
    assert not marker.exists()


def test_3dpw_errors_name_file_and_key(tmp_path):
    path = tmp_path / "seq.pkl"
    _pw3d(path, jointPositions=None)
    with pytest.raises(DatasetFileError, match=r"seq.pkl: key 'jointPositions' must list one array per actor"):
        read_3dpw(path)
    _pw3d(path, poses2d=[np.zeros((N, 18, 3))] * 2)
    with pytest.raises(DatasetFileError, match=r"seq.pkl \(actor 0\): key 'poses2d' has shape \(4, 18, 3\)"):
        read_3dpw(path)
    _pw3d(path, cam_poses=np.zeros((N - 1, 4, 4)))
    with pytest.raises(DatasetFileError, match=r"key 'cam_poses' has shape \(3, 4, 4\), expected \(4, 4, 4\)"):
        read_3dpw(path)
    _pw3d(path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(DatasetFileError, match=r"seq.pkl: not a readable 3DPW sequence pickle"):
        read_3dpw(path)


def _aist_files(tmp_path):
    """A setting with one camera 4 m in front of the origin, looking back at it (AIST++ units: cm)."""
    rvec = np.array([0.0, np.pi, 0.0])  # world to camera: half a turn about y
    cameras = [{"name": "c01", "size": [1920, 1080], "matrix": [[1500.0, 0, 960], [0, 1500.0, 540], [0, 0, 1]],
                "distortions": [0.0, 0, 0, 0, 0], "rotation": rvec.tolist(), "translation": [0.0, 0.0, 400.0]}]
    (tmp_path / "setting1.json").write_text(json.dumps(cameras))
    rng = np.random.default_rng(3)
    points = rng.normal(0, 30, (5, 17, 3)) + [0, 100, 0]
    points[1, 3] = np.nan  # a joint triangulation missed
    (tmp_path / "kp.pkl").write_bytes(pickle.dumps({"keypoints3d": points + 1, "keypoints3d_optim": points}))
    motion = {"smpl_loss": 1.5, "smpl_poses": rng.normal(0, 0.2, (5, 72)), "smpl_scaling": np.array([93.0]),
              "smpl_trans": rng.normal(0, 50, (5, 3))}
    (tmp_path / "motion.pkl").write_bytes(pickle.dumps(motion))
    return points, motion


def test_aist_keypoints_cameras_and_motion(tmp_path):
    points, motion = _aist_files(tmp_path)
    camera = read_aist_cameras(tmp_path / "setting1.json")["c01"]
    assert np.allclose(camera.translation, [0, 0, 4.0]) and camera.size == (1920, 1080)
    assert np.allclose(camera.project(np.array([[0.0, 0.0, 2.0]])), [[960, 540]])
    world = read_aist_keypoints3d(tmp_path / "kp.pkl")
    assert np.allclose(world, points / 100, equal_nan=True)
    loaded = read_aist_motion(tmp_path / "motion.pkl")
    assert np.allclose(loaded.trans, motion["smpl_trans"] / 93.0) and loaded.scaling == 93.0
    samples = aist_samples(world, camera, "gWA_sFM_c01_d27_mWA2_ch21.mp4", loaded)
    s = samples[1]
    assert s.frame == 1 and s.image == "gWA_sFM_c01_d27_mWA2_ch21.mp4"
    x, y, z = points[1, 0] / 100  # the nose; the half turn negates x and z
    assert np.allclose(s.keypoints_3d[ROW["nose"]], [-x, y, 4.0 - z, 1.0])
    assert np.allclose(s.keypoints_2d[ROW["nose"], :2], [960 + 1500 * -x / (4 - z), 540 + 1500 * y / (4 - z)])
    assert s.keypoints_3d[ROW["coco_right_shoulder"], 3] == 1 and s.keypoints_3d[ROW["left_ear"], 3] == 0
    root = axis_angle_to_matrix(np.array([0, np.pi, 0])) @ axis_angle_to_matrix(motion["smpl_poses"][1, :3])
    assert np.allclose(axis_angle_to_matrix(s.pose[:3]), root, atol=1e-9) and s.has_pose and not s.has_betas


def test_aist_errors_name_file_and_key(tmp_path):
    _aist_files(tmp_path)
    (tmp_path / "mapping.txt").write_text("gBR_sBM_cAll_d04_mBR0_ch01 setting1\ngBR_sBM_cAll_d04_mBR0_ch02\n")
    with pytest.raises(DatasetFileError, match=r"mapping.txt: line 2 .* is not 'sequence setting'"):
        read_aist_mapping(tmp_path / "mapping.txt")
    (tmp_path / "mapping.txt").write_text("gBR_sBM_cAll_d04_mBR0_ch01 setting1\n")
    assert read_aist_mapping(tmp_path / "mapping.txt") == {"gBR_sBM_cAll_d04_mBR0_ch01": "setting1"}
    cameras = json.loads((tmp_path / "setting1.json").read_text())
    del cameras[0]["matrix"]
    (tmp_path / "setting1.json").write_text(json.dumps(cameras))
    with pytest.raises(DatasetFileError, match=r"setting1.json \(camera 0\): key 'matrix' is missing"):
        read_aist_cameras(tmp_path / "setting1.json")
    (tmp_path / "kp.pkl").write_bytes(pickle.dumps({"keypoints3d": np.zeros((5, 17, 3))}))
    with pytest.raises(DatasetFileError, match=r"kp.pkl: key 'keypoints3d_optim' is missing"):
        read_aist_keypoints3d(tmp_path / "kp.pkl")
    (tmp_path / "motion.pkl").write_bytes(pickle.dumps({"smpl_poses": np.zeros((5, 72)),
                                                       "smpl_scaling": np.array([1.0]),
                                                       "smpl_trans": np.zeros((4, 3))}))
    with pytest.raises(DatasetFileError, match=r"motion.pkl: key 'smpl_trans' has shape \(4, 3\), expected \(5, 3\)"):
        read_aist_motion(tmp_path / "motion.pkl")
