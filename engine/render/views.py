"""Where a capture's final body is, frame by frame, for the pictures: in the video's camera and in the world.

The motion file's body lives in the levelled world (y up, ground at y = 0). The camera saw it before the
half turn about x and the levelling (engine.capture.reconstruct): undoing both puts the final body (foot
locking included) back over the video.
"""

from __future__ import annotations

import numpy as np

from engine.body.lbs import body_forward
from engine.capture.ground import level_transform
from engine.capture.reconstruct import CAMERA_TO_WORLD, move_rigidly


def world_to_camera(result) -> tuple[np.ndarray, np.ndarray]:
    """(3, 3) rotation and (3,) shift taking the capture's world to its camera frame (metres)."""
    level_rot, level_shift = level_transform(result.reconstruction.ground_camera)
    forward = level_rot @ CAMERA_TO_WORLD  # camera -> world: x -> forward @ x + level_shift
    return forward.T, -forward.T @ level_shift


def final_body(result, body_model, frames: np.ndarray | None = None, camera_frame: bool = True,
               vertices: bool = True):
    """engine.body.lbs.BodyOutput of the final motion at `frames` (None: all), in the camera's frame or the
    world's. Keypoint sets: feet6 (for planted-foot markers)."""
    motion = result.motion
    idx = np.arange(motion.num_frames) if frames is None else np.asarray(frames)
    betas = np.asarray(result.reconstruction.betas, np.float64)
    pelvis_rest = body_model.rest_joints(betas)[0]
    rotations = motion.rotations[idx]
    trans = motion.root_translation[idx] - pelvis_rest
    if camera_frame:
        rotations, trans = move_rigidly(rotations, trans, pelvis_rest, *world_to_camera(result))
    return body_forward(body_model, rotations, np.broadcast_to(betas, (len(idx), len(betas))), trans,
                        vertices=vertices, keypoint_sets=("feet6",))


def planted_points(result, body_model, keypoints: np.ndarray, frame: int) -> np.ndarray:
    """(N, 3) the heels and big toes of the feet planted at motion frame `frame`: keypoints (6, 3) feet6."""
    names = body_model.keypoint_names["feet6"]
    planted = result.planted()[frame]
    picks = [i for i, n in enumerate(names) if ("heel" in n or "big_toe" in n) and planted[0 if n.startswith("left")
                                                                                          else 1]]
    return keypoints[picks]
