"""DESIGN.md's import rules: engine never imports bpy or torch; the add-on never imports torch/training."""

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "engine": {"bpy", "torch", "training", "blender_addon", "smplx"},
    "blender_addon": {"torch", "training", "smplx"},
    "training": {"bpy", "blender_addon"},
}


def _imported_top_level_names(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_packages_respect_import_rules():
    violations = []
    for package, forbidden in FORBIDDEN.items():
        for path in (ROOT / package).rglob("*.py"):
            if "wheels" in path.parts:
                continue
            bad = _imported_top_level_names(path) & forbidden
            if bad:
                violations.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not violations, "\n".join(violations)


def test_engine_imports_with_bpy_and_torch_unavailable():
    # Make `import bpy` / `import torch` fail, then import every engine module.
    code = """
import sys, pkgutil, importlib
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('bpy', 'torch', 'smplx'):
            raise ImportError('blocked ' + name)
sys.meta_path.insert(0, Block())
import engine
for mod in pkgutil.walk_packages(engine.__path__, 'engine.'):
    importlib.import_module(mod.name)
print('ok')
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr
