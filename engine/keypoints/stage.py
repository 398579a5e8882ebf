"""The keypoint stage: each tracked person's 2D keypoints (fused), BlazePose's 3D landmarks, per frame.

Per frame and person, as MediaPipe's video mode tracks a pose:
1. BlazePose looks in the person's region: the one its own landmarks gave on the previous frame, or, to
   start, after losing the person (its flag under 0.5) or when the tracked region has drifted off the
   detector's person, the region from the person detector's keypoints (the seed).
2. MoveNet looks in the same region, upright and 0.9 times the side (by measurement on LSP's train split
   and LSPET: the rotation that helps BlazePose costs MoveNet 1-2 points of PCK, a tighter crop gains ~1).
3. The two are fused per joint (engine.keypoints.fusion) into BODY23 points with confidences, which are
   scaled by BlazePose's person flag (the chance a person is in the region at all).

All persons of a frame go through each network as one batch. Units: frame pixels (x right, y down),
BlazePose's world landmarks in metres (see engine.keypoints.blazepose).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import PlantedError
from engine.keypoints.blazepose import BlazePoseLandmarker, BlazePoseOutput
from engine.keypoints.fusion import body23, load_fusion
from engine.keypoints.movenet import MoveNetEstimator, MoveNetOutput
from engine.keypoints.roi import BLAZEPOSE_ROI_SCALE, Roi, roi_from_alignment

# --keypoints presets: (MoveNet, BlazePose), chosen by scripts/bench/keypoints.py (README has the table).
PRESETS: dict[str, tuple[str, str]] = {
    "fast": ("movenet_lightning", "blazepose_lite"),
    "balanced": ("movenet_thunder", "blazepose_full"),
    "accurate": ("movenet_thunder", "blazepose_heavy"),
}
DEFAULT_PRESET = "balanced"
MOVENET_REGION_SCALE = 0.9
# A tracked region whose centre is this many region sides from the detector's is following someone else.
_DRIFT = 0.5


@dataclass(frozen=True, eq=False)
class PersonKeypoints:
    """N results (persons of a frame, or frames of a person).

    points (N, 23, 2) frame px, BODY23 order; confidence (N, 23) in [0, 1] (0: not estimated, NaN points);
    blazepose (N, 33, 5) x, y, z px, visibility, presence; world (N, 33, 3) metres, hip-centred, x right,
    y down, z away from the camera; movenet (N, 17, 3) x, y px, score; pose_flag (N,) BlazePose's person
    probability; roi (N, 4) BlazePose's region: centre x, y (px), side (px), rotation (rad).
    """

    points: np.ndarray
    confidence: np.ndarray
    blazepose: np.ndarray
    world: np.ndarray
    movenet: np.ndarray
    pose_flag: np.ndarray
    roi: np.ndarray

    FIELDS = ("points", "confidence", "blazepose", "world", "movenet", "pose_flag", "roi")

    @staticmethod
    def empty(n: int) -> "PersonKeypoints":
        """N results where nothing was estimated (NaN, confidence 0)."""
        return PersonKeypoints(points=np.full((n, 23, 2), np.nan), confidence=np.zeros((n, 23)),
                               blazepose=np.full((n, 33, 5), np.nan), world=np.full((n, 33, 3), np.nan),
                               movenet=np.full((n, 17, 3), np.nan), pose_flag=np.zeros(n), roi=np.full((n, 4), np.nan))

    def __len__(self) -> int:
        return len(self.pose_flag)

    def rows(self, index) -> "PersonKeypoints":
        return PersonKeypoints(**{f: getattr(self, f)[index] for f in self.FIELDS})


@dataclass
class PersonTracker:
    """One person's tracking state across frames: the region BlazePose's landmarks gave last (or None)."""

    roi: Roi | None = None


def seed_rois(detector_keypoints: np.ndarray) -> Roi:
    """(N, 4, 2) the person detector's keypoints (frame px) -> BlazePose's regions (MediaPipe's
    PoseDetectionToRoi: hip centre to body-circle point, 1.25 margin)."""
    kp = np.asarray(detector_keypoints, np.float64).reshape(-1, 4, 2)
    return roi_from_alignment(kp[:, 0], kp[:, 1], BLAZEPOSE_ROI_SCALE)


class KeypointStage:
    """The two networks of a preset, their fusion, and the tracking logic (see the module docstring)."""

    def __init__(self, preset: str = DEFAULT_PRESET, device: str = "auto", threads: int | None = None,
                 models: tuple[str, str] | None = None):
        """preset: a PRESETS name; models: (MoveNet, BlazePose) model names instead of a preset's."""
        if models is None and preset not in PRESETS:
            raise PlantedError(f"unknown keypoint preset {preset!r}: choose one of {', '.join(PRESETS)}")
        self.preset = preset if models is None else "custom"
        movenet, blazepose = models or PRESETS[preset]
        self.movenet = MoveNetEstimator(movenet, device, threads)
        self.blazepose = BlazePoseLandmarker(blazepose, device, threads)
        self.fusion = load_fusion(f"{movenet}+{blazepose}")
        self.model_names = (movenet, blazepose)

    def estimate(self, frames: list[np.ndarray], rois: Roi) -> tuple[PersonKeypoints, BlazePoseOutput]:
        """Region n of frames[n] through both networks (one batch each): results and BlazePose's output."""
        bp = self.blazepose.run(frames, rois)
        mn = self.movenet.run(frames, rois.scaled(MOVENET_REGION_SCALE).upright())
        return self.combine(bp, mn), bp

    def combine(self, bp: BlazePoseOutput, mn: MoveNetOutput) -> PersonKeypoints:
        points, confidence = body23(mn.points, mn.score, bp.landmarks[:, :33, :2], bp.visibility[:, :33], self.fusion)
        blazepose = np.concatenate([bp.landmarks[:, :33], bp.visibility[:, :33, None], bp.presence[:, :33, None]], -1)
        movenet = np.concatenate([mn.points, mn.score[..., None]], -1)
        roi = np.concatenate([bp.rois.centre, bp.rois.size[:, None], bp.rois.rotation[:, None]], -1)
        return PersonKeypoints(points=points, confidence=confidence * bp.pose_flag[:, None], blazepose=blazepose,
                               world=bp.world, movenet=movenet, pose_flag=bp.pose_flag, roi=roi)

    def track(self, frame: np.ndarray, trackers: list[PersonTracker], seeds: Roi | None,
              seeded: np.ndarray | None = None) -> PersonKeypoints:
        """One video frame, its people in one batch: results (one row per tracker).

        seeds: the detector's region per tracker (None: no detector this frame); seeded (N,) bool: which
        seeds hold (a person detected or interpolated there). A tracker without a region and without a
        seed gives an empty row.
        """
        n = len(trackers)
        seeded = np.zeros(n, bool) if seeds is None else np.asarray(seeded if seeded is not None else np.ones(n), bool)
        rois, from_seed, active = [], np.zeros(n, bool), np.zeros(n, bool)
        for i, tracker in enumerate(trackers):
            roi = tracker.roi
            if seeded[i] and (roi is None or _drifted(roi, seeds[i])):
                roi, from_seed[i] = seeds[i], True
            if roi is not None:
                rois.append(roi)
                active[i] = True
        result = PersonKeypoints.empty(n)
        if not active.any():
            return result
        idx = np.flatnonzero(active)
        out, bp = self.estimate([frame] * len(idx), Roi.concatenate(rois))
        lost = ~bp.found & ~from_seed[idx] & seeded[idx]
        if lost.any():  # the tracked region lost the person: look where the detector has them
            again = idx[lost]
            out2, bp2 = self.estimate([frame] * len(again), seeds[again])
            better = bp2.pose_flag > bp.pose_flag[lost]
            rows = np.flatnonzero(lost)[better]
            out = _replace(out, rows, out2.rows(np.flatnonzero(better)))
            bp = _replace_bp(bp, rows, bp2, np.flatnonzero(better))
        nxt = bp.next_rois()
        for row, i in enumerate(idx):
            trackers[i].roi = nxt[row] if bp.found[row] else None
        for field in PersonKeypoints.FIELDS:
            getattr(result, field)[idx] = getattr(out, field)
        return result

    def still(self, images: list[np.ndarray], seeds: Roi) -> PersonKeypoints:
        """Still images, one person each: the seed's region, then the region BlazePose's landmarks give
        (the tracking's steady state on a still image)."""
        _, bp = self.estimate(images, seeds)
        nxt = bp.next_rois()
        found = bp.found
        rois = Roi(np.where(found[:, None], nxt.centre, seeds.centre), np.where(found, nxt.size, seeds.size),
                   np.where(found, nxt.rotation, seeds.rotation))
        return self.estimate(images, rois)[0]


def _drifted(tracked: Roi, seed: Roi) -> bool:
    return bool(np.linalg.norm(tracked.centre[0] - seed.centre[0]) > _DRIFT * seed.size[0])


def _replace(out: PersonKeypoints, rows: np.ndarray, new: PersonKeypoints) -> PersonKeypoints:
    fields = {}
    for field in PersonKeypoints.FIELDS:
        values = getattr(out, field).copy()
        values[rows] = getattr(new, field)
        fields[field] = values
    return PersonKeypoints(**fields)


def _replace_bp(bp: BlazePoseOutput, rows: np.ndarray, new: BlazePoseOutput, new_rows: np.ndarray) -> BlazePoseOutput:
    def put(a, b):
        a = a.copy()
        a[rows] = b[new_rows]
        return a

    rois = Roi(put(bp.rois.centre, new.rois.centre), put(bp.rois.size, new.rois.size),
               put(bp.rois.rotation, new.rois.rotation))
    return BlazePoseOutput(landmarks=put(bp.landmarks, new.landmarks), visibility=put(bp.visibility, new.visibility),
                           presence=put(bp.presence, new.presence), pose_flag=put(bp.pose_flag, new.pose_flag),
                           world=put(bp.world, new.world), rois=rois)
