"""liblsl's own log lines: quiet for the ``lslacq`` command unless asked for with -v."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TEST_CONFIG = Path(__file__).with_name("lsl_api.cfg")


def config_without_log_section(tmp_path: Path, extra: str = "") -> Path:
    text = TEST_CONFIG.read_text().split("[log]")[0] + extra
    path = tmp_path / "lsl_api.cfg"
    path.write_text(text)
    return path


def run_lsl_list(config: Path, *flags: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "LSLACQ_LIBLSL_LOG_LEVEL"}
    env["LSLAPICFG"] = str(config)
    proc = subprocess.run(
        [sys.executable, "-m", "lslacq.cli", *flags, "lsl", "list", "--wait", "0.2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("verbose", [False, True])
def test_liblsl_info_lines_only_with_verbose(tmp_path, verbose):
    stderr = run_lsl_list(config_without_log_section(tmp_path), *(["-v"] if verbose else []))
    if verbose:
        assert "Configuration loaded from content" in stderr
    else:
        assert "INFO|" not in stderr and "api_config" not in stderr, stderr


@pytest.mark.slow
def test_user_log_section_wins(tmp_path):
    stderr = run_lsl_list(config_without_log_section(tmp_path, "[log]\nlevel = 0\n"))
    assert "INFO|" in stderr  # the user asked liblsl for its INFO lines in their own file
