"""hatch_build.py: the C accelerator is built where a compiler works, and its absence never fails an install."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _hook():
    spec = importlib.util.spec_from_file_location("lslacq_hatch_build", ROOT / "hatch_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wheel(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, list[Path]]:
    out = tmp_path / "wheels"
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(out), str(ROOT)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600, env=dict(os.environ, **env))
    if proc.returncode != 0 and "hatchling" in proc.stderr and "No matching distribution" in proc.stderr:
        pytest.skip("pip cannot get hatchling here (no package index)")
    return proc, sorted(out.glob("*.whl"))


def test_the_module_is_skipped_when_turned_off_and_built_from_the_source_it_names(tmp_path, monkeypatch):
    hook = _hook()
    monkeypatch.setenv("LSLACQ_NO_EXT", "1")
    assert hook.skip_reason() == "LSLACQ_NO_EXT=1"
    monkeypatch.setenv("LSLACQ_NO_EXT", "0")
    assert hook.skip_reason() == ("" if sys.platform.startswith("linux") else f"not on Linux ({sys.platform})")
    monkeypatch.setenv("CC", "false")  # a compiler that fails: an error the hook turns into a warning
    with pytest.raises(subprocess.CalledProcessError):
        hook.compile_extension(ROOT, tmp_path / "x.so")
    assert not (tmp_path / "x.so").exists() and not (tmp_path / "x.so.partial").exists()


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the accelerator is built on Linux only")
def test_a_wheel_without_a_working_compiler_is_pure_python_and_says_why(tmp_path):
    proc, wheels = _wheel(tmp_path, CC="false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(wheels) == 1 and wheels[0].name.endswith("-py3-none-any.whl"), wheels
    assert "C accelerator not built" in proc.stdout + proc.stderr
    with zipfile.ZipFile(wheels[0]) as wheel:
        assert not [n for n in wheel.namelist() if n.endswith(".so")]
