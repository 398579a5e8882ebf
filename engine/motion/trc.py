"""OpenSim/Pose2Sim .trc marker files: named 3D points per frame (tab-separated text).

Header: line 1 "PathFileType ...", line 2 the keys (DataRate, CameraRate, NumFrames, NumMarkers, Units, ...),
line 3 their values, line 4 "Frame#, Time, <marker names>", line 5 X1 Y1 Z1 ..., then one line per frame.
Positions are returned in metres (the file's Units: m or mm), in the file's axes (Pose2Sim writes y up).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import MotionFileError

_TO_METRES = {"m": 1.0, "mm": 0.001, "cm": 0.01}


@dataclass(frozen=True, eq=False)
class Markers:
    """names (M,); positions (T, M, 3) metres, NaN where missing; times (T,) seconds; fps."""

    names: tuple[str, ...]
    positions: np.ndarray
    times: np.ndarray
    fps: float

    def __getitem__(self, name: str) -> np.ndarray:
        return self.positions[:, self.names.index(name)]


def read_trc(path: str | os.PathLike) -> Markers:
    path = Path(path)
    if not path.is_file():
        raise MotionFileError(f"marker file not found: {path}")
    lines = path.read_text(errors="replace").splitlines()
    if len(lines) < 6 or not lines[0].startswith("PathFileType"):
        raise MotionFileError(f"{path} is not a .trc marker file (no PathFileType header)")
    header = dict(zip(lines[1].split("\t"), lines[2].split("\t"), strict=False))
    units = header.get("Units", "m").strip()
    if units not in _TO_METRES:
        raise MotionFileError(f"{path}: unknown Units {units!r} (expected m, cm or mm)")
    names = tuple(n for n in lines[3].split("\t")[2:] if n.strip())
    rows = [line.split("\t") for line in lines[5:] if line.strip()]
    try:
        values = np.array([[float(v) if v.strip() else np.nan for v in r[:2 + 3 * len(names)]] for r in rows])
    except ValueError as err:
        raise MotionFileError(f"{path}: a frame line holds something that is not a number ({err})") from None
    if values.shape[1] != 2 + 3 * len(names):
        raise MotionFileError(f"{path}: frames have {values.shape[1] - 2} coordinates for {len(names)} markers")
    positions = values[:, 2:].reshape(len(values), len(names), 3) * _TO_METRES[units]
    fps = float(header.get("DataRate", 0) or 0) or (1.0 / np.median(np.diff(values[:, 1])) if len(values) > 1 else 0.0)
    return Markers(names=names, positions=positions, times=values[:, 1], fps=fps)
