"""The add-on as Blender sees it: registration, the extension zip built, checked, installed and enabled (real bpy:
5.0.1 in .venv, 4.2 and 4.5 LTS in the venvs of `scripts/setup.sh --blender`)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib

import bpy
import pytest

import blender_addon
from blender_addon import operators, panels, properties
from tests.blender_support import ROOT, fresh_scene  # noqa: F401  (autouse fixture)

OPERATOR_CLASSES = [cls for module in operators._MODULES for cls in module.classes]


def _registered_state() -> dict:
    return {
        "scene_property": hasattr(bpy.types.Scene, "planted"),
        "classes": sorted(
            c.__name__ for c in (*properties.classes, *OPERATOR_CLASSES, *panels.classes) if c.is_registered
        ),
        "operators": sorted(name for name in dir(bpy.ops.planted) if not name.startswith("_")
                            and _op_registered(name)),
    }


def _op_registered(name: str) -> bool:
    try:
        getattr(bpy.ops.planted, name).get_rna_type()
        return True
    except KeyError:
        return False


def test_register_unregister_twice_leaves_nothing():
    before = _registered_state()
    assert before == {"scene_property": False, "classes": [], "operators": []}
    for _ in range(2):
        blender_addon.register()
        state = _registered_state()
        assert state["scene_property"]
        assert len(state["classes"]) == len(properties.classes) + len(OPERATOR_CLASSES) + len(panels.classes)
        assert {"capture", "import_motion", "retarget", "bone_map_detect", "export_fbx", "export_bvh"} <= set(
            state["operators"]
        )
        settings = bpy.context.scene.planted
        assert settings.device == "auto" and settings.foot_lock
        blender_addon.unregister()
        assert _registered_state() == before


def test_panels_refer_to_registered_operators():
    ids = {cls.bl_idname for cls in OPERATOR_CLASSES}
    source = (ROOT / "blender_addon" / "panels.py").read_text()
    assert "bl_idname" in source and '"planted.' not in source  # by Op.bl_idname, never string literals
    for panel in panels.classes:
        if hasattr(panel, "bl_category"):
            assert panel.bl_category == "Planted" and panel.bl_space_type == "VIEW_3D"
    assert all(i.startswith("planted.") for i in ids)


def test_manifest_fields():
    manifest = tomllib.loads((ROOT / "blender_addon" / "blender_manifest.toml").read_text())
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert manifest["id"] == "planted"
    assert manifest["version"] == pyproject["project"]["version"]
    assert manifest["license"] == ["SPDX:Apache-2.0"]
    assert manifest["blender_version_min"] == "4.2.0"
    assert manifest["permissions"]["files"]
    assert "network" not in manifest["permissions"]


_INSTALL_SCRIPT = textwrap.dedent(
    """
    import sys, bpy
    zip_path = sys.argv[-1]
    result = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default",
                                                      enable_on_install=True)
    assert result == {"FINISHED"}, result
    module = "bl_ext.user_default.planted"
    import engine, os
    print("ENGINE", engine.__file__)
    site = os.path.dirname(os.path.dirname(engine.__file__))
    print("SITE", " ".join(sorted(os.listdir(site))))
    for round in range(2):
        assert module in bpy.context.preferences.addons, "not enabled"
        assert hasattr(bpy.types.Scene, "planted")
        assert bpy.ops.planted.capture.get_rna_type() is not None
        bpy.ops.preferences.addon_disable(module=module)
        assert not hasattr(bpy.types.Scene, "planted")
        assert not hasattr(bpy.types, "PLANTED_OT_capture")
        if round == 0:
            bpy.ops.preferences.addon_enable(module=module)
    print("OK")
    """
)


def _install_in_fresh_blender(zip_path, tmp_path):
    script = tmp_path / "install.py"
    script.write_text(_INSTALL_SCRIPT)
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "blender_user"))
    env.pop("PYTHONPATH", None)
    # Run outside the repository so that `engine` can only come from the extension's wheel.
    return subprocess.run([sys.executable, str(script), str(zip_path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def _build(tmp_path, *flags):
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--out", str(tmp_path),
                          *flags], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr + out.stdout
    (zip_path,) = tmp_path.glob("planted-*.zip")
    return zip_path


def test_extension_zip_installs_enables_and_disables_twice(tmp_path):
    zip_path = _build(tmp_path, "--no-deps")
    run = _install_in_fresh_blender(zip_path, tmp_path)
    assert run.returncode == 0 and "OK" in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]
    engine_file = next(line for line in run.stdout.splitlines() if line.startswith("ENGINE")).split(" ", 1)[1]
    assert engine_file.startswith(str(tmp_path / "blender_user")), engine_file


@pytest.mark.slow
def test_full_extension_zip_bundles_dependency_wheels_and_installs(tmp_path):
    zip_path = _build(tmp_path)  # downloads scipy, opencv, onnxruntime, ... wheels for linux-x64
    import zipfile

    names = zipfile.ZipFile(zip_path).namelist()
    wheels = [n for n in names if n.startswith("wheels/")]
    for package in ("planted_engine", "scipy", "opencv_python_headless", "onnxruntime", "tqdm"):
        assert any(w.split("/")[1].startswith(package) for w in wheels), (package, wheels)
    assert not any(w.split("/")[1].startswith("numpy") for w in wheels)  # Blender ships numpy
    run = _install_in_fresh_blender(zip_path, tmp_path)
    assert run.returncode == 0 and "OK" in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]
    # While enabled, Blender had unpacked every bundled wheel into the extensions' site-packages.
    site = next(line for line in run.stdout.splitlines() if line.startswith("SITE")).split()[1:]
    assert {"engine", "onnxruntime", "cv2", "scipy", "tqdm"} <= set(site), site
    assert "numpy" not in site


def _check_zip(zip_path):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--check", str(zip_path)],
                          capture_output=True, text=True, timeout=120)


def _rewrite_zip(source, target, manifest_edit, extra_wheels=()):
    """A copy of zip `source` with its manifest passed through `manifest_edit` and (empty) wheels added."""
    import zipfile

    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as out:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "blender_manifest.toml":
                data = manifest_edit(data.decode()).encode()
            out.writestr(item, data)
        for wheel in extra_wheels:
            out.writestr(f"wheels/{wheel}", b"")
    return target


def test_zip_check_finds_wheels_that_do_not_fit_the_manifest_or_platform(tmp_path):
    zip_path = _build(tmp_path, "--no-deps")
    good = _check_zip(zip_path)
    assert good.returncode == 0 and "wheels match the manifest and linux-x64" in good.stdout, good.stdout
    windows = "scipy-1.17.1-cp311-cp311-win_amd64.whl"
    mac = "scipy-1.17.1-cp311-cp311-macosx_14_0_arm64.whl"

    def listing(*wheels):
        lines = "".join(f'  "./wheels/{w}",\n' for w in wheels)
        return lambda text: text.replace("wheels = [\n", "wheels = [\n" + lines)

    cases = {
        "unlisted": (lambda text: text, [windows], f"wheels/{windows} is in the zip but not in the manifest"),
        "missing": (listing(windows), [], f"wheels/{windows} is in the manifest but not in the zip"),
        "wrong platform": (listing(windows), [windows], f"wheels/{windows} does not load on linux-x64"),
        "wrong python": (listing("x-1-cp312-cp312-manylinux_2_28_x86_64.whl"),
                         ["x-1-cp312-cp312-manylinux_2_28_x86_64.whl"], "is not built for CPython 3.11"),
        "one platform short": (
            lambda text: listing(windows)(text.replace('platforms = ["linux-x64"]',
                                                       'platforms = ["windows-x64", "macos-arm64"]')),
            [windows], "no scipy wheel for macos-arm64"),
    }
    for case, (edit, extra, message) in cases.items():
        bad = _check_zip(_rewrite_zip(zip_path, tmp_path / f"{case.replace(' ', '_')}.zip", edit, extra))
        assert bad.returncode == 1 and message in bad.stdout, (case, bad.stdout + bad.stderr)
    both = _rewrite_zip(zip_path, tmp_path / "both.zip", lambda text: listing(windows, mac)(
        text.replace('platforms = ["linux-x64"]', 'platforms = ["windows-x64", "macos-arm64"]')), [windows, mac])
    fine = _check_zip(both)
    assert fine.returncode == 0 and "(macOS 14.0 or newer)" in fine.stdout, fine.stdout


@pytest.mark.slow
@pytest.mark.parametrize("platforms", [("windows-x64",), ("macos-arm64",), ("windows-x64", "macos-arm64")])
def test_windows_and_macos_zips_bundle_wheels_for_their_platform(tmp_path, platforms):
    """Built for real (pip downloads each platform's wheels); not installed: no Windows or macOS Blender here."""
    import zipfile

    zip_path = _build(tmp_path, *[arg for p in platforms for arg in ("--platform", p)])
    manifest = tomllib.loads(zipfile.ZipFile(zip_path).read("blender_manifest.toml").decode())
    assert manifest["platforms"] == list(platforms)
    wheels = [w.split("/")[-1] for w in manifest["wheels"]]
    for platform, tag in (("windows-x64", "win_amd64"), ("macos-arm64", "macosx_")):
        for package in ("scipy", "opencv_python_headless", "onnxruntime"):
            found = [w for w in wheels if w.startswith(package + "-") and tag in w]
            assert bool(found) == (platform in platforms), (platform, package, wheels)
    assert not any("manylinux" in w for w in wheels) and not any(w.startswith("numpy") for w in wheels)
    check = _check_zip(zip_path)
    assert check.returncode == 0 and "wheels match the manifest" in check.stdout, check.stdout
