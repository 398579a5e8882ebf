"""Build the Blender extension zip: the add-on, the engine as a wheel, and the engine's dependencies as wheels.

    .venv/bin/python scripts/build_extension.py [--out dist] [--platform linux-x64 ...] [--no-deps]
    .venv/bin/python scripts/build_extension.py --check dist/planted-0.1.0-windows_x64.zip

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

Every zip is checked before it is written (and `--check ZIP` checks one already built): the manifest's
wheel list is exactly the zip's wheels/, its platforms are the ones built, each wheel installs on
CPython 3.11 on one of those platforms, and each platform gets one wheel of every bundled package.
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
from dataclasses import dataclass
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
# The oldest glibc Blender 4.2+ runs on (VFX reference platform CY2024): newer manylinux wheels would not load.
MAX_GLIBC = (2, 28)
# Legacy manylinux names and the glibc they stand for.
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


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
        check = check_zip(temp_zip)
        if check.problems:
            temp_zip.unlink()
            raise SystemExit(describe_check(target, check))
        temp_zip.replace(target)
    for wheel in wheels:
        print(f"  bundled {wheel.name}")
    return target


@dataclass(frozen=True)
class ZipCheck:
    """What `check_zip` found: the platforms, one line per problem (none: the zip is consistent), and the
    oldest macOS release its wheels load on (None without macOS wheels)."""

    platforms: tuple[str, ...]
    problems: tuple[str, ...]
    macos_min: tuple[int, int] | None


def wheel_tags(filename: str) -> tuple[str, set[str], set[str], set[str]]:
    """(distribution, python tags, abi tags, platform tags) of a wheel file name (PEP 427; dotted tags split)."""
    parts = filename[: -len(".whl")].split("-")
    if not filename.endswith(".whl") or len(parts) not in (5, 6):
        raise ValueError(f"{filename} is not a wheel file name")
    python, abi, platform = parts[-3:]
    return parts[0].lower().replace("_", "-"), set(python.split(".")), set(abi.split(".")), set(platform.split("."))


def _runs_on_cpython(pythons: set[str], abis: set[str]) -> bool:
    """Whether a wheel with these tags loads in Blender's CPython 3.11."""
    minor = int(PYTHON_VERSION.split(".")[1])
    if abis & {"none"} and pythons & {"py3", f"py3{minor}", f"cp3{minor}"}:
        return True
    if f"cp3{minor}" in abis and f"cp3{minor}" in pythons:
        return True
    stable = [int(p[3:]) for p in pythons if re.fullmatch(r"cp3\d+", p)]
    return "abi3" in abis and any(v <= minor for v in stable)


def _platform_fits(tag: str, platform: str) -> tuple[bool, tuple[int, int] | None]:
    """Whether wheel platform `tag` loads on Blender `platform`, and the macOS release it needs (if any)."""
    if tag == "any":
        return True, None
    if platform == "linux-x64":
        match = re.fullmatch(r"manylinux_(\d+)_(\d+)_x86_64", tag)
        legacy = re.fullmatch(r"(manylinux\w+?)_x86_64", tag)
        glibc = (int(match[1]), int(match[2])) if match else _LEGACY_MANYLINUX.get(legacy[1]) if legacy else None
        return glibc is not None and glibc <= MAX_GLIBC, None
    if platform == "windows-x64":
        return tag == "win_amd64", None
    if platform == "macos-arm64":
        match = re.fullmatch(r"macosx_(\d+)_(\d+)_(arm64|universal2)", tag)
        return (True, (int(match[1]), int(match[2]))) if match else (False, None)
    raise ValueError(f"unknown Blender platform {platform}")


def check_zip(zip_path: Path) -> ZipCheck:
    """Check a built extension zip: manifest against contents, wheels against the manifest's platforms."""
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        manifest = tomllib.loads(archive.read("blender_manifest.toml").decode())
    platforms = tuple(manifest.get("platforms", ()))
    problems = [f"unknown platform {p} in the manifest" for p in platforms if p not in PLATFORMS]
    platforms = tuple(p for p in platforms if p in PLATFORMS)
    in_zip = {n for n in names if n.startswith("wheels/") and n.endswith(".whl")}
    listed = {w.removeprefix("./") for w in manifest.get("wheels", ())}
    problems += [f"{w} is in the zip but not in the manifest" for w in sorted(in_zip - listed)]
    problems += [f"{w} is in the manifest but not in the zip" for w in sorted(listed - in_zip)]
    usable: dict[str, set[str]] = {p: set() for p in platforms}
    macos_min = None
    distributions = set()
    for wheel in sorted(in_zip & listed):
        name, pythons, abis, tags = wheel_tags(wheel.split("/")[-1])
        distributions.add(name)
        if not _runs_on_cpython(pythons, abis):
            problems.append(f"{wheel} is not built for CPython {PYTHON_VERSION}")
            continue
        fits = False
        for platform in platforms:
            found = [_platform_fits(tag, platform) for tag in tags]
            if any(ok for ok, _ in found):
                fits = True
                usable[platform].add(name)
                needs = min((m for ok, m in found if ok and m is not None), default=None)
                if needs is not None:
                    macos_min = max(macos_min or needs, needs)
        if not fits:
            problems.append(f"{wheel} does not load on {', '.join(platforms) or 'any listed platform'}")
    for platform in platforms:
        problems += [f"no {name} wheel for {platform}" for name in sorted(distributions - usable[platform])]
    return ZipCheck(platforms, tuple(problems), macos_min)


def describe_check(zip_path: Path, check: ZipCheck) -> str:
    """One line for a consistent zip, or the problems."""
    if check.problems:
        return f"{zip_path.name}: " + "; ".join(check.problems)
    line = f"{zip_path.name}: wheels match the manifest and {', '.join(check.platforms)}"
    if check.macos_min is not None:
        line += f" (macOS {check.macos_min[0]}.{check.macos_min[1]} or newer)"
    return line


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
    parser.add_argument("--check", type=Path, metavar="ZIP",
                        help="only check a built zip's wheels against its manifest and platforms")
    args = parser.parse_args(argv)
    if args.check:
        if not args.check.is_file():
            parser.error(f"--check: no such zip file: {args.check}")
        check = check_zip(args.check)
        print(describe_check(args.check, check))
        return 1 if check.problems else 0
    target = build(args.out, args.platform or ["linux-x64"], with_deps=not args.no_deps)
    print(describe_check(target, check_zip(target)))
    print(f"{target} ({target.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
