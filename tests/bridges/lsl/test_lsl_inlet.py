"""LslInlet: LSL -> graph, from plain pylsl outlets; recovery; round trip through an LslOutlet."""

from __future__ import annotations

import gc
import logging

import numpy as np
import pytest
from lsl_helpers import pull_exactly, ramp, reader, recv_until, wait_until

pylsl = pytest.importorskip("pylsl")

from lslacq.errors import StreamTimeoutError  # noqa: E402
from lslacq_lsl import LslInlet, LslOutlet, resolve_stream  # noqa: E402


def _inlet(node_name="inlet", **kwargs):
    node = LslInlet(name=node_name)
    node.configure(**kwargs)
    for out in node.outputs.values():
        out.configure(protocol="inproc")
    return node


def test_numeric_stream_spec_values_and_timestamps(make_outlet, unique_name):
    outlet = make_outlet(
        unique_name, n_channels=3, srate=250.0, fmt="int16", labels=["a", "b", "c"], units=["uV", "uV", "mV"]
    )
    node = _inlet(name=unique_name, clocksync=False, dejitter=False)
    with node:
        spec = node.outputs["signals"].params
        assert spec["shape"] == (-1, 3) and np.dtype(spec["dtype"]) == np.int16
        assert spec["sample_rate"] == 250.0
        assert spec["channel_names"] == ["a", "b", "c"] and spec["channel_units"] == ["uV", "uV", "mV"]
        assert spec["lsl_source_id"] == f"{unique_name}-sid"
        sig, ts = reader(node.outputs["signals"]), reader(node.outputs["timestamps"])
        node.initialize()
        node.start()
        t0 = pylsl.local_clock()
        stamps = t0 + np.arange(300) / 250.0
        data = ramp(300, 3, dtype="int64") % 30000
        for k in range(0, 300, 50):
            outlet.push_chunk(data[k : k + 50].astype("int16"), timestamp=list(stamps[k : k + 50]))
        index, got = recv_until(sig, 300)
        _, got_ts = recv_until(ts, 300)
        assert index == 300 and node.n_received == 300
        np.testing.assert_array_equal(got, data)
        np.testing.assert_array_equal(got_ts, stamps)  # no clocksync, no dejitter: exactly what was pushed
        sig.close()
        ts.close()


def test_pull_interval_sends_each_pull_as_one_chunk_and_never_reuses_a_held_buffer(make_outlet, unique_name):
    outlet = make_outlet(unique_name, n_channels=32, srate=10000.0)
    node = _inlet(name=unique_name, clocksync=False, dejitter=False, pull_interval=0.05)
    with node:
        sig = reader(node.outputs["signals"])
        node.initialize()
        node.start()
        data = ramp(6000, 32)
        t0 = pylsl.local_clock()
        chunks = []  # every received chunk is held: a pull buffer still referenced must never be reused
        for k in range(0, 6000, 100):
            outlet.push_chunk(data[k : k + 100], timestamp=list(t0 + np.arange(k, k + 100) / 10000.0))
            if k % 1500 == 1400:  # 15 LSL chunks (192 kB: sent downstream without a copy) wait for the next pull
                wait_until(lambda k=k: node.n_received == k + 100, what="the pull of the queued samples")
                while sig.poll(0):
                    chunks.append(sig.recv()[1])
        while sum(len(c) for c in chunks) < 6000 and sig.poll(5000):
            chunks.append(sig.recv()[1])
        np.testing.assert_array_equal(np.concatenate(chunks), data)
        assert len(chunks) < 60 / 3  # a pull takes every queued LSL chunk: a few big chunks, not one per push
        sig.close()


@pytest.mark.slow
def test_string_markers_become_events(make_outlet, unique_name):
    outlet = make_outlet(unique_name, type="Markers", n_channels=1, srate=0.0, fmt="string")
    node = _inlet(type="Markers", name=unique_name)
    with node:
        params = node.outputs["signals"].params
        assert params.streamtype == "event" and np.dtype(params.np_dtype).names[0] == "index"
        sig, ts = reader(node.outputs["signals"]), reader(node.outputs["timestamps"])
        node.initialize()
        node.start()
        markers = ["stim-left", "42", "x" * 40]
        for i, m in enumerate(markers):
            outlet.push_sample([m], 100.0 + i)
        _, events = recv_until(sig, 3)
        _, stamps = recv_until(ts, 3)
        assert events["index"].tolist() == [0, 1, 2]
        assert events["description"].tolist() == [b"stim-left", b"42", b"x" * 32]
        assert events["code"].tolist() == [0, 42, 0]
        assert node.n_truncated_markers == 1
        assert np.all(np.abs(stamps - (100.0 + np.arange(3))) < 1e-3)
        sig.close()
        ts.close()


