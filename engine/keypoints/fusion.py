"""One 2D keypoint set from MoveNet and BlazePose: each joint weighted by how reliable each network was there.

For COCO joint j, with MoveNet's score s and BlazePose's visibility v at that joint, and d the distance
between the two networks' points over MoveNet's torso (|left shoulder - right hip|, capped at 3):

    f_j = (1, logit s, logit v, d, d logit s, d logit v)
    a_j = sigmoid(g_j . f_j)                  the weight on MoveNet's point
    x_j = a_j x_movenet + (1 - a_j) x_blazepose
    c_j = sigmoid(h_j . f_j)                  the fused point's confidence

Where the networks agree the gate can average them; where they disagree it can pick the one whose
confidence has been reliable for that joint (the d terms: measured, +0.3 to +0.8 points of PCK@0.2 on the
fit data over the gate without them).

g and h were fitted per joint and per pair of networks on LSP's train split and the first half of
LSPET's (scripts/fit_keypoint_fusion.py; never on a test split): g to maximise a smooth PCK@0.2, h as a
logistic regression of "within 0.2 torso of the label". They live in engine/assets/keypoint_fusion.json with
the figures they were chosen by. Face points, which LSP does not label, take the mean of the limb joints'.
The six foot points come from BlazePose alone (MoveNet has none), confidence its visibility; small toes
from neither (NaN, confidence 0).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.errors import ModelFileError
from engine.keypoints.sets import BODY23_NAMES, SMALL_TOES, blazepose_as_body23

FUSION_PATH = Path(__file__).resolve().parents[1] / "assets" / "keypoint_fusion.json"
_NUM_COCO = 17
_NUM_FEATURES = 6
_EPS = 1e-4
_MAX_DISAGREEMENT = 3.0
_LEFT_SHOULDER, _RIGHT_HIP = 5, 12  # COCO-17 rows


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


@dataclass(frozen=True)
class FusionParams:
    """gate (17, 6) and confidence (17, 6) coefficients per COCO joint (see the module docstring)."""

    gate: np.ndarray
    confidence: np.ndarray

    @staticmethod
    def neutral() -> "FusionParams":
        """Equal trust: the points weighted by their own confidences, the confidence their mean."""
        gate = np.tile([0.0, 1.0, -1.0, 0.0, 0.0, 0.0], (_NUM_COCO, 1))
        return FusionParams(gate=gate, confidence=np.tile([0.0, 0.5, 0.5, 0.0, 0.0, 0.0], (_NUM_COCO, 1)))


def features(movenet_xy: np.ndarray, movenet_score: np.ndarray, blazepose_xy: np.ndarray,
             blazepose_visibility: np.ndarray) -> np.ndarray:
    """(N, 17, 6) the gate's features (module docstring) from both networks' (N, 17) COCO points."""
    s, v = logit(movenet_score), logit(blazepose_visibility)
    torso = np.linalg.norm(movenet_xy[:, _LEFT_SHOULDER] - movenet_xy[:, _RIGHT_HIP], axis=-1)
    with np.errstate(invalid="ignore"):
        d = np.linalg.norm(movenet_xy - blazepose_xy, axis=-1) / np.maximum(torso, 1e-6)[:, None]
    d = np.nan_to_num(np.minimum(d, _MAX_DISAGREEMENT), nan=_MAX_DISAGREEMENT)
    return np.stack([np.ones_like(s), s, v, d, d * s, d * v], axis=-1)


def fuse_coco(movenet_xy: np.ndarray, movenet_score: np.ndarray, blazepose_xy: np.ndarray,
              blazepose_visibility: np.ndarray, params: FusionParams) -> tuple[np.ndarray, np.ndarray]:
    """(N, 17, 2) fused points and (N, 17) confidences from both networks' COCO-17 (same units in, out)."""
    f = features(movenet_xy, movenet_score, blazepose_xy, blazepose_visibility)
    a = sigmoid(np.einsum("nkf,kf->nk", f, params.gate))
    xy = a[..., None] * movenet_xy + (1 - a[..., None]) * blazepose_xy
    return xy, sigmoid(np.einsum("nkf,kf->nk", f, params.confidence))


def body23(movenet_xy: np.ndarray | None, movenet_score: np.ndarray | None, blazepose_xy: np.ndarray | None,
           blazepose_visibility: np.ndarray | None, params: FusionParams) -> tuple[np.ndarray, np.ndarray]:
    """(N, 23, 2) points and (N, 23) confidences in BODY23 order from whichever networks ran.

    movenet_*: (N, 17, ...) COCO-17; blazepose_*: (N, 33, ...) BlazePose's 33 points. A network that did not
    run is None; where neither ran the point is NaN with confidence 0.
    """
    n = len(movenet_xy) if movenet_xy is not None else len(blazepose_xy)
    xy = np.full((n, len(BODY23_NAMES), 2), np.nan)
    conf = np.zeros((n, len(BODY23_NAMES)))
    if blazepose_xy is not None:
        xy, conf = blazepose_as_body23(blazepose_xy), blazepose_as_body23(blazepose_visibility, fill=0.0)
    if movenet_xy is not None and blazepose_xy is not None:
        xy[:, :_NUM_COCO], conf[:, :_NUM_COCO] = fuse_coco(
            movenet_xy, movenet_score, xy[:, :_NUM_COCO], conf[:, :_NUM_COCO], params)
    elif movenet_xy is not None:
        xy[:, :_NUM_COCO], conf[:, :_NUM_COCO] = movenet_xy, movenet_score
    xy[:, list(SMALL_TOES)] = np.nan
    conf[:, list(SMALL_TOES)] = 0.0
    return xy, conf


@lru_cache(maxsize=8)
def load_fusion(pair: str, path: Path = FUSION_PATH) -> FusionParams:
    """The fitted parameters for `pair` ("movenet_thunder+blazepose_full", ...); neutral ones, with a
    warning in the log, when the file has none for it."""
    import logging

    try:
        table = json.loads(Path(path).read_text())
    except FileNotFoundError:
        table = {}
    except (OSError, ValueError) as err:
        raise ModelFileError(f"{path} is not a readable keypoint fusion file ({err}): reinstall planted") from None
    entry = table.get("pairs", {}).get(pair)
    if entry is None:
        logging.getLogger(__name__).warning("no fitted keypoint fusion for %s in %s: using equal trust", pair, path)
        return FusionParams.neutral()
    gate, confidence = np.asarray(entry["gate"], np.float64), np.asarray(entry["confidence"], np.float64)
    if gate.shape != (_NUM_COCO, _NUM_FEATURES) or confidence.shape != (_NUM_COCO, _NUM_FEATURES):
        raise ModelFileError(f"{path}: the fusion for {pair} has shapes {gate.shape}, {confidence.shape}, "
                             f"expected ({_NUM_COCO}, {_NUM_FEATURES}): reinstall planted")
    return FusionParams(gate=gate, confidence=confidence)
