"""LslOutlet: graph stream -> LSL, read back with plain pylsl."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from lsl_helpers import make_event_source, make_source, pull_exactly, ramp, wait_until

pylsl = pytest.importorskip("pylsl")

from lslacq.core.registry import get_node_type  # noqa: E402
from lslacq.dsp.events import make_events  # noqa: E402
from lslacq_lsl import LslOutlet, describe_stream, resolve_stream  # noqa: E402


def _outlet(source, unique_name, node_name="outlet", **kwargs):
    node = LslOutlet(name=node_name)
    node.configure(name=unique_name, **kwargs)
    node.inputs["signals"].connect(source)
    node.initialize()
    return node


def _plain_inlet(source_id, flags=pylsl.proc_none):
    info = resolve_stream(source_id=source_id, timeout=10)
    inlet = pylsl.StreamInlet(info, processing_flags=flags)
    inlet.open_stream(timeout=10)
    return inlet


def test_node_type_is_registered_through_the_entry_point():
    assert get_node_type("LslOutlet") is LslOutlet


def test_metadata_and_stable_source_id(unique_name):
    names = [f"E{i}" for i in range(4)]
    with make_source(4, 250.0, channel_names=names, channel_units=["microvolts"] * 4, manufacturer="ACME") as src:
        node = _outlet(src, unique_name, node_name="amp", type="EEG", model="X1", channel_types="EEG")
        try:
            inlet = _plain_inlet(node.source_id)
            d = describe_stream(inlet.info(timeout=10))
            assert (d.name, d.type, d.channel_count, d.nominal_srate, d.channel_format) == (
                unique_name,
                "EEG",
                4,
                250.0,
                "float32",
            )
            assert d.channel_names == tuple(names)
            assert d.channel_units == ("microvolts",) * 4 and d.channel_types == ("EEG",) * 4
            assert (d.manufacturer, d.model) == ("ACME", "X1")
            assert "<software>lslacq</software>" in inlet.info().as_xml()
            first_id = node.source_id
            del inlet
        finally:
            node.close()
    with make_source(4, 250.0) as src:
        again = _outlet(src, unique_name, node_name="amp")
        try:
            assert again.source_id == first_id  # a restarted outlet keeps its identity
        finally:
            again.close()


@pytest.mark.slow
def test_timestamps_are_derived_from_sample_indexes(unique_name):
    srate = 200.0
    with make_source(3, srate) as src:
        node = _outlet(src, unique_name)
        try:
            inlet = _plain_inlet(node.source_id)
            node.start()
            sizes = [1, 7, 13, 40, 2, 37]
            n = 0
            t_before = pylsl.local_clock()
            for size in sizes:
                n += size
                src.send(ramp(size, 3, start=n - size), index=n)
                time.sleep(0.003 * size)  # irregular delivery must not show in the timestamps
            # a gap of 50 samples in the indexes is a gap of 50 sample periods in time
            src.send(ramp(10, 3, start=n + 50), index=n + 60)
            data, ts = pull_exactly(inlet, n + 10)
            np.testing.assert_array_equal(data[:n], ramp(n, 3))
            np.testing.assert_array_equal(data[n:], ramp(10, 3, start=n + 50))
            np.testing.assert_allclose(np.diff(ts[:n]), 1 / srate, rtol=0, atol=1e-9)
            assert ts[n] - ts[n - 1] == pytest.approx(51 / srate, abs=1e-9)
            # anchored on local_clock at the first chunk (its newest sample happened "now")
            assert t_before - 1 < ts[0] < pylsl.local_clock()
            # n_pushed is counted after liblsl took the chunk: the reader may see it first
            wait_until(lambda: node.n_pushed == n + 10, timeout=10, what="n_pushed")
            assert node.error is None
            del inlet
        finally:
            node.close()


@pytest.mark.parametrize(("dtype", "fmt"), [("int16", "int16"), ("uint16", "int32"), ("float64", "double64")])
def test_dtypes_map_to_lsl_channel_formats(unique_name, dtype, fmt):
    with make_source(2, 100.0, dtype=dtype) as src:
        node = _outlet(src, unique_name)
        try:
            inlet = _plain_inlet(node.source_id)
            assert describe_stream(inlet.info()).channel_format == fmt
            node.start()
            values = (np.arange(20).reshape(10, 2) * 3000 % 60000).astype(dtype)
            src.send(values)
            data, _ = pull_exactly(inlet, 10)
            np.testing.assert_array_equal(data, values.astype("int64"))
            del inlet
        finally:
            node.close()


@pytest.mark.slow
def test_events_become_markers_on_the_signal_time_axis(unique_name):
    srate = 100.0
    with make_source(2, srate) as sig, make_event_source(srate) as evs:
        signal = _outlet(sig, unique_name + "-eeg", node_name="eeg")
        markers = _outlet(evs, unique_name + "-markers", node_name="markers", reference="eeg")
        codes = _outlet(evs, unique_name + "-codes", node_name="codes", marker_format="int32", reference="eeg")
        try:
            assert markers.info.type() == "Markers" and markers.info.nominal_srate() == 0.0
            sig_in = _plain_inlet(signal.source_id)
            mk_in = _plain_inlet(markers.source_id)
            code_in = _plain_inlet(codes.source_id)
            assert code_in.channel_format == pylsl.cf_int32
            for node in (signal, markers, codes):
                node.start()
            sig.send(ramp(100, 2))
            wait_until(lambda: signal.n_pushed == 100, what="signal pushed")
            events = make_events([10, 55, 99], type="Stimulus", description=["S  1", "", "S  3"], code=[1, 2, 3])
            evs.send(events)
            data, ts = pull_exactly(sig_in, 100)
            labels, mts = pull_exactly(mk_in, 3)
            assert labels[:, 0].tolist() == ["S  1", "Stimulus", "S  3"]
            np.testing.assert_allclose(mts, ts[[10, 55, 99]], atol=1e-9, rtol=0)
            values, cts = pull_exactly(code_in, 3)
            assert values[:, 0].tolist() == [1, 2, 3]
            np.testing.assert_allclose(cts, mts, atol=1e-9, rtol=0)
            del sig_in, mk_in, code_in
        finally:
            for node in (signal, markers, codes):
                node.close()


def test_markers_without_reference_keep_their_spacing(unique_name):
    with make_event_source(sample_rate=1000.0) as evs:
        node = _outlet(evs, unique_name)
        try:
            inlet = _plain_inlet(node.source_id)
            node.start()
            evs.send(make_events([1000, 1500], description="a"))
            evs.send(make_events([4000], description="b"))
            labels, ts = pull_exactly(inlet, 3)
            assert labels[:, 0].tolist() == ["a", "a", "b"]
            np.testing.assert_allclose(np.diff(ts), [0.5, 2.5], atol=1e-9)
            del inlet
        finally:
            node.close()


def test_configuration_errors_name_the_problem(unique_name):
    node = LslOutlet(name="bad")
    with pytest.raises(ValueError, match="marker_format"):
        node.configure(marker_format="float")
    with make_source(2, sample_rate=None) as src:
        node.configure(name=unique_name)
        node.inputs["signals"].connect(src)
        with pytest.raises(ValueError, match="nominal_srate"):
            node.initialize()
    node.close()
    with make_source(2, 100.0, dtype="complex64") as src:
        node = LslOutlet(name="complex")
        node.configure(name=unique_name)
        with pytest.raises(TypeError, match="no channel format"):
            node.inputs["signals"].connect(src)
        node.close()


def test_a_restarted_source_reanchors_instead_of_going_back_in_time(unique_name):
    with make_source(2, 100.0) as src:
        node = _outlet(src, unique_name)
        try:
            inlet = _plain_inlet(node.source_id)
            node.start()
            src.send(ramp(50, 2), index=50)
            first, ts1 = pull_exactly(inlet, 50)
            src.reset_buffer_index()  # the device restarted: its indexes start again at 0
            src.send(ramp(20, 2), index=20)
            second, ts2 = pull_exactly(inlet, 20)
            np.testing.assert_array_equal(second, ramp(20, 2))
            assert ts2[0] > ts1[-1]
            np.testing.assert_allclose(np.diff(ts2), 0.01, atol=1e-9)
            del inlet
        finally:
            node.close()


@pytest.mark.slow
def test_stop_and_start_anchor_the_time_axis_again(unique_name):
    with make_source(2, 100.0) as src:
        node = _outlet(src, unique_name)
        try:
            inlet = _plain_inlet(node.source_id)
            node.start()
            src.send(ramp(10, 2))
            _, ts1 = pull_exactly(inlet, 10)
            node.stop()
            time.sleep(0.5)  # a pause while stopped: the indexes continue, the time axis must not lag
            node.start()
            src.send(ramp(10, 2, start=10))
            _, ts2 = pull_exactly(inlet, 10)
            assert ts2[0] - ts1[-1] > 0.4
            del inlet
        finally:
            node.close()


def test_irregular_numeric_stream_with_nominal_srate_zero(unique_name):
    with make_source(2, sample_rate=None, dtype="int32") as src:
        node = _outlet(src, unique_name, nominal_srate=0)
        try:
            assert node.info.nominal_srate() == 0.0 and node.clock is None
            inlet = _plain_inlet(node.source_id)
            node.start()
            t_before = pylsl.local_clock()
            src.send(np.array([[1, 2], [3, 4]], dtype="int32"))
            data, ts = pull_exactly(inlet, 2)
            np.testing.assert_array_equal(data, [[1, 2], [3, 4]])
            assert np.all(ts >= t_before - 1)
            del inlet
        finally:
            node.close()


class _PushSpy:
    """Wraps a node's ChunkPusher.push: counts pushes, their sizes, and signals the first."""

    def __init__(self, node):
        self.sizes = []
        self.first = threading.Event()
        self._push = node._pusher.push
        node._pusher.push = self

    def __call__(self, data, timestamp=0.0, pushthrough=True):
        self.sizes.append(len(data))  # before the push: a reader may see the data before push() returns
        self._push(data, timestamp, pushthrough)
        self.first.set()


