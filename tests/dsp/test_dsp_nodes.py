"""DSP nodes in local graphs over real zmq streams (tcp/ipc/inproc, plaindata and sharedmem)."""

from __future__ import annotations

import contextlib
import logging
import threading

import numpy as np
import pytest
import scipy.signal

from lslacq.core.stream import InputStream, OutputStream
from lslacq.dsp import (
    EVENT_DTYPE,
    AnalogTrigger,
    DigitalTrigger,
    OverlapFiltfilt,
    SosFilter,
    TriggerAccumulator,
    design_sos,
    make_events,
)
from lslacq.errors import StreamTimeoutError

SR = 1000.0


@pytest.fixture
def graph():
    """Collect streams and nodes; stop and close everything at the end."""
    made = []

    def add(obj):
        made.append(obj)
        return obj

    yield add
    for obj in reversed(made):
        with contextlib.suppress(Exception):
            if hasattr(obj, "running") and obj.running():
                obj.stop()
        obj.close()


def source(graph, n_channels, dtype="float32", mode="plaindata", protocol="tcp", streamtype="analogsignal", **extra):
    out = graph(OutputStream(name="src"))
    out.configure(
        protocol=protocol,
        transfermode=mode,
        dtype=dtype,
        shape=(-1, n_channels),
        sample_rate=SR,
        streamtype=streamtype,
        buffer_size=50_000,
        **extra,
    )
    return out


def reader(graph, output):
    inp = graph(InputStream(name="sink"))
    inp.connect(output)
    return inp


def read_samples(inp, n_total, timeout_ms=20_000):
    """Receive chunks until n_total samples arrived; return (end_index, concatenated data)."""
    parts, got, index = [], 0, None
    while got < n_total:
        index, data = inp.recv(return_data=True, timeout=timeout_ms)
        parts.append(np.array(data))
        got += len(data)
    return index, np.concatenate(parts)


def send_chunks(out, signal, sizes, start=0):
    """Send ``signal`` in chunks of ``sizes``; its first sample has absolute index ``start``."""
    pos = 0
    for s in sizes:
        out.send(np.ascontiguousarray(signal[pos : pos + s]), index=start + pos + s)
        pos += s


def random_sizes(n, seed=0, high=200):
    rng = np.random.default_rng(seed)
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(rng.integers(1, high)))
    sizes[-1] -= sum(sizes) - n
    return sizes


# -- SosFilter ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "protocol", "extra"),
    [
        ("plaindata", "tcp", {}),
        ("sharedmem", "ipc", {}),
        ("sharedmem", "inproc", {"axisorder": (1, 0)}),
        ("plaindata", "inproc", {}),
    ],
)
def test_sosfilter_node_equals_offline_sosfilt(graph, mode, protocol, extra):
    n, nch = 6000, 4
    sig = np.random.default_rng(1).standard_normal((n, nch)).astype("float32")
    sos = design_sos("bandpass", [5, 40], SR, order=4)
    src = source(graph, nch, mode=mode, protocol=protocol, channel_names=["a", "b", "c", "d"], units="uV", **extra)
    filt = graph(SosFilter(name="filt"))
    filt.configure(coefficients=sos)
    filt.input.connect(src)
    filt.output.configure(protocol="tcp", transfermode="plaindata")
    filt.initialize()
    assert filt.output.params["channel_names"] == ["a", "b", "c", "d"]
    assert filt.output.params["sample_rate"] == SR and filt.output.params["units"] == "uV"
    sink = reader(graph, filt.output)
    filt.start()
    send_chunks(src, sig, random_sizes(n))
    end, out = read_samples(sink, n)
    assert end == n and out.dtype == np.float32
    expected = scipy.signal.sosfilt(sos, sig, axis=0).astype("float32")
    np.testing.assert_allclose(out, expected, atol=1e-5 * np.abs(expected).max())


