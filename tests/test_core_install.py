"""A core-only install (``pip install -e .`` in a fresh venv: numpy, pyzmq, msgpack, psutil and nothing else)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE_DEPS = ["numpy", "pyzmq", "msgpack", "psutil", *(["tomli"] if sys.version_info < (3, 11) else [])]


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory):
    """A fresh virtual environment with lslacq installed without extras.

    Skipped when pip cannot get the core packages: no package index and nothing in pip's cache.
    """
    venv = tmp_path_factory.mktemp("core-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    for args in ([*CORE_DEPS], ["--no-deps", "-e", str(ROOT)]):
        proc = subprocess.run([*pip, *args], capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            pytest.skip(f"pip cannot install {args} here (offline, no cache?): {proc.stderr.strip()[-300:]}")
    return venv


def run(venv: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [str(venv / "bin" / "lslacq"), *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=venv
    )


@pytest.mark.slow
def test_core_only_install_runs_help_quietly_and_names_the_extra_the_demo_needs(core_venv):
    check = subprocess.run([str(core_venv / "bin" / "python"), "-c", "import pylsl"], capture_output=True)
    assert check.returncode != 0, "the fresh venv must not see the test environment's pylsl"
    help_ = run(core_venv, "--help")
    assert help_.returncode == 0 and help_.stderr == "", help_.stderr
    assert "demo" in help_.stdout and "graph-demo" in help_.stdout
    demo = run(core_venv, "demo", "--duration", "1")
    assert demo.returncode == 1
    assert demo.stderr == "lslacq demo needs pylsl, from the 'lsl' extra: pip install 'lslacq[lsl]'\n"
    bridge = run(core_venv, "bridge", "audio")
    assert bridge.returncode == 1 and bridge.stderr.count("pip install 'lslacq[lsl]'") == 1
    types = run(core_venv, "check", "--types")
    assert types.returncode == 0 and types.stderr == "" and "NumpyDeviceBuffer" in types.stdout
    check = run(core_venv, "check", str(ROOT / "examples" / "graphs" / "demo.toml"))
    assert check.returncode == 2
    assert (
        "demo.toml:20: node 'eeg_outlet': LslOutlet needs pylsl, from the 'lsl' extra: pip install 'lslacq[lsl]'"
        in check.stderr
        and "Traceback" not in check.stderr
    )
    graph_demo = run(core_venv, "graph-demo", "--duration", "1", "--channels", "2", timeout=120)
    assert graph_demo.returncode == 0, graph_demo.stderr  # the core works on its own
    assert "lost 0 samples" in graph_demo.stdout
