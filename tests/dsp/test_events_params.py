"""Event dtype helpers and the Params mapping."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from lslacq.dsp.events import (
    EVENT_DTYPE,
    EVENT_STREAM_SPEC,
    as_event_indexes,
    event_labels,
    is_event_dtype,
    make_events,
)
from lslacq.dsp.params import Param, Params


def test_make_events_fields_and_labels():
    ev = make_events([5, 9], type="Stimulus", description=["S  1", ""], code=[1, 2], channel=3)
    assert ev.dtype == EVENT_DTYPE and EVENT_DTYPE.itemsize == 72
    assert ev["index"].tolist() == [5, 9]
    assert ev["code"].tolist() == [1, 2] and ev["channel"].tolist() == [3, 3] and ev["duration"].tolist() == [0, 0]
    assert event_labels(ev) == ["S  1", "Stimulus"]
    assert event_labels(make_events([1], code=7)) == ["7"]
    assert np.dtype(EVENT_STREAM_SPEC["dtype"]) == EVENT_DTYPE
    assert is_event_dtype(EVENT_DTYPE) and not is_event_dtype("int64")
    # the dtype survives a round trip through raw bytes (how streams carry it)
    back = np.frombuffer(ev.tobytes(), dtype=np.dtype(EVENT_STREAM_SPEC["dtype"]))
    np.testing.assert_array_equal(back, ev)


def test_make_events_rejects_bad_values():
    with pytest.raises(ValueError, match="longer than 16 bytes"):
        make_events([1], type="x" * 17)
    with pytest.raises(ValueError, match="2 items but there are 1 indexes"):
        make_events([1], description=["a", "b"])


def test_as_event_indexes_accepts_both_forms():
    assert as_event_indexes(make_events([3, 4])).tolist() == [3, 4]
    assert as_event_indexes(np.array([7], dtype=np.uint32)).tolist() == [7]
    pyacq_markers = np.zeros(2, dtype=[("pos", "i8"), ("points", "i8"), ("type", "S16")])
    pyacq_markers["pos"] = [11, 12]
    assert as_event_indexes(pyacq_markers).tolist() == [11, 12] and is_event_dtype(pyacq_markers.dtype)
    with pytest.raises(ValueError, match="no 'index' field"):
        as_event_indexes(np.zeros(2, dtype=[("sample", "i8")]))


def _params():
    return Params(
        [
            Param("threshold", 0.0, float),
            Param("front", "+", str, choices=("+", "-")),
            Param("channel", 0, int, limits=(0, 7)),
        ],
        owner="trig",
    )


def test_params_validate_before_applying_and_notify():
    p = _params()
    seen = []
    p.connect(lambda k, v: seen.append((k, v)))
    p["threshold"] = 2
    assert p["threshold"] == 2.0 and isinstance(p["threshold"], float)
    with pytest.raises(ValueError, match=r"trig.params\['front'\] = 'x' is not allowed"):
        p["front"] = "x"
    with pytest.raises(ValueError, match=r"out of range \[0, 7\]"):
        p["channel"] = 8
    with pytest.raises(TypeError, match="must be an int"):
        p["channel"] = 1.5
    with pytest.raises(KeyError, match="no parameter 'thresold'"):
        p["thresold"] = 1
    # update() is all-or-nothing
    with pytest.raises(ValueError, match=r"out of range \[0, 7\]"):
        p.update(threshold=5.0, channel=99)
    assert p["threshold"] == 2.0
    assert seen == [("threshold", 2.0)]
    assert dict(p) == {"threshold": 2.0, "front": "+", "channel": 0}
    with pytest.raises(TypeError, match="cannot be deleted"):
        del p["front"]


def test_params_thread_safety_snapshot():
    p = _params()
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            p.update(threshold=float(i), channel=i % 8)
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        for _ in range(2000):
            snap = p.snapshot()
            assert int(snap["threshold"]) % 8 == snap["channel"]
    finally:
        stop.set()
        t.join(timeout=10)


@pytest.mark.slow
def test_importing_lslacq_dsp_loads_no_scipy_qt_or_pylsl():
    import subprocess
    import sys

    code = (
        "import sys, lslacq, lslacq.dsp; from lslacq.dsp import EVENT_DTYPE, make_events; "
        "bad = [m for m in ('scipy', 'PySide6', 'pyqtgraph', 'pylsl') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_event_dtype_lives_in_the_stream_layer_and_old_paths_reexport_it():
    """Issue 12 part 3: the event dtype belongs to core.stream (devices and bridges use it)."""
    import lslacq.core.stream.events as home
    import lslacq.dsp
    import lslacq.dsp.events as old

    for name in (
        "EVENT_DTYPE",
        "EVENT_STREAM_SPEC",
        "make_events",
        "as_event_indexes",
        "event_labels",
        "is_event_dtype",
    ):
        assert getattr(old, name) is getattr(home, name)
    assert lslacq.dsp.EVENT_DTYPE is home.EVENT_DTYPE and lslacq.dsp.make_events is home.make_events