def test_sosfilter_online_coefficient_change_and_fixed_chunksize(graph):
    nch = 2
    src = source(graph, nch)
    filt = graph(SosFilter())
    filt.configure(coefficients=design_sos("lowpass", 30, SR), chunksize=100)
    filt.input.connect(src)
    filt.output.configure()
    filt.initialize()
    sink = reader(graph, filt.output)
    filt.start()
    level = np.full((1000, nch), 2.0, "float32")
    send_chunks(src, level, [333, 333, 334])
    end, first = read_samples(sink, 1000)
    assert end == 1000
    filt.params["coefficients"] = design_sos("lowpass", 10, SR, order=8)  # more sections, while running
    send_chunks(src, np.concatenate([level] * 2), [77] * 25 + [75], start=1000)
    _, second = read_samples(sink, 2000)
    assert np.all(np.isfinite(second))
    np.testing.assert_allclose(second, 2.0, rtol=1e-4)  # steady-state swap: no glitch on a settled signal
    with pytest.raises(ValueError, match="unstable"):
        filt.params["coefficients"] = [[1, 0, 0, 1, 0, 1.5]]
    with pytest.raises(ValueError, match="3 channel filters but the stream has 2"):
        filt.set_coefficients(np.stack([design_sos("lowpass", 30, SR)] * 3))
    assert filt.error is None


def test_sosfilter_int16_input_with_scale_gives_physical_float32(graph):
    src = source(graph, 1, dtype="int16", scale=0.5, offset=1.0)
    filt = graph(SosFilter())
    sos = design_sos("lowpass", 50, SR)
    filt.configure(coefficients=sos)
    filt.input.connect(src)
    filt.output.configure()
    filt.initialize()
    assert filt.output.params.np_dtype == np.float32 and filt.output.params["scale"] is None
    sink = reader(graph, filt.output)
    filt.start()
    raw = (np.arange(500) % 50).astype("int16")[:, None]
    send_chunks(src, raw, [100] * 5)
    _, out = read_samples(sink, 500)
    np.testing.assert_allclose(out, scipy.signal.sosfilt(sos, raw * 0.5 + 1.0, axis=0), rtol=1e-5, atol=1e-5)


def test_sosfilter_configuration_errors():
    filt = SosFilter()
    with pytest.raises(ValueError, match="engine='cuda'"):
        filt.configure(coefficients=design_sos("lowpass", 30, SR), engine="cuda")
    with pytest.raises(ValueError, match="is None"):
        filt.configure()
    with pytest.raises(ValueError, match="chunksize"):
        filt.configure(coefficients=design_sos("lowpass", 30, SR), chunksize=0)
    filt.close()


@pytest.mark.parametrize("node_type", [SosFilter, OverlapFiltfilt])
def test_engine_scipy_is_pyacqs_name_for_the_default_engine(graph, node_type):
    """The default engine of pyacq's SosFilter/OverlapFiltfilt is called 'scipy': same filter as 'numpy'."""
    sos = design_sos("lowpass", 30, SR)
    sig = np.random.default_rng(5).standard_normal((400, 2)).astype("float32")
    src = source(graph, 2)
    node = graph(node_type(name="pyacq-engine"))
    kwargs = {"chunksize": 100, "overlapsize": 50} if node_type is OverlapFiltfilt else {}
    node.configure(coefficients=sos, engine="scipy", **kwargs)
    assert node.engine_name == "numpy"
    node.input.connect(src)
    node.output.configure(protocol="tcp")
    node.initialize()
    sink = reader(graph, node.output)
    node.start()
    send_chunks(src, sig, [100] * 4)
    if node_type is SosFilter:
        _, out = read_samples(sink, 400)
        np.testing.assert_allclose(out, scipy.signal.sosfilt(sos, sig, axis=0), rtol=1e-5, atol=1e-5)
    else:  # released with an overlapsize delay; equal to the numpy engine on the same chunks
        from lslacq.dsp import OverlapFiltfiltEngine

        engine = OverlapFiltfiltEngine(sos, 100, 50, 2, dtype=np.float32)
        expected = [engine.process(end, sig[end - 100 : end]) for end in (100, 200, 300, 400)]
        expected = np.concatenate([chunk for _, chunk in filter(None, expected)])
        _, out = read_samples(sink, len(expected))
        np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="use one of \\['numpy', 'opencl', 'scipy'\\]"):
        node_type().configure(coefficients=sos, engine="cuda")


