"""The engine's messages in Blender's words: command-line advice becomes the panel field or button that fixes it.

The engine speaks to its command line (`--device cpu`, `--bone-map`, `scripts/setup.sh`); a Blender user
has none. Every report an operator makes goes through `blender_words`, which rewrites the advice the
engine is known to give; a sentence it does not know is left as it is.
"""

from __future__ import annotations

import re

_BONE_MAP_FIX = "map them in the bone map list (Planted panel > Retarget), or use Load Bone Map"
NO_DEFAULT_MODEL = (
    "Model Default: no trained estimation model ships with this version of Planted yet. Set Estimator to "
    "Fit (it needs no model), or set Model to File and choose a trained .onnx model"
)

# (pattern, replacement), applied in order; patterns match the engine's own sentences.
_REWRITES: tuple[tuple[re.Pattern, str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"no estimation model: no trained default ships yet.*", NO_DEFAULT_MODEL),
    (r"\(pass --model with a trained model\)", "(set Model to File and choose a trained .onnx model)"),
    (r"--device cuda asked for the GPU", "Device CUDA asks for the GPU"),
    (r"install the gpu extra \(onnxruntime-gpu\) or use --device cpu", "set Device to CPU or Auto"),
    (r"--device cuda: ", "Device CUDA: "),
    (r"use --device cpu", "set Device to CPU or Auto"),
    (r"add them to a bone-map JSON file \([^)]*\) and pass it with --(source-)?bone-map", _BONE_MAP_FIX),
    (r"write a bone-map JSON \(planted-bonemap\) for it and pass it with --source-bone-map",
     "use a Source armature with SMPL's joint names (a Planted capture or import)"),
    (r"write a bone-map JSON \(planted-bonemap\) for it and pass it with --bone-map", _BONE_MAP_FIX),
    (r"fix the joint names in the file given to --(source-)?bone-map, or pick the right skeleton",
     "fix those rows in the bone map list (Planted panel > Retarget)"),
    (r"\(--body-model\)", ""),
    (r"; pass --units to override", ""),
))
# What must never reach the panel: a command-line flag or a repository script.
CLI_WORDS = re.compile(r"(?<![\w-])--[a-z][\w-]*|scripts/|\.venv/|planted-bonemap")


def blender_words(message: str) -> str:
    """`message` with the engine's command-line advice rewritten for the Blender panel."""
    for pattern, replacement in _REWRITES:
        message = pattern.sub(replacement, message)
    return message
