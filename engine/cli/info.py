"""`planted info`: versions, ONNX Runtime providers, the active body model."""

from __future__ import annotations

import argparse
import platform


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="versions, ONNX Runtime providers, active body model")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import cv2
    import numpy
    import onnxruntime

    from engine import __version__
    from engine.body.active import describe_active_body_model

    rows = [
        ("planted", __version__),
        ("python", platform.python_version()),
        ("numpy", numpy.__version__),
        ("opencv", cv2.__version__),
        ("onnxruntime", onnxruntime.__version__),
        ("ORT providers", ", ".join(onnxruntime.get_available_providers())),
        ("body model", describe_active_body_model(args.body_model)),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0
