"""lslacq.rec stays light: no MNE, pyxdf, PyAV or pylsl until a feature needs them."""

import subprocess
import sys

import pytest

HEAVY = ("mne", "pyxdf", "av", "pylsl", "scipy")


@pytest.mark.slow
def test_importing_the_recording_modules_loads_no_optional_library():
    code = (
        "import sys, lslacq.rec as rec\n"
        "from lslacq.rec import rawrecorder, reader, replay, xdf_replay, avirecorder, sources, layout\n"
        "names = [rec.RawRecorder, rec.read_recording, rec.FileReplay, rec.XdfReplay, rec.AviRecorder]\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_node_types_are_registered_through_entry_points():
    from lslacq.core.registry import get_node_type
    from lslacq.rec import AviRecorder, FileReplay, RawRecorder, XdfReplay

    for cls in (RawRecorder, AviRecorder, FileReplay, XdfReplay):
        assert get_node_type(cls.__name__) is cls  # so nodegroup.create_node("RawRecorder") works remotely