# -- OverlapFiltfilt --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_overlapfiltfilt_node_delay_alignment_and_accuracy(graph):
    n, nch = 20_000, 2
    t = np.arange(n) / SR
    sig = np.sin(2 * np.pi * 8 * t)[:, None] + 0.2 * np.random.default_rng(2).standard_normal((n, nch))
    sig = sig.astype("float32")
    sos = design_sos("bandpass", [2, 30], SR, order=2)
    src = source(graph, nch, mode="sharedmem")
    node = graph(OverlapFiltfilt())
    node.configure(coefficients=sos, chunksize=500, overlapsize=1000)
    node.input.connect(src)
    node.output.configure()
    node.initialize()
    sink = reader(graph, node.output)
    node.start()
    send_chunks(src, sig, random_sizes(n, seed=3, high=400))
    end, out = read_samples(sink, n - 1000 - 500 + 1)  # released up to the last full block minus overlapsize
    assert (end + 1000) % 500 == 0 and end - len(out) == 0
    offline = scipy.signal.sosfiltfilt(sos, sig.astype(float), axis=0)[:end]
    sel = slice(2000, end - 2000)
    err = np.sqrt(np.mean((out[sel] - offline[sel]) ** 2)) / np.sqrt(np.mean(offline[sel] ** 2))
    assert err < 1e-3, err
    with pytest.raises(StreamTimeoutError):  # nothing more until another block arrives
        sink.recv(timeout=300)


# -- triggers --------------------------------------------------------------------------------------------
def _trigger_graph(graph, node, src):
    node.input.connect(src)
    node.output.configure(protocol="tcp")
    node.initialize()
    sink = reader(graph, node.output)
    node.start()
    return sink


def read_events(inp, n_expected, timeout_ms=20_000):
    events = []
    while len(events) < n_expected:
        _, data = inp.recv(timeout=timeout_ms)
        events.extend(np.array(data).tolist())
    return np.array(events, dtype=EVENT_DTYPE)


def test_analog_trigger_node_straddling_crossings_and_online_params(graph):
    nch = 3
    sig = np.zeros((3000, nch), "float32")
    for a, b in [(99, 150), (500, 510), (1200, 1700)]:
        sig[a:b, 1] = 1.0
    sig[:, 0] = 5.0  # another channel, always above: must not trigger
    src = source(graph, nch)
    trig = graph(AnalogTrigger(name="trig"))
    trig.configure(channel=1, threshold=0.5, front="+", debounce_mode="no-debounce")
    sink = _trigger_graph(graph, trig, src)
    # chunk boundaries right at the crossings: 99 | 100, 500 | ...
    send_chunks(src, sig[:1500], [99, 401, 1, 999])
    ev = read_events(sink, 3)
    assert ev["index"].tolist() == [99, 500, 1200]
    assert set(ev["type"].tolist()) == {b"analog"} and ev["code"].tolist() == [1, 1, 1]
    assert ev["channel"].tolist() == [1, 1, 1] and ev["description"][0] == b"ch1+"
    trig.params["front"] = "-"  # online: falling edges from now on
    send_chunks(src, np.concatenate([sig[1500:], sig[:1000]]), [700, 800, 1000], start=1500)
    ev = read_events(sink, 3)
    assert ev["index"].tolist() == [1700, 3150, 3510]
    assert ev["code"].tolist() == [-1, -1, -1]
    with pytest.raises(ValueError, match="does not exist; the input has 3 channels"):
        trig.params["channel"] = 3
    with pytest.raises(ValueError, match="debounce_mode"):
        trig.params["debounce_mode"] = "sometimes"
    assert trig.n_events == 6 and trig.error is None


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "expected"), [("after-stable", [1016]), ("before-stable", [1010])])
def test_analog_trigger_node_debounce(graph, mode, expected):
    sig = np.zeros((2000, 1), "float32")
    for a, b in [(1010, 1012), (1013, 1014), (1016, 1500)]:  # bouncing, then stable
        sig[a:b] = 1.0
    src = source(graph, 1)
    trig = graph(AnalogTrigger())
    trig.configure(threshold=0.5, debounce_mode=mode, debounce_time=0.005)  # 5 samples
    sink = _trigger_graph(graph, trig, src)
    send_chunks(src, sig, [1011, 3, 986])
    assert read_events(sink, 1)["index"].tolist() == expected
    with pytest.raises(StreamTimeoutError):
        sink.recv(timeout=300)


