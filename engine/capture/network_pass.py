"""The estimation network inside a capture: crops of the followed person in batches, outputs per frame.

Crops have the size the model file's metadata names (input.height x input.width). Frames arrive one by
one (`add`); every `batch_size` of them go through the network together. With `every` > 1 (network+fit,
where the network only starts the fit) it runs on every n-th frame of each covered stretch and `finish`
interpolates its outputs over the frames between (NetworkOutputs.fill_skipped). A crop is
placed by the keypoint stage's points (engine.capture.keypoint_pass), else by the detector's box; a
trained network's own 2D keypoints then move crops that were off and run those again. Outputs are kept in
preallocated per-frame arrays of a few hundred bytes a frame.

A batch runs on a worker thread while the caller decodes and tracks the next frames: ONNX Runtime and
OpenCV release the GIL, so on two cores the network's work fills the gaps the sequential keypoint stage
leaves (one batch in flight at a time, so memory stays that of two batches of frames). `finish` waits
for the last batch and re-raises what failed in it; `close` stops the worker (call it in a finally).
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from engine.capture.crops import (
    CropWindows,
    crop_frame,
    crop_size_of,
    frame_to_crop_affine,
    normalise_crops,
    normalised_to_frame,
)
from engine.capture.gaps import GapMasks, fill_linear, fill_rotations
from engine.capture.infer import ModelOutputs, PoseEstimator
from engine.capture.keypoint_pass import KeypointPass
from engine.capture.reconstruct import foot_contact_probability
from engine.capture.track import refine_windows


@dataclass
class NetworkOutputs:
    """Per sampled frame outputs, preallocated: memory grows by a few hundred bytes per frame."""

    num_frames: int
    num_keypoints: int

    def __post_init__(self) -> None:
        t = self.num_frames
        self.pose = np.tile(np.eye(3, dtype=np.float32), (t, 24, 1, 1))
        self.betas = np.zeros((t, 10), np.float32)
        self.cam = np.tile(np.array([1.0, 0.0, 0.0], np.float32), (t, 1))
        self.contact = np.zeros((t, 2), np.float32)
        self.keypoints = np.zeros((t, self.num_keypoints, 2), np.float32)
        self.ran = np.zeros(t, bool)
        self.filled = np.zeros(t, bool)  # skipped on purpose, then interpolated from the frames that ran
        self.centre = np.zeros((t, 2))
        self.height = np.ones(t)

    def store(self, positions: list[int], out: ModelOutputs, windows: CropWindows, num_left: int,
              crop_height: int) -> None:
        p = np.asarray(positions)
        self.pose[p] = out.pose_rotmat
        self.betas[p] = out.betas
        self.cam[p] = out.cam
        self.contact[p] = foot_contact_probability(out.contact, num_left)
        self.keypoints[p] = normalised_to_frame(out.kp2d_front, windows, crop_height)
        self.centre[p] = windows.centre
        self.height[p] = windows.height
        self.ran[p] = True

    def fill_skipped(self, skipped: np.ndarray) -> None:
        """Frames the network skipped on purpose ((T,) bool) get their neighbours' outputs: rotations slerped,
        the rest blended linearly, between the frames that ran on either side (held past the last)."""
        if not (skipped.any() and self.ran.any()):
            return
        between = (np.cumsum(self.ran) > 0) & (np.cumsum(self.ran[::-1])[::-1] > 0)
        masks = GapMasks(observed=self.ran, interpolated=skipped & between,
                         missing=~self.ran & ~(skipped & between))
        rows = skipped & ~self.ran
        self.pose[rows] = fill_rotations(self.pose, masks)[rows]
        for name in ("betas", "cam", "contact", "keypoints", "centre", "height"):
            values = getattr(self, name)
            values[rows] = fill_linear(values, masks)[rows]
        self.filled |= rows

    def finite(self) -> np.ndarray:
        """(T,) bool: frames whose outputs are all finite (a half-precision model can overflow)."""
        return (np.isfinite(self.pose).all(axis=(1, 2, 3)) & np.isfinite(self.betas).all(axis=1)
                & np.isfinite(self.cam).all(axis=1) & np.isfinite(self.contact).all(axis=1))

    def windows(self, prior: CropWindows) -> CropWindows:
        """The crop windows the network saw (interpolated where it skipped a frame); the prior's where it did
        not run."""
        known = self.ran | self.filled
        return CropWindows(np.where(known[:, None], self.centre, prior.centre),
                           np.where(known, self.height, prior.height))


class NetworkPass:
    """Batches frames through the network; `timings` gathers crop and infer seconds. every: run on every n-th
    frame of each covered stretch (its first frame included) and interpolate between (1: every frame)."""

    def __init__(self, estimator: PoseEstimator, keypoints: KeypointPass, prior: CropWindows, num_frames: int,
                 batch_size: int, every: int = 1):
        self.estimator = estimator
        self.keypoints = keypoints
        self.prior = prior
        self.batch_size = batch_size
        self.every = every
        self.outputs = NetworkOutputs(num_frames, len(estimator.metadata.keypoint_names))
        self.skipped = np.zeros(num_frames, bool)
        self._last_added = -2
        self._since_run = 0
        self.moved = 0
        self.timings = {"crop": 0.0, "infer": 0.0}
        self._positions: list[int] = []
        self._frames: list[np.ndarray] = []
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="planted-network")
        self._pending: Future | None = None

    def add(self, position: int, image: np.ndarray) -> None:
        """A covered frame (positions increase): queued for the network, or skipped (module docstring)."""
        new_stretch = position != self._last_added + 1
        self._last_added = position
        if not new_stretch and self._since_run + 1 < self.every:
            self._since_run += 1
            self.skipped[position] = True
            return
        self._since_run = 0
        self._positions.append(position)
        self._frames.append(image)
        if len(self._positions) == self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Send the frames added so far to the worker (after the batch before them has finished)."""
        if not self._positions:
            return
        positions, frames = self._positions, self._frames
        # The windows come from the keypoint pass, which the caller's thread keeps writing: read them here.
        windows = self.keypoints.network_windows(
            positions, CropWindows(self.prior.centre[positions], self.prior.height[positions]))
        self._positions, self._frames = [], []
        self._wait()
        self._pending = self._worker.submit(self._run_batch, positions, frames, windows)

    def finish(self) -> None:
        """Run what is left and wait for it; the outputs are complete (skipped frames filled) afterwards."""
        self.flush()
        self._wait()
        self.outputs.fill_skipped(self.skipped)

    def close(self) -> None:
        """Stop the worker (a batch in flight is finished first, its error dropped)."""
        self._worker.shutdown(wait=True, cancel_futures=True)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def _run_batch(self, positions: list[int], frames: list[np.ndarray], windows: CropWindows) -> None:
        meta = self.estimator.metadata
        t = time.perf_counter()
        crops = _crops(frames, windows, meta.input)
        self.timings["crop"] += time.perf_counter() - t
        t = time.perf_counter()
        out = self.estimator.run(crops)
        if self.estimator.trained:
            # The network's own keypoints move each crop; re-run the frames whose crop was off.
            refined, moved = refine_windows(windows, normalised_to_frame(out.kp2d_front, windows, meta.input.height))
            if moved.any():
                sel = np.flatnonzero(moved)
                sub = CropWindows(refined.centre[sel], refined.height[sel])
                out = _replace_rows(out, sel, self.estimator.run(_crops([frames[i] for i in sel], sub, meta.input)))
                windows = refined
                self.moved += int(moved.sum())
        self.timings["infer"] += time.perf_counter() - t
        self.outputs.store(positions, out, windows, meta.num_left_contact_vertices, meta.input.height)


def _crops(frames: list[np.ndarray], windows: CropWindows, spec) -> np.ndarray:
    """The frames' crops at the size the model's metadata asks for (spec: its InputSpec), normalised."""
    size = crop_size_of(spec)
    affines = frame_to_crop_affine(windows, size)
    return normalise_crops(np.stack([crop_frame(f, a, size) for f, a in zip(frames, affines, strict=True)]), spec)


def _replace_rows(out: ModelOutputs, rows: np.ndarray, new: ModelOutputs) -> ModelOutputs:
    fields = {}
    for name in ("pose_rotmat", "betas", "cam", "contact", "kp2d_front"):
        values = getattr(out, name).copy()
        values[rows] = getattr(new, name)
        fields[name] = values
    return ModelOutputs(**fields)
