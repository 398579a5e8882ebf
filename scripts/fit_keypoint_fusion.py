"""Fit the per-joint fusion of MoveNet and BlazePose (engine.keypoints.fusion) for every preset's pair.

    .venv/bin/python scripts/fit_keypoint_fusion.py [--threads 2]

Fitted on LSP's train split (1000 photos) and LSPET's first half (lspet_fit, 4000 acrobatic photos), each
seen both ways the benchmark measures (the whole photo, and through our detector and the tracked region;
training.keypoint_eval), never on LSP's test split or LSPET's second half (lspet_eval), which
scripts/bench/keypoints.py reports. Per limb joint: the gate maximises a smooth PCK@0.2 (a sigmoid of
0.2 - error / torso, width 0.02; Nelder-Mead from three starts: equal trust, MoveNet, BlazePose), the
confidence is a logistic regression of "within 0.2 torso", both on engine.keypoints.fusion's features. Writes
engine/assets/keypoint_fusion.json with the fit's own PCK figures. Network outputs are cached
(.cache/keypoint_eval/): the first run takes about 20 minutes on 2 cores, later ones seconds.
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import sys

import numpy as np
from scipy.optimize import minimize

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.keypoints.fusion import FUSION_PATH, FusionParams, features, fuse_coco, sigmoid  # noqa: E402
from engine.keypoints.sets import BLAZEPOSE_TO_BODY23, LSP_LIMB_NAMES, LSP_LIMB_TO_BODY23  # noqa: E402
from engine.keypoints.stage import PRESETS  # noqa: E402
from training.data.lsp import load_split, torso_size  # noqa: E402
from training.keypoint_eval import LSP_LIMB_ROWS, predict_pair  # noqa: E402

FIT_SPLITS = ("lsp_train", "lspet_fit")
MODES = ("crop", "roi")
_WIDTH = 0.02
_THRESHOLD = 0.2
_RIDGE = 1e-3


def gather(pair: tuple[str, str], threads: int) -> dict[str, np.ndarray]:
    """Every fit photo in both modes: MoveNet and BlazePose COCO points, their scores, labels, torso."""
    rows = {k: [] for k in ("mn_xy", "mn_s", "bp_xy", "bp_v", "truth", "labelled", "torso", "source")}
    for split in FIT_SPLITS:
        data = load_split(split)
        for mode in MODES:
            pred = predict_pair(data, *pair, mode, threads)
            rows["mn_xy"].append(pred["movenet"][..., :2])
            rows["mn_s"].append(pred["movenet"][..., 2])
            bp = pred["blazepose"][:, BLAZEPOSE_TO_BODY23[:17]]
            rows["bp_xy"].append(bp[..., :2])
            rows["bp_v"].append(bp[..., 3])
            rows["truth"].append(data.joints[:, LSP_LIMB_ROWS])
            torso = torso_size(data.joints, data.labelled)
            rows["labelled"].append(data.labelled[:, LSP_LIMB_ROWS] & np.isfinite(torso)[:, None])
            rows["torso"].append(np.where(np.isfinite(torso), torso, 1.0))
            rows["source"].append(np.full(len(data), f"{split}/{mode}"))
    return {k: np.concatenate(v) for k, v in rows.items()}


def fit_gate(mn_xy, bp_xy, f, truth, torso) -> np.ndarray:
    """Gate coefficients of one joint maximising the smooth PCK over its labelled samples."""
    def loss(g):
        a = sigmoid(f @ g)[:, None]
        err = np.linalg.norm(a * mn_xy + (1 - a) * bp_xy - truth, axis=1) / torso
        return -np.mean(sigmoid((_THRESHOLD - err) / _WIDTH)) + _RIDGE * float(g[1:] @ g[1:])

    n = f.shape[-1]
    starts = [FusionParams.neutral().gate[0], np.r_[3.0, np.zeros(n - 1)], np.r_[-3.0, np.zeros(n - 1)]]
    results = [minimize(loss, g0, method="Nelder-Mead", options={"xatol": 1e-3, "fatol": 1e-7, "maxiter": 4000})
               for g0 in starts]
    return min(results, key=lambda r: r.fun).x


def fit_confidence(f, correct) -> np.ndarray:
    """Logistic regression of `correct` on the features."""
    def loss(h):
        z = f @ h
        return float(np.mean(np.logaddexp(0, z) - correct * z)) + _RIDGE * float(h[1:] @ h[1:])

    return minimize(loss, np.zeros(f.shape[-1]), method="L-BFGS-B").x


def pck_of(xy, truth, labelled, torso) -> float:
    err = np.linalg.norm(xy - truth, axis=-1) / torso[:, None]
    ok = np.where(np.isfinite(err), err <= _THRESHOLD, False) & labelled
    return float(ok.sum() / labelled.sum())


def fit_pair(pair: tuple[str, str], threads: int) -> dict:
    rows = gather(pair, threads)
    coco = LSP_LIMB_TO_BODY23  # limb joints' COCO rows, in LSP_LIMB_NAMES order
    f_all = features(rows["mn_xy"], rows["mn_s"], rows["bp_xy"], rows["bp_v"])
    gate = np.zeros((17, f_all.shape[-1]))
    conf = np.zeros((17, f_all.shape[-1]))
    for k, c in enumerate(coco):
        m = rows["labelled"][:, k]
        gate[c] = fit_gate(rows["mn_xy"][m, c], rows["bp_xy"][m, c], f_all[m, c], rows["truth"][m, k], rows["torso"][m])
    face = [c for c in range(17) if c not in set(coco.tolist())]
    gate[face] = gate[coco].mean(axis=0)
    params = FusionParams(gate=gate, confidence=FusionParams.neutral().confidence)
    fused, _ = fuse_coco(rows["mn_xy"], rows["mn_s"], rows["bp_xy"], rows["bp_v"], params)
    for k, c in enumerate(coco):
        m = rows["labelled"][:, k]
        err = np.linalg.norm(fused[m, c] - rows["truth"][m, k], axis=-1) / rows["torso"][m]
        conf[c] = fit_confidence(f_all[m, c], (err <= _THRESHOLD).astype(np.float64))
    conf[face] = conf[coco].mean(axis=0)
    figures = {}
    for source in np.unique(rows["source"]):
        s = rows["source"] == source
        args = (rows["truth"][s], rows["labelled"][s], rows["torso"][s])
        figures[source] = {"movenet": pck_of(rows["mn_xy"][s][:, coco], *args),
                           "blazepose": pck_of(rows["bp_xy"][s][:, coco], *args),
                           "fused": pck_of(fused[s][:, coco], *args)}
    return {"gate": gate.round(5).tolist(), "confidence": conf.round(5).tolist(), "fit_pck": figures,
            "limb_joints": list(LSP_LIMB_NAMES)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=pathlib.Path, default=FUSION_PATH)
    args = parser.parse_args()
    pairs = {}
    for preset, pair in PRESETS.items():
        name = "+".join(pair)
        if name not in pairs:
            pairs[name] = fit_pair(pair, args.threads)
            print(f"{preset:9s} {name}: " + "; ".join(
                f"{src} movenet {v['movenet']:.3f} blazepose {v['blazepose']:.3f} fused {v['fused']:.3f}"
                for src, v in pairs[name]["fit_pck"].items()), flush=True)
    table = {"about": "Per-joint fusion of MoveNet and BlazePose (engine.keypoints.fusion), fitted by "
                      "scripts/fit_keypoint_fusion.py on " + ", ".join(FIT_SPLITS) + " (modes " + ", ".join(MODES)
                      + "); fit_pck: PCK@0.2 over the 12 LSP limb joints on that fit data.",
             "fitted": datetime.date.today().isoformat(), "pairs": pairs}
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(table, indent=1) + "\n")
    tmp.replace(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
