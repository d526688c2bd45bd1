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
    with pytest.raises(AttributeError, match="NoSuchThing"):
        lslacq.NoSuchThing  # noqa: B018


@pytest.mark.slow
def test_manual_1_1_subpackages_resolve_after_bare_import():
    """From the pyacq manual 1.1: ``pyacq.devices.PyAudio()`` after a bare ``import pyacq``; still lazy."""
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


@pytest.mark.slow
def test_no_module_outside_the_viewers_imports_qt():
    """Issue 13: Qt is imported only inside lslacq.viewers (and lslacq.core.rpc.qt, the Qt RPC server).

    Every other module of lslacq, the LSL bridge and the dareplane bridge imports without loading a Qt binding.
    """
    code = (
        "import importlib, pkgutil, sys\n"
        "import lslacq, lslacq_lsl, lslacq_dareplane\n"
        "QT = ('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph')\n"
        "skip = ('lslacq.viewers', 'lslacq.core.rpc.qt')\n"
        "names = []\n"
        "for pkg in (lslacq, lslacq_lsl, lslacq_dareplane):\n"
        "    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        if info.name.startswith(skip) or info.name.rsplit('.', 1)[-1] == '__main__':\n"
        "            continue\n"
        "        importlib.import_module(info.name)\n"
        "        names.append(info.name)\n"
        "        loaded = sorted(m for m in sys.modules if m.split('.')[0] in QT)\n"
        "        if loaded:\n"
        "            print('QT', info.name, ','.join(loaded[:3]))\n"
        "            break\n"
        "print('imported', len(names))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "QT " not in out.stdout, out.stdout
    assert int(out.stdout.split()[-1]) > 80  # the walk really visited the package tree
