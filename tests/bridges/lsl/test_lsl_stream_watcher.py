"""StreamWatcher: same contents as dareplane-utils' StreamWatcher on the same outlet, plus the fixes."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from lsl_helpers import ramp, wait_until

pylsl = pytest.importorskip("pylsl")
dp_watcher = pytest.importorskip("dareplane_utils.stream_watcher.lsl_stream_watcher")

from lslacq.errors import StreamTimeoutError  # noqa: E402
from lslacq_lsl import StreamWatcher, StreamWatcherNotConnected  # noqa: E402
from lslacq_lsl.resolve import resolve_stream  # noqa: E402


def _dareplane(name, **kwargs):
    """dareplane-utils' StreamWatcher, connected and subscribed.

    Its connect_to_stream() subscribes lazily (the first pull_chunk opens the stream in the background),
    so samples pushed right after it can be missed; open the stream synchronously as ours does.
    """
    sw = dp_watcher.StreamWatcher(name, **kwargs)
    sw.connect_to_stream()
    sw.inlet.open_stream(timeout=10)
    return sw


def _push_and_sync(outlet, watchers, data, t0, srate, n_before, counters):
    """Push ``data`` with exact timestamps and update every watcher until it has all of it."""
    times = t0 + (n_before + np.arange(len(data))) / srate
    outlet.push_chunk(data, timestamp=list(times))
    for sw in watchers:

        def done(sw=sw):
            sw.update()
            return counters[id(sw)] + sw.n_new >= n_before + len(data)

        wait_until(done, what=f"{sw!r} to receive {n_before + len(data)} samples")
        counters[id(sw)] += sw.n_new
        sw.n_new = 0


@pytest.mark.slow
@pytest.mark.parametrize(("fmt", "dtype"), [("float32", "float32"), ("int16", "int16"), ("double64", "float64")])
def test_same_buffer_contents_as_dareplane(make_outlet, unique_name, fmt, dtype):
    srate, n_ch = 500.0, 6
    outlet = make_outlet(unique_name, n_channels=n_ch, srate=srate, fmt=fmt, labels=[f"E{i}" for i in range(n_ch)])
    theirs = _dareplane(unique_name, buffer_size_s=1)
    ours = StreamWatcher(unique_name, buffer_size_s=1, clocksync=False)
    ours.connect_to_stream()
    try:
        assert ours.channel_names == theirs.channel_names == [f"E{i}" for i in range(n_ch)]
        assert ours.buffer.shape == theirs.buffer.shape == (500, n_ch)
        assert ours.buffer.dtype == theirs.buffer.dtype == np.dtype(dtype)
        t0 = pylsl.local_clock()
        counters = {id(theirs): 0, id(ours): 0}
        n = 0
        for _ in range(17):  # 17 * 53 = 901 samples: wraps around the 500-sample buffer
            data = ramp(53, n_ch, start=n, dtype="float64") % 30000
            _push_and_sync(outlet, [theirs, ours], data.astype(dtype), t0, srate, n, counters)
            n += 53
            np.testing.assert_array_equal(ours.buffer, theirs.buffer)
            np.testing.assert_array_equal(ours.buffer_t, theirs.buffer_t)
            assert ours.curr_i == theirs.ring_buffer.curr_i == n % 500
        np.testing.assert_array_equal(ours.unfold_buffer(), theirs.unfold_buffer())
        np.testing.assert_array_equal(ours.unfold_buffer_t(), theirs.unfold_buffer_t())
        assert ours.last_t == theirs.ring_buffer.last_t == pytest.approx(t0 + (n - 1) / srate)
        # the dareplane attribute copies are stale; ours are live
        assert theirs.curr_i == 0 and ours.curr_i == n % 500
        expected = (ramp(500, n_ch, start=n - 500, dtype="float64") % 30000).astype(dtype)
        data, t = ours.get_data()
        np.testing.assert_array_equal(data, expected)
        np.testing.assert_allclose(np.diff(t), 1 / srate, rtol=1e-6)
    finally:
        ours.disconnect()
        theirs.disconnect()


@pytest.mark.slow
def test_clocksync_timestamps_match_dareplane_within_a_millisecond(make_outlet, unique_name):
    outlet = make_outlet(unique_name, n_channels=3, srate=200.0)
    theirs = _dareplane(unique_name, buffer_size_s=2)
    ours = StreamWatcher(unique_name, buffer_size_s=2, clocksync=True, dejitter=False)
    ours.connect_to_stream()
    try:
        counters = {id(theirs): 0, id(ours): 0}
        _push_and_sync(outlet, [theirs, ours], ramp(100, 3), pylsl.local_clock(), 200.0, 0, counters)
        np.testing.assert_array_equal(ours.unfold_buffer(), theirs.unfold_buffer())
        np.testing.assert_allclose(ours.unfold_buffer_t(), theirs.unfold_buffer_t(), atol=1e-3, rtol=0)
    finally:
        ours.disconnect()
        theirs.disconnect()


def test_string_markers_match_dareplane(make_outlet, unique_name):
    outlet = make_outlet(unique_name, type="Markers", n_channels=1, srate=0.0, fmt="string")
    theirs = _dareplane(unique_name)
    ours = StreamWatcher(unique_name, clocksync=False)
    ours.connect_to_stream()
    try:
        assert ours.buffer.shape == theirs.buffer.shape == (1000, 1)  # dareplane's irregular default
        markers = [f"stim/{i}" for i in range(7)] + ["ünïcödé", ""]
        t0 = pylsl.local_clock()
        for i, m in enumerate(markers):
            outlet.push_sample([m], t0 + i)
        for sw in (theirs, ours):
            wait_until(lambda sw=sw: (sw.update(), sw.n_new >= len(markers))[1], what="markers")
        k = len(markers)
        assert list(ours.unfold_buffer()[-k:, 0]) == list(theirs.unfold_buffer()[-k:, 0]) == markers
        np.testing.assert_array_equal(ours.unfold_buffer_t()[-k:], theirs.unfold_buffer_t()[-k:])
        data, t = ours.get_data()
        assert data[:, 0].tolist() == markers
        np.testing.assert_array_equal(t, t0 + np.arange(k))
    finally:
        ours.disconnect()
        theirs.disconnect()


@pytest.mark.slow
def test_irregular_numeric_stream_buffer_is_configurable(make_outlet, unique_name):
    outlet = make_outlet(unique_name, type="Events", n_channels=2, srate=0.0, fmt="int32")
    sw = StreamWatcher(unique_name, irregular_buffer_size=16)
    sw.connect_to_stream()
    try:
        assert sw.buffer.shape == (16, 2) and sw.buffer.dtype == np.int32
        for i in range(20):
            outlet.push_sample([i, -i])
        wait_until(lambda: (sw.update(), sw.n_total >= 20)[1])
        data, _ = sw.get_data()
        np.testing.assert_array_equal(data[:, 0], np.arange(4, 20))
        np.testing.assert_array_equal(data[:, 1], -np.arange(4, 20))
    finally:
        sw.disconnect()


@pytest.mark.slow
def test_missing_and_partial_channel_labels_keep_channel_count(make_outlet, unique_name):
    # no desc at all
    make_outlet(unique_name + "-a", n_channels=5, desc=False)
    # desc with only 2 of 5 labelled channels (dareplane-utils sizes its buffer to 2 columns here)
    info = pylsl.StreamInfo(unique_name + "-b", "EEG", 5, 100.0, "float32", unique_name + "-b")
    chans = info.desc().append_child("channels")
    for label in ("Fz", "Cz"):
        chans.append_child("channel").append_child_value("label", label)
    partial = pylsl.StreamOutlet(info)
    # desc without channels (dareplane-utils raises KeyError here)
    info_c = pylsl.StreamInfo(unique_name + "-c", "EEG", 3, 100.0, "float32", unique_name + "-c")
    info_c.desc().append_child("acquisition").append_child_value("manufacturer", "ACME")
    nochan = pylsl.StreamOutlet(info_c)
    try:
        for suffix, n, names in (
            ("-a", 5, [f"ch_{i}" for i in range(1, 6)]),
            ("-b", 5, ["Fz", "Cz", "ch_3", "ch_4", "ch_5"]),
            ("-c", 3, ["ch_1", "ch_2", "ch_3"]),
        ):
            with StreamWatcher(unique_name + suffix) as sw:
                sw.connect_to_stream()
                assert sw.buffer.shape[1] == n
                assert sw.channel_names == names
        with StreamWatcher(unique_name + "-b") as sw:
            sw.connect_to_stream()
            partial.push_chunk(ramp(10, 5))
            wait_until(lambda: (sw.update(), sw.n_total >= 10)[1])
            np.testing.assert_array_equal(sw.get_data()[0], ramp(10, 5))
        assert sw.inlet is None  # the context manager disconnected
        assert sw.get_data()[0].shape == (10, 5)  # data stays readable after disconnect
    finally:
        del partial, nochan


@pytest.mark.slow
def test_connect_times_out_with_a_list_of_visible_streams(make_outlet, unique_name):
    make_outlet(unique_name + "-visible")
    resolve_stream(name=unique_name + "-visible", timeout=10)  # discoverable before we look for the other
    sw = StreamWatcher(unique_name + "-missing", timeout=0.5)
    with pytest.raises(StreamTimeoutError) as err:
        sw.connect_to_stream()
    message = str(err.value)
    assert unique_name + "-missing" in message and unique_name + "-visible" in message
    assert sw.inlet is None


@pytest.mark.slow
def test_identifier_dict_selects_by_type_and_source_id(make_outlet, unique_name):
    make_outlet(unique_name, type="EEG", source_id=unique_name + "-one", n_channels=2)
    make_outlet(unique_name, type="EMG", source_id=unique_name + "-two", n_channels=3)
    sw = StreamWatcher(timeout=5)
    sw.connect_to_stream({"name": unique_name, "source_id": unique_name + "-two"})
    try:
        assert sw.name == unique_name
        assert sw.description.type == "EMG" and sw.buffer.shape[1] == 3
    finally:
        sw.disconnect()
    sw.connect_to_stream({"type": "EEG", "predicate": f"name='{unique_name}'"})
    try:
        assert sw.description.source_id == unique_name + "-one"
    finally:
        sw.disconnect()


def test_update_is_a_no_op_when_empty_and_an_error_before_connect(make_outlet, unique_name):
    sw = StreamWatcher(unique_name)
    with pytest.raises(StreamWatcherNotConnected, match="connect_to_stream"):
        sw.update()
    with pytest.raises(StreamWatcherNotConnected):
        sw.get_data()
    make_outlet(unique_name, n_channels=2)
    sw.connect_to_stream()
    try:
        before = sw.buffer.copy()
        assert sw.update() == 0
        assert sw.n_new == 0 and sw.curr_i == 0 and sw.n_buffered == 0
        np.testing.assert_array_equal(sw.buffer, before)
        assert sw.get_data()[0].shape == (0, 2)
    finally:
        sw.disconnect()


@pytest.mark.slow
def test_latest_window_access_returns_views_until_it_wraps(make_outlet, unique_name):
    outlet = make_outlet(unique_name, n_channels=2, srate=100.0)
    sw = StreamWatcher(unique_name, buffer_size_s=1)
    sw.connect_to_stream()
    try:
        t0 = pylsl.local_clock()
        outlet.push_chunk(ramp(60, 2), timestamp=list(t0 + np.arange(60) / 100))
        wait_until(lambda: (sw.update(), sw.n_total >= 60)[1])
        data, t = sw.get_data(20)
        assert np.shares_memory(data, sw.buffer) and np.shares_memory(t, sw.buffer_t)
        np.testing.assert_array_equal(data, ramp(20, 2, start=40))
        window, tw = sw.get_window(0.095)
        np.testing.assert_array_equal(window, ramp(10, 2, start=50))
        new, _ = sw.get_new()
        assert len(new) == 60 and sw.n_new == 0
        outlet.push_chunk(ramp(70, 2, start=60), timestamp=list(t0 + np.arange(60, 130) / 100))
        wait_until(lambda: (sw.update(), sw.n_total >= 130)[1])
        data, t = sw.get_data(50)  # spans the end and the start of the ring
        assert not np.shares_memory(data, sw.buffer)
        np.testing.assert_array_equal(data, ramp(50, 2, start=80))
        np.testing.assert_allclose(t, t0 + np.arange(80, 130) / 100, atol=1e-3)
        assert sw.get_data(10_000)[0].shape == (100, 2)  # capped at what is buffered
        assert sw.samples.shape == (70, 2)
        np.testing.assert_array_equal(sw.samples, ramp(70, 2, start=60))
    finally:
        sw.disconnect()


def test_constructor_rejects_bad_sizes():
    with pytest.raises(ValueError, match="buffer_size_s"):
        StreamWatcher("x", buffer_size_s=0)
    with pytest.raises(ValueError, match="irregular_buffer_size"):
        StreamWatcher("x", irregular_buffer_size=0)


@pytest.mark.slow
def test_get_new_warns_when_samples_were_overwritten(make_outlet, unique_name, caplog):
    outlet = make_outlet(unique_name, n_channels=1, srate=10.0)
    sw = StreamWatcher(unique_name, buffer_size_s=1)
    sw.connect_to_stream()
    try:
        outlet.push_chunk(ramp(25, 1))
        wait_until(lambda: (sw.update(), sw.n_total >= 25)[1])
        with caplog.at_level(logging.WARNING):
            new, _ = sw.get_new()
        assert "overwritten" in caplog.text
        np.testing.assert_array_equal(new, ramp(10, 1, start=15))
    finally:
        sw.disconnect()


@pytest.mark.slow
def test_module_helpers_match_dareplane(make_outlet, unique_name):
    from lslacq_lsl import get_channel_names, get_streams_names

    make_outlet(unique_name, n_channels=3, labels=["a", "b", "c"])
    assert unique_name in get_streams_names(wait_time=1.0)
    info = pylsl.resolve_byprop("name", unique_name, timeout=10)[0]
    full = pylsl.StreamInlet(info).info(timeout=10)
    assert get_channel_names(full) == dp_watcher.get_channel_names(full) == ["a", "b", "c"]


@pytest.mark.slow
def test_keeps_receiving_when_the_outlet_restarts_with_the_same_source_id(unique_name):
    import gc

    def new_outlet():
        return pylsl.StreamOutlet(pylsl.StreamInfo(unique_name, "EEG", 2, 100.0, "float32", unique_name + "-sid"))

    outlet = new_outlet()
    sw = StreamWatcher(unique_name, buffer_size_s=2)
    sw.connect_to_stream()
    try:
        outlet.push_chunk(ramp(10, 2))
        wait_until(lambda: (sw.update(), sw.n_total >= 10)[1])
        del outlet
        gc.collect()
        outlet = new_outlet()

        def received_again():
            outlet.push_chunk(ramp(5, 2, start=10))
            sw.update()
            return sw.n_total > 10

        wait_until(received_again, timeout=60, interval=0.2, what="data from the restarted outlet")
        np.testing.assert_array_equal(sw.get_data(sw.n_total)[0][:10], ramp(10, 2))
        np.testing.assert_array_equal(sw.get_data(sw.n_total)[0][10:15], ramp(5, 2, start=10))
    finally:
        sw.disconnect()


@pytest.mark.slow
def test_dropping_the_inlet_as_dareplane_code_does_disconnects(make_outlet, unique_name):
    outlet = make_outlet(unique_name, n_channels=2)
    sw = StreamWatcher(unique_name)
    sw.connect_to_stream()
    outlet.push_chunk(np.ones((5, 2), np.float32))
    wait_until(lambda: (sw.update(), sw.n_new >= 5)[1], what="5 samples")
    del sw.inlet  # dareplane-utils' disconnect() does this
    assert sw.inlet is None and not sw.connected
    with pytest.raises(StreamWatcherNotConnected):
        sw.update()  # the inlet is really gone, not kept alive by the fast pull path
    assert sw.n_new == 5 and sw.get_data()[0].shape == (5, 2)