@pytest.mark.slow
def test_digital_trigger_node_on_one_bit(graph):
    data = np.zeros((1000, 2), "uint8")
    data[100:200, 0] |= 0b0000_0100  # bit 2
    data[300:400, 1] |= 0b0000_0001  # bit 8
    data[150:160, 0] |= 0b0000_1000  # bit 3: other bits must not matter
    src = source(graph, 2, dtype="uint8", streamtype="digitalsignal")
    trig = graph(DigitalTrigger())
    trig.configure(channel=2, front="+")
    sink = _trigger_graph(graph, trig, src)
    send_chunks(src, data[:500], [100, 400])
    assert read_events(sink, 1)["index"].tolist() == [100]
    trig.set_params(channel=8, front="-")
    send_chunks(src, data[500:], [500], start=500)  # no edge on bit 8 after 500
    with pytest.raises(StreamTimeoutError):
        sink.recv(timeout=300)
    send_chunks(src, data, [301, 699], start=1000)  # bit 8 falls at 1400
    ev = read_events(sink, 1)
    assert ev["index"].tolist() == [1400] and ev["description"][0] == b"bit8-" and ev["type"][0] == b"digital"
    with pytest.raises(ValueError, match="does not exist; the input has 16 bits"):
        trig.params["channel"] = 16


def test_trigger_output_format_indexes_gives_pyacqs_int64_indexes(graph):
    """Triggers send int64 sample indexes as pyacq's do (chunk index = trigger count); output_format='indexes'."""
    sig = np.zeros((1000, 1), "float32")
    for a, b in [(100, 200), (400, 450), (700, 800)]:
        sig[a:b] = 1.0
    src = source(graph, 1)
    trig = graph(AnalogTrigger())
    trig.configure(threshold=0.5, output_format="indexes")
    sink = _trigger_graph(graph, trig, src)
    assert trig.output.params.np_dtype == np.dtype("int64") and trig.output.params.shape == (-1,)
    send_chunks(src, sig, [250, 250, 500])
    indexes, counts = [], []
    while len(indexes) < 3:
        count, data = sink.recv(timeout=20_000)
        assert data.dtype == np.int64
        indexes.extend(data.tolist())
        counts.append(count)
    assert indexes == [100, 400, 700] and counts[-1] == 3
    with pytest.raises(ValueError, match="output_format='events' is unknown; use 'records'"):
        DigitalTrigger().configure(output_format="events")


def test_unknown_configure_arguments_are_named():
    trig = AnalogTrigger(name="t")
    with pytest.raises(TypeError, match=r"t.configure\(\) got unexpected arguments \['treshold'\]"):
        trig.configure(treshold=1.0)
    trig.close()
    acc = TriggerAccumulator(name="a")
    with pytest.raises(TypeError, match="unexpected arguments"):
        acc.configure(stacksize=3)
    acc.close()


def test_digital_trigger_rejects_float_stream(graph):
    src = source(graph, 1)
    trig = graph(DigitalTrigger())
    trig.configure()
    with pytest.raises(ValueError, match="needs an integer stream"):
        trig.input.connect(src)


