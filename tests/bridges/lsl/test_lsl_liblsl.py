"""ChunkPuller / ChunkPusher: the prototyped liblsl calls behind the bridges and the StreamWatcher."""

from __future__ import annotations

import numpy as np
import pytest
from lsl_helpers import ramp, wait_until

pylsl = pytest.importorskip("pylsl")

from lslacq_lsl._liblsl import ChunkPuller, ChunkPusher  # noqa: E402


def _pair(name, fmt, n_ch=3, srate=100.0):
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EEG", n_ch, srate, fmt, name))
    info = pylsl.resolve_byprop("source_id", name, timeout=10)[0]
    inlet = pylsl.StreamInlet(info, processing_flags=pylsl.proc_none)
    inlet.open_stream(timeout=10)
    return outlet, inlet


@pytest.mark.parametrize("fmt", ["float32", "double64", "int32", "int16", "int8"])
def test_pushed_chunk_is_pulled_back_with_derived_timestamps(unique_name, fmt):
    outlet, inlet = _pair(unique_name, fmt)
    pusher, puller = ChunkPusher(outlet, fmt), ChunkPuller(inlet, 3, fmt)
    dtype = {"float32": "float32", "double64": "float64", "int32": "int32", "int16": "int16", "int8": "int8"}[fmt]
    sent = np.arange(60).reshape(20, 3).astype(dtype)  # distinct values that fit every format
    pusher.push(np.ascontiguousarray(sent), timestamp=1000.0)
    wait_until(lambda: puller.available() >= 20, what="20 samples queued")
    data, ts = np.zeros((32, 3), dtype), np.zeros(32)
    n = puller.pull_array(data, ts, 5)  # into rows 5.. of the buffers
    assert n == 20
    np.testing.assert_array_equal(data[5:25], sent)
    np.testing.assert_allclose(ts[5:25], 1000.0 - np.arange(19, -1, -1) / 100.0, atol=1e-9)
    assert not data[:5].any() and not ts[:5].any()
    assert puller.available() == 0 and puller.pull_array(data, ts) == 0


def test_push_stamped_gives_every_sample_its_timestamp(unique_name):
    outlet, inlet = _pair(unique_name, "float32", n_ch=2, srate=0.0)
    pusher, puller = ChunkPusher(outlet, pylsl.cf_float32), ChunkPuller(inlet, 2, pylsl.cf_float32)
    times = [5.0, 5.5, 7.25]
    pusher.push_stamped(ramp(3, 2), times)  # a list is fine: made a float64 array
    wait_until(lambda: puller.available() >= 3, what="3 samples queued")
    data, ts = np.zeros((3, 2), "float32"), np.zeros(3)
    assert puller.pull_array(data, ts) == 3
    np.testing.assert_array_equal(ts, times)
    with pytest.raises(ValueError, match="3 samples but 2 timestamps"):
        pusher.push_stamped(ramp(3, 2), times[:2])


def test_string_streams_can_be_counted_but_not_pulled_as_numbers(unique_name):
    outlet, inlet = _pair(unique_name, "string", n_ch=1, srate=0.0)
    puller = ChunkPuller(inlet, 1, "string")
    outlet.push_sample(["hello"])
    wait_until(lambda: puller.available() >= 1, what="a marker queued")
    with pytest.raises(TypeError, match="string streams"):
        puller.pull_into(0, 0, 1)
    with pytest.raises(ValueError, match="no numeric liblsl chunk functions for channel format 'string'"):
        ChunkPusher(outlet, "string")
