"""Build the Blender extension zip: the add-on, the engine as a wheel, and the engine's dependencies as wheels.

    .venv/bin/python scripts/build_extension.py [--out dist] [--platform linux-x64 ...] [--no-deps]

Why a wheel of the engine (and not a copy of engine/ inside the add-on): Blender's extension system
installs bundled Python code from wheels listed in blender_manifest.toml, and extensions must not edit
sys.path. A wheel puts `engine` on Blender's path exactly as pip would, so the engine's own absolute
imports (`from engine.motion import ...`) work unchanged and the add-on imports it like any package.
The wheel holds only `engine` (not training/, which needs torch, nor the add-on itself).

Dependencies: the engine's runtime packages (scipy, OpenCV, ONNX Runtime and what it needs, tqdm,
threadpoolctl), pinned to the versions the test suite runs, downloaded as binary wheels for each platform with pip.
numpy is left out: Blender ships its own (1.x for 4.2-5.0), and a second copy would clash.
`--no-deps` builds a small zip with the engine wheel only (for tests in an environment that already
has the dependencies, such as this project's .venv with bpy).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADDON = ROOT / "blender_addon"

# Versions the test suite runs against (see pyproject.toml for why opencv stays below 4.12).
DEPENDENCIES = (
    "scipy==1.17.1",
    "opencv-python-headless==4.11.0.86",
    "onnxruntime==1.32.0",
    "tqdm==4.70.1",
    "threadpoolctl==3.8.0",
)
# Resolved with the dependencies so pip picks versions that work with Blender's numpy, then dropped.
PROVIDED_BY_BLENDER = ("numpy",)
NUMPY_CONSTRAINT = "numpy<2"

# Blender platform name -> pip --platform tags (most specific first).
PLATFORMS = {
    "linux-x64": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "windows-x64": ("win_amd64",),
    "macos-arm64": ("macosx_14_0_arm64", "macosx_12_0_arm64", "macosx_11_0_arm64"),
}
PYTHON_VERSION = "3.11"  # Blender 4.2 - 5.0 embed CPython 3.11


def project_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def build_engine_wheel(out: Path, version: str) -> Path:
    """A wheel named planted-engine holding only the engine package (and its assets)."""
    with tempfile.TemporaryDirectory() as temp:
        project = Path(temp)
        shutil.copytree(ROOT / "engine", project / "engine", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (project / "pyproject.toml").write_text(
            "[build-system]\nrequires = ['setuptools>=61']\nbuild-backend = 'setuptools.build_meta'\n\n"
            f"[project]\nname = 'planted-engine'\nversion = '{version}'\nrequires-python = '>=3.11'\n\n"
            "[tool.setuptools.packages.find]\ninclude = ['engine*']\n\n"
            "[tool.setuptools.package-data]\n"
            "engine = ['assets/*.npz', 'assets/*.onnx', 'assets/*.md', 'assets/*.txt', 'assets/*.json']\n"
        )
        _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
              str(project)])
    (wheel,) = out.glob(f"planted_engine-{version}-*.whl")
    return wheel


def download_dependency_wheels(out: Path, platform: str) -> list[Path]:
    """Binary wheels of DEPENDENCIES and what they need, for `platform`, minus what Blender provides."""
    with tempfile.TemporaryDirectory() as temp:
        tags = [arg for tag in PLATFORMS[platform] for arg in ("--platform", tag)]
        _run([
            sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--python-version", PYTHON_VERSION,
            "--implementation", "cp", *tags, "-d", temp, *DEPENDENCIES, NUMPY_CONSTRAINT,
        ])
        wheels = []
        for wheel in sorted(Path(temp).glob("*.whl")):
            name = re.split(r"-\d", wheel.name, maxsplit=1)[0].lower().replace("_", "-")
            if name in PROVIDED_BY_BLENDER:
                continue
            wheels.append(Path(shutil.copy2(wheel, out / wheel.name)))
    return wheels


def staged_manifest(platforms: list[str], wheels: list[Path]) -> str:
    """The repository's blender_manifest.toml with the built platforms and wheel list filled in."""
    text = (ADDON / "blender_manifest.toml").read_text()
    listing = "".join(f'  "./wheels/{w.name}",\n' for w in wheels)
    text = re.sub(r"(?ms)^wheels = \[.*?^\]", f"wheels = [\n{listing}]", text)
    quoted = ", ".join(f'"{p}"' for p in platforms)
    return re.sub(r"(?m)^platforms = \[.*\]$", f"platforms = [{quoted}]", text)


def build(out_dir: Path, platforms: list[str], with_deps: bool) -> Path:
    version = project_version()
    manifest = tomllib.loads((ADDON / "blender_manifest.toml").read_text())
    if manifest["version"] != version:
        raise SystemExit(f"blender_manifest.toml version {manifest['version']} != pyproject.toml {version}")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as temp:
        stage = Path(temp) / "planted"
        shutil.copytree(ADDON, stage, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "wheels"))
        wheel_dir = stage / "wheels"
        wheel_dir.mkdir()
        wheels = [build_engine_wheel(wheel_dir, version)]
        if with_deps:
            for platform in platforms:
                for wheel in download_dependency_wheels(wheel_dir, platform):
                    if wheel not in wheels:
                        wheels.append(wheel)
        (stage / "blender_manifest.toml").write_text(staged_manifest(platforms, wheels))
        suffix = "_".join(p.replace("-", "_") for p in platforms) if with_deps else "engine_only"
        target = out_dir / f"planted-{version}-{suffix}.zip"
        temp_zip = target.with_suffix(".zip.tmp")
        with zipfile.ZipFile(temp_zip, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(stage.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(stage).as_posix())
        temp_zip.replace(target)
    for wheel in wheels:
        print(f"  bundled {wheel.name}")
    return target


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{result.stdout}\n{result.stderr}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="folder for the zip (default dist/)")
    parser.add_argument("--platform", action="append", choices=sorted(PLATFORMS),
                        help="Blender platform(s) to bundle wheels for (default linux-x64); repeat for several")
    parser.add_argument("--no-deps", action="store_true",
                        help="bundle only the engine wheel (for environments that already have its dependencies)")
    args = parser.parse_args(argv)
    target = build(args.out, args.platform or ["linux-x64"], with_deps=not args.no_deps)
    print(f"{target} ({target.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