# -- TriggerAccumulator ------------------------------------------------------------------------------------
def test_trigger_accumulator_with_analog_trigger_in_a_graph(graph):
    nch = 2
    n = 4000
    sig = np.zeros((n, nch), "float32")
    sig[:, 1] = np.arange(n)  # channel 1 tells the sample index
    triggers = [500, 1300, 2100, 2900]
    for t in triggers:
        sig[t : t + 50, 0] = 1.0
    src = source(graph, nch)
    trig = graph(AnalogTrigger())
    trig.configure(channel=0, threshold=0.5)
    trig.input.connect(src)
    trig.output.configure(protocol="inproc")
    trig.initialize()
    acc = graph(TriggerAccumulator())
    acc.configure(max_stack_size=5, left_sweep=-0.1, right_sweep=0.2, stack_size=3)
    acc.inputs["signals"].connect(src)
    acc.inputs["events"].connect(trig.output)
    acc.initialize()
    done = threading.Event()
    totals = []

    def on_new_chunk(total):
        totals.append(total)
        if total == len(triggers):
            done.set()

    acc.new_chunk.connect(on_new_chunk)
    acc.start()
    trig.start()
    send_chunks(src, sig, [100] * 40)
    assert done.wait(20), f"only {acc.total_trig} epochs"
    assert totals == [1, 2, 3, 4] and acc.total_trig == 4
    assert acc.stack.shape == (3, nch, 300)
    epochs = acc.get_epochs()
    np.testing.assert_array_equal(epochs[:, 1, 0], [t - 100 for t in triggers[1:]])
    np.testing.assert_array_equal(epochs[-1, 1], np.arange(2800, 3100))
    assert acc.t_vect[0] == pytest.approx(-0.1)
    acc.params["stack_size"] = 5  # online: recreates the stack
    assert acc.stack.shape == (5, nch, 300) and acc.total_trig == 0
    with pytest.raises(ValueError, match="exceeds max_stack_size=5"):
        acc.params["stack_size"] = 6
    with pytest.raises(ValueError, match="left_sweep"):
        acc.params["left_sweep"] = 0.3
    acc.set_params(left_sweep=0.3, right_sweep=0.5)  # valid together
    assert acc.size == 200


def test_trigger_accumulator_epoch_waits_for_samples_and_accepts_int_events(graph):
    src = source(graph, 1)
    ev_out = graph(OutputStream(name="ev"))
    ev_out.configure(protocol="tcp", streamtype="event", dtype="int64", shape=(-1,))
    acc = graph(TriggerAccumulator())
    acc.configure(left_sweep=0.0, right_sweep=0.1, stack_size=2)
    acc.inputs["signals"].connect(src)
    acc.inputs["events"].connect(ev_out)
    acc.initialize()
    got = threading.Event()
    acc.new_chunk.connect(lambda total: got.set())
    acc.start()
    sig = np.arange(1000, dtype="float32")[:, None]
    send_chunks(src, sig[:200], [200])
    ev_out.send(np.array([150], dtype="int64"))  # needs samples up to 250: not there yet
    for _ in range(50):  # wait until the event is registered as pending
        if acc.pending:
            break
        got.wait(0.1)
    assert acc.pending == [150] and acc.total_trig == 0
    send_chunks(src, sig[200:300], [100], start=200)
    assert got.wait(20)
    np.testing.assert_array_equal(acc.stack[0, 0], np.arange(150, 250))
    acc.reset_stack()
    assert acc.total_trig == 0 and not acc.stack.any()


def test_trigger_accumulator_rejects_bad_events_dtype(graph):
    ev_out = graph(OutputStream(name="ev"))
    ev_out.configure(streamtype="event", dtype="float32", shape=(-1,))
    acc = graph(TriggerAccumulator())
    acc.configure()
    with pytest.raises(ValueError, match="event records"):
        acc.inputs["events"].connect(ev_out)


def test_processing_failure_is_reported_to_the_owner(graph, caplog):
    src = source(graph, 2)
    filt = graph(SosFilter())
    filt.configure(coefficients=design_sos("lowpass", 30, SR))
    filt.input.connect(src)
    filt.output.configure()
    filt.initialize()
    failed = threading.Event()
    filt.failed.connect(lambda exc: failed.set())
    filt._engine.process = lambda x: (_ for _ in ()).throw(RuntimeError("boom"))  # noqa: E731
    filt.start()
    with caplog.at_level(logging.ERROR):
        send_chunks(src, np.zeros((10, 2), "float32"), [10])
        assert failed.wait(20)
    assert isinstance(filt.error, RuntimeError) and "boom" in caplog.text


