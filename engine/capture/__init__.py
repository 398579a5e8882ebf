"""Capture: a video of one person in, SMPL motion with planted feet out (see pipeline.capture).

video (frames) -> detector + track (one person) -> crops -> infer (ONNX Runtime) -> reconstruct (world
motion, ground, gaps, smoothing) -> foot locking -> motion_file (.npz, AMASS keys) and BVH.
"""
