"""`import lslacq` is light: no Qt, pyqtgraph or pylsl, and every public name resolves."""

import subprocess
import sys

import pytest

import lslacq

HEAVY = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "pylsl", "lslacq_lsl", "lslacq_dareplane")


@pytest.mark.slow
def test_import_loads_no_qt_pyqtgraph_or_pylsl():
    code = (
        "import sys, lslacq, lslacq.core.stream, lslacq.core.node, lslacq.core.tools\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "", f"import lslacq pulled in: {out.stdout.strip()}"


def test_every_public_name_resolves():
    for name in lslacq.__all__:
        assert getattr(lslacq, name) is not None, name


def test_unknown_attribute_is_a_clear_attribute_error():
    try:
        lslacq.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


@pytest.mark.slow
def test_manual_1_1_subpackages_resolve_after_bare_import():
    """pyacq manual 1.1: ``pyacq.devices.PyAudio()`` after a bare ``import pyacq``; still lazy."""
    code = (
        "import sys, lslacq\n"
        "subs = ('core', 'devices', 'dsp', 'rec', 'viewers')\n"
        "before = [s for s in subs if 'lslacq.' + s in sys.modules]\n"
        "mods = [getattr(lslacq, s) for s in subs]\n"
        "assert [m.__name__ for m in mods] == ['lslacq.' + s for s in subs], mods\n"
        "assert lslacq.core.stream.RingBuffer is lslacq.RingBuffer\n"
        "assert lslacq.core.rpc.RPCClient is lslacq.RPCClient\n"
        "print(','.join(before))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"import lslacq imported sub-packages eagerly: {out.stdout.strip()}"
    for sub in ("core", "devices", "dsp", "rec", "viewers"):
        assert sub in dir(lslacq)