def test_event_records_roundtrip_through_a_stream(graph):
    out = graph(OutputStream(name="ev"))
    from lslacq.dsp.events import EVENT_STREAM_SPEC

    out.configure(protocol="tcp", **EVENT_STREAM_SPEC)
    inp = reader(graph, out)
    ev = make_events([3, 7], type="Stimulus", description=["S  1", "S  2"], code=[1, 2])
    out.send(ev)
    _, got = inp.recv(timeout=10_000)
    assert got.dtype == EVENT_DTYPE
    np.testing.assert_array_equal(got, ev)


def test_dsp_nodes_are_registered_for_nodegroups():
    from lslacq.core.registry import get_node_type, list_node_types

    names = {
        "SosFilter": SosFilter,
        "OverlapFiltfilt": OverlapFiltfilt,
        "AnalogTrigger": AnalogTrigger,
        "DigitalTrigger": DigitalTrigger,
        "TriggerAccumulator": TriggerAccumulator,
    }
    assert set(names) <= set(list_node_types())
    for name, cls in names.items():
        assert get_node_type(name) is cls
    import lslacq

    assert lslacq.SosFilter is SosFilter and lslacq.EVENT_DTYPE is EVENT_DTYPE


def test_catch_up_batching_keeps_indexes_across_gaps(graph):
    """Chunks waiting in the queue are merged only when contiguous; a gap flushes the batch."""
    src = source(graph, 1)
    filt = graph(SosFilter())
    filt.configure(coefficients=[[1, 0, 0, 1, 0, 0]])  # identity filter: output == input
    filt.input.connect(src)
    filt.output.configure()
    filt.initialize()
    sink = reader(graph, filt.output)
    sig = np.arange(1000, dtype="float32")[:, None]
    # queue everything before the node starts, so that it has a backlog to merge
    send_chunks(src, sig[:300], [100, 100, 100])
    send_chunks(src, sig[500:700], [100, 100], start=500)  # 200 samples lost
    filt.start()
    received = []
    while sum(len(d) for _, d in received) < 500:
        index, data = sink.recv(timeout=20_000)
        received.append((index, np.array(data)))
    # no merged chunk spans the gap, and every sample keeps its absolute index
    for index, data in received:
        np.testing.assert_array_equal(data[:, 0], np.arange(index - len(data), index))
    assert [i for i, _ in received][-1] == 700
    assert any(len(d) > 100 for _, d in received)  # the backlog was merged


def test_nodes_restart_after_stop(graph):
    src = source(graph, 1)
    trig = graph(AnalogTrigger())
    trig.configure(threshold=0.5)
    sink = _trigger_graph(graph, trig, src)
    pulse = np.zeros((100, 1), "float32")
    pulse[40:60] = 1.0
    send_chunks(src, pulse, [100])
    assert read_events(sink, 1)["index"].tolist() == [40]
    trig.stop()
    assert not any(t.name.startswith(trig.name) for t in threading.enumerate())
    trig.start()  # the source restarts its count, as a device does on restart
    send_chunks(src, pulse, [30, 70])
    assert read_events(sink, 1)["index"].tolist() == [40]


def test_chunks_queued_before_the_source_closed_are_all_processed(graph):
    src = source(graph, 1)
    filt = graph(SosFilter())
    filt.configure(coefficients=[[1, 0, 0, 1, 0, 0]])  # identity
    filt.input.connect(src)
    filt.output.configure()
    filt.initialize()
    sink = reader(graph, filt.output)
    sig = np.arange(300, dtype="float32")[:, None]
    send_chunks(src, sig, [100, 100, 100])
    src.close()  # the close notice is queued behind the data
    filt.start()
    end, out = read_samples(sink, 300)
    assert end == 300
    np.testing.assert_array_equal(out, sig)
    assert filt.error is None
