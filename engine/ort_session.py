"""ONNX Runtime sessions for every model the engine runs: the device choice and the errors, in one place.

device: "auto" (CUDA when this ONNX Runtime has the provider, else the CPU), "cuda" or "cpu".
threads: CPU intra-op threads (None or 0: ONNX Runtime's default, all cores).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from engine.errors import ModelFileError, PlantedError

Device = Literal["auto", "cuda", "cpu"]
DEVICES: tuple[str, ...] = ("auto", "cuda", "cpu")
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def providers_for(device: str) -> list[str]:
    """The execution providers for `device`; PlantedError when CUDA is asked for and missing."""
    import onnxruntime as ort

    if device not in DEVICES:
        raise PlantedError(f"unknown device {device!r}: use one of {', '.join(DEVICES)}")
    available = ort.get_available_providers()
    if device == "cpu":
        return [CPU]
    if device == "cuda" and CUDA not in available:
        raise PlantedError(
            "--device cuda asked for the GPU, but this ONNX Runtime has no CUDA provider "
            f"(it has {', '.join(available)}); install the gpu extra (onnxruntime-gpu) or use --device cpu"
        )
    return [CUDA, CPU] if CUDA in available else [CPU]


def open_session(path: Path, providers: list[str], threads: int | None = None, what: str = "model",
                 hint: str = ""):
    """An InferenceSession on `path`; ModelFileError (naming `what`, the file and `hint`: what to do) when it
    cannot load."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{what} file not found: {path}" + (f": {hint}" if hint else ""))
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # A capture runs several networks in turn (detector, MoveNet, BlazePose, ours) with numpy between them;
    # threads that spin after a run would steal the cores the next one needs (measured: 2.6 s against 1.9 s
    # for the demo clip's keypoint pass on 2 cores).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as err:  # ORT raises its own exception types for bad files
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelFileError(f"{path} is not an ONNX {what} ONNX Runtime can load ({first_line[:200]})"
                             + (f": {hint}" if hint else "")) from None