@pytest.mark.slow
def test_resolution_failure_names_the_query_and_the_visible_streams(make_outlet, unique_name):
    make_outlet(unique_name + "-present")
    node = LslInlet(name="inlet")
    with pytest.raises(StreamTimeoutError) as err:
        node.configure(name=unique_name + "-absent", resolve_timeout=0.5)
    assert unique_name + "-absent" in str(err.value) and unique_name + "-present" in str(err.value)
    with pytest.raises(ValueError, match="which LSL stream"):
        node.configure()
    node.close()


@pytest.mark.slow
def test_recovers_when_the_outlet_comes_back_with_the_same_source_id(unique_name, caplog):
    def new_outlet():
        return pylsl.StreamOutlet(pylsl.StreamInfo(unique_name, "EEG", 2, 100.0, "float32", unique_name + "-sid"))

    outlet = new_outlet()
    node = _inlet(source_id=unique_name + "-sid", stall_timeout=0.5)
    with node, caplog.at_level(logging.WARNING):
        sig = reader(node.outputs["signals"])
        node.initialize()
        node.start()
        outlet.push_chunk(ramp(50, 2))
        recv_until(sig, 50)
        del outlet
        gc.collect()
        wait_until(lambda: node.stalled, timeout=30, what="the inlet to notice the outlet is gone")
        outlet = new_outlet()

        def resumed(outlet):  # outlet passed in: the name is deleted below
            outlet.push_chunk(ramp(10, 2, start=50))
            return sig.poll(timeout=200)

        wait_until(lambda o=outlet: resumed(o), timeout=60, what="data from the restarted outlet")
        index, data = recv_until(sig, 10)
        np.testing.assert_array_equal(data[:10], ramp(10, 2, start=50))
        gap = node.gaps[0]
        assert node.n_stalls == 1 and node.n_gaps == 1 and gap.index == 50 + gap.missing
        assert gap.duration > 0 and gap.missing > 0
        assert index == gap.index + len(data)  # the output indexes skip the missing samples
        assert node.error is None and node.running()
        assert "gap" in caplog.text and "no data" in caplog.text
        sig.close()
        del outlet


@pytest.mark.slow
def test_round_trip_preserves_values_and_timestamps(make_outlet, unique_name):
    source = make_outlet(unique_name + "-src", n_channels=4, srate=500.0)
    inlet_node = _inlet(name=unique_name + "-src", clocksync=False, dejitter=False)
    out_node = LslOutlet(name="republish")
    out_node.configure(name=unique_name + "-copy", timestamps_input=True)
    with inlet_node, out_node:
        out_node.inputs["signals"].connect(inlet_node.outputs["signals"])
        out_node.inputs["timestamps"].connect(inlet_node.outputs["timestamps"])
        inlet_node.initialize()
        out_node.initialize()
        assert out_node.info.nominal_srate() == 500.0 and out_node.info.channel_count() == 4
        info = resolve_stream(source_id=out_node.source_id, timeout=10)
        final = pylsl.StreamInlet(info, processing_flags=pylsl.proc_none)
        final.open_stream(timeout=10)
        out_node.start()
        inlet_node.start()
        t0 = pylsl.local_clock() - 10.0  # deliberately not "now": must be passed through, not recomputed
        stamps = t0 + np.arange(400) / 500.0 + np.random.default_rng(0).uniform(0, 1e-4, 400)
        for k in range(0, 400, 40):
            source.push_chunk(ramp(40, 4, start=k), timestamp=list(stamps[k : k + 40]))
        data, ts = pull_exactly(final, 400)
        np.testing.assert_array_equal(data, ramp(400, 4))
        np.testing.assert_allclose(ts, stamps, rtol=0, atol=1e-9)
        assert out_node.error is None and inlet_node.error is None
        del final