@pytest.mark.parametrize("push_interval", [-1, float("nan"), "soon"])
def test_push_interval_is_validated(unique_name, push_interval):
    node = LslOutlet(name="outlet")
    with pytest.raises((ValueError, TypeError), match="push_interval"):
        node.configure(name=unique_name, push_interval=push_interval)


def test_queued_chunks_are_merged_into_one_push_with_exact_timestamps(unique_name):
    srate = 500.0
    with make_source(3, srate) as src:
        node = _outlet(src, unique_name)
        try:
            inlet = _plain_inlet(node.source_id)
            spy = _PushSpy(node)
            for k in range(10):  # queued before the push thread runs: it finds them all waiting
                src.send(ramp(20, 3, start=20 * k))
            node.start()
            data, ts = pull_exactly(inlet, 200)
            np.testing.assert_array_equal(data, ramp(200, 3))
            np.testing.assert_allclose(np.diff(ts), 1 / srate, rtol=0, atol=1e-9)
            assert spy.sizes == [200]
            assert node.n_pushed == 200
        finally:
            node.close()


@pytest.mark.slow
def test_push_interval_batches_chunks_that_arrive_between_pushes(unique_name):
    srate = 1000.0
    with make_source(2, srate) as src:
        node = _outlet(src, unique_name, push_interval=1.0)
        try:
            inlet = _plain_inlet(node.source_id)
            spy = _PushSpy(node)
            node.start()
            src.send(ramp(10, 2))
            assert spy.first.wait(10), "the first chunk was not pushed"
            for k in range(1, 6):  # all sent within the 1 s the node waits after its first push
                src.send(ramp(10, 2, start=10 * k))
            data, ts = pull_exactly(inlet, 60)
            np.testing.assert_array_equal(data, ramp(60, 2))
            np.testing.assert_allclose(np.diff(ts), 1 / srate, rtol=0, atol=1e-9)
            assert spy.sizes == [10, 50]
        finally:
            node.close()


def test_push_failure_reaches_the_node_contract_and_counters_count_pushes(unique_name, caplog):
    with make_source(2, 100.0) as src:
        node = _outlet(src, unique_name)
        failures = []
        node.failed.connect(failures.append)
        push = node._push_signal

        def push_then_fail(index, data):
            if index > 10:
                raise OSError("liblsl refused the chunk")
            push(index, data)

        node._push_signal = push_then_fail
        try:
            node.start()
            src.send(ramp(10, 2), index=10)
            wait_until(lambda: node.n_pushed == 10, timeout=20, what="the first push")
            counters = node.counters()
            assert counters["samples_out"] == 10 and counters["samples_in"] == 10 and counters["lost_samples"] == 0
            with caplog.at_level("ERROR"):
                src.send(ramp(5, 2, start=10), index=15)
                wait_until(lambda: failures, timeout=20, what="the failure")
            assert isinstance(node.error, OSError) and failures == [node.error]
            assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 1
            assert "node 'outlet' (LslOutlet) failed while pushing to LSL" in caplog.text
        finally:
            node.close()
