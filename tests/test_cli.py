import subprocess
import sys

from engine import __version__


def _planted(*args):
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True)


def test_version():
    out = _planted("--version")
    assert out.returncode == 0 and __version__ in out.stdout


def test_info_lists_providers_and_body_model():
    out = _planted("info")
    assert out.returncode == 0, out.stderr
    assert "CPUExecutionProvider" in out.stdout
    assert "body model" in out.stdout