@pytest.mark.slow
def test_irregular_numeric_stream_has_no_sample_rate_and_keeps_timestamps(make_outlet, unique_name):
    outlet = make_outlet(unique_name, type="Events", n_channels=2, srate=0.0, fmt="int32")
    node = _inlet(name=unique_name, clocksync=False, dejitter=False, stall_timeout=0.2)
    with node:
        params = node.outputs["signals"].params
        assert params.sample_rate is None and np.dtype(params["dtype"]) == np.int32
        sig, ts = reader(node.outputs["signals"]), reader(node.outputs["timestamps"])
        node.initialize()
        node.start()
        for i in range(5):
            outlet.push_sample([i, -i], 50.0 + i * 0.7)
        _, data = recv_until(sig, 5)
        _, stamps = recv_until(ts, 5)
        np.testing.assert_array_equal(data, [[i, -i] for i in range(5)])
        np.testing.assert_array_equal(stamps, 50.0 + np.arange(5) * 0.7)
        assert node.n_stalls == 0 and node.n_gaps == 0  # silence is normal for event streams
        sig.close()
        ts.close()


@pytest.mark.slow
def test_configure_again_switches_to_another_stream(make_outlet, unique_name):
    make_outlet(unique_name + "-a", n_channels=2)
    make_outlet(unique_name + "-b", n_channels=5, fmt="int16")
    node = LslInlet(name="inlet")
    with node:
        node.configure(name=unique_name + "-a")
        assert node.outputs["signals"].spec["shape"] == (-1, 2)
        node.configure(name=unique_name + "-b")
        assert node.outputs["signals"].spec["shape"] == (-1, 5)
        assert node.description.name == unique_name + "-b"


@pytest.mark.slow
def test_round_trip_through_a_graph_node_and_a_sharedmem_hop(make_outlet, unique_name):
    """LSL -> LslInlet -> StreamConverter (sharedmem -> tcp) -> LslOutlet -> LSL: values and timestamps kept."""
    from lslacq.core.tools import StreamConverter

    source = make_outlet(unique_name + "-src", n_channels=3, srate=250.0, fmt="int16")
    inlet_node = LslInlet(name="inlet")
    inlet_node.configure(name=unique_name + "-src", clocksync=False, dejitter=False)
    inlet_node.outputs["signals"].configure(protocol="tcp", transfermode="sharedmem", buffer_size=10_000)
    inlet_node.outputs["timestamps"].configure(protocol="tcp")
    conv = StreamConverter(name="conv")
    conv.configure()
    out_node = LslOutlet(name="republish2")
    out_node.configure(name=unique_name + "-copy", timestamps_input=True)
    with inlet_node, conv, out_node:
        conv.input.connect(inlet_node.outputs["signals"])
        conv.output.configure(protocol="tcp", transfermode="plaindata")
        out_node.inputs["signals"].connect(conv.output)
        out_node.inputs["timestamps"].connect(inlet_node.outputs["timestamps"])
        for node in (inlet_node, conv, out_node):
            node.initialize()
        info = resolve_stream(source_id=out_node.source_id, timeout=10)
        assert out_node.info.channel_format() == pylsl.cf_int16
        final = pylsl.StreamInlet(info, processing_flags=pylsl.proc_none)
        final.open_stream(timeout=10)
        for node in (out_node, conv, inlet_node):
            node.start()
        stamps = 1000.0 + np.arange(500) / 250.0
        for k in range(0, 500, 25):
            source.push_chunk(
                (ramp(25, 3, start=k, dtype="int64") % 30000).astype("int16"), timestamp=list(stamps[k : k + 25])
            )
        data, ts = pull_exactly(final, 500)
        np.testing.assert_array_equal(data, ramp(500, 3, dtype="int64") % 30000)
        np.testing.assert_allclose(ts, stamps, rtol=0, atol=1e-9)
        del final


@pytest.mark.slow
def test_stream_without_source_id_is_resolved_again_when_lost(unique_name, caplog):
    def new_outlet():
        return pylsl.StreamOutlet(pylsl.StreamInfo(unique_name, "EEG", 2, 100.0, "float32", ""))

    outlet = new_outlet()
    node = _inlet(name=unique_name, stall_timeout=0.5)
    with node, caplog.at_level(logging.WARNING):
        sig = reader(node.outputs["signals"])
        node.initialize()
        node.start()
        outlet.push_chunk(ramp(20, 2))
        recv_until(sig, 20)
        del outlet
        gc.collect()
        wait_until(lambda: node.n_reconnects or node.stalled, timeout=30, what="the loss to be noticed")
        outlet = new_outlet()

        def resumed(outlet):  # outlet passed in: the name is deleted below
            outlet.push_chunk(ramp(5, 2, start=20))
            return sig.poll(timeout=200)

        wait_until(lambda o=outlet: resumed(o), timeout=60, what="data from the new outlet")
        _, data = recv_until(sig, 5)
        np.testing.assert_array_equal(data[:5], ramp(5, 2, start=20))
        assert node.n_reconnects == 1 and node.error is None
        assert "resolving it again" in caplog.text
        sig.close()
        del outlet


@pytest.mark.slow
def test_markers_map_to_signal_indexes_of_a_reference_inlet(make_outlet, unique_name):
    eeg_out = make_outlet(unique_name + "-eeg", n_channels=2, srate=250.0)
    mk_out = make_outlet(unique_name + "-mk", type="Markers", n_channels=1, srate=0.0, fmt="string")
    eeg = _inlet("eeg", name=unique_name + "-eeg", clocksync=False, dejitter=False)
    markers = _inlet("markers", name=unique_name + "-mk", clocksync=False, reference="eeg")
    with eeg, markers:
        sig, evs = reader(eeg.outputs["signals"]), reader(markers.outputs["signals"])
        for node in (eeg, markers):
            node.initialize()
            node.start()
        t0 = pylsl.local_clock()
        eeg_out.push_chunk(ramp(500, 2), timestamp=list(t0 + np.arange(500) / 250.0))
        recv_until(sig, 500)
        # markers at samples 10, 137 and 499 (in the past) and 520 (a little ahead of the data received)
        for k in (10, 137, 499, 520):
            mk_out.push_sample([f"stim{k}"], t0 + k / 250.0 + 0.001)
        _, events = recv_until(evs, 4)
        assert events["index"].tolist() == [10, 137, 499, 520]
        assert events["description"].tolist() == [b"stim10", b"stim137", b"stim499", b"stim520"]
        sig.close()
        evs.close()


@pytest.mark.slow
def test_timestamps_output_is_optional_and_counters_report_latency(make_outlet, unique_name):
    """Only 'signals' configured: initialize() accepts it; counters() has samples_in and the latency."""
    outlet = make_outlet(unique_name, n_channels=2, srate=100.0)
    node = LslInlet(name="inlet")
    node.configure(name=unique_name)
    node.outputs["signals"].configure(protocol="inproc")
    with node:
        sig = reader(node.outputs["signals"])
        node.initialize()
        node.start()
        outlet.push_chunk(ramp(40, 2))
        index, data = recv_until(sig, 40)
        np.testing.assert_array_equal(data, ramp(40, 2))
        # the output counts a chunk once send() returns: the reader may have it a moment earlier
        counters = wait_until(
            lambda: (c := node.counters())["samples_out"] == 40 and c, timeout=10, what="samples_out == 40"
        )
        assert counters["samples_in"] == 40 and counters["last_index"] == 40
        assert counters["lost_samples"] == 0
        assert counters["latency"] is not None and -1.0 < counters["latency"] < 60.0  # loopback, loaded machine
        assert node.error is None
        sig.close()


def test_pull_thread_failure_reaches_the_node_contract_once(make_outlet, unique_name, caplog):
    outlet = make_outlet(unique_name, n_channels=2, srate=100.0)
    node = _inlet(name=unique_name)
    failures = []
    node.failed.connect(failures.append)
    with node:
        node.initialize()

        def broken(wait):
            raise RuntimeError("liblsl went away")

        node._pull_numeric = broken
        with caplog.at_level(logging.ERROR):
            node.start()
            wait_until(lambda: failures, timeout=20, what="the failure")
            node.workers[0].join(10)
        assert isinstance(node.error, RuntimeError) and failures == [node.error]
        records = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(records) == 1 and "failed while pulling from LSL" in records[0].getMessage()
    del outlet
