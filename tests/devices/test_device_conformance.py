"""The contract every device node keeps, run on each device against its shipped emulator (or a real backend).

For each device: start / stop / start again (data flows each time, a device that restarts its count starts
its indexes at 0 again, its worker threads end at stop), counters as plain values, and, where the emulator can
unplug: the loss is reported once through the node contract (error, failed, one log record), and with
``reconnect=True`` the device comes back by itself, counts the reconnection and the time away as a gap.
Device-specific checks (exact values after a replug) are in each device's own test module.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from helpers import OutputReader, wait_until
from jack_rig import RATE, jack_server_fixture  # noqa: F401  (the session fixture 'jack_server', for PyAudio)

from lslacq.core.node import Node
from lslacq.errors import LslacqError


@dataclass
class Rig:
    """A device node made ready to start (outputs configured, initialized) and its emulator's plug."""

    node: Node
    unplug: Callable[[], None] | None = None
    replug: Callable[[], None] | None = None
    #: samples to wait for before a check (enough to see data flow, few enough to be quick)
    n_samples: int = 20


def _numpy_device(stack, reconnect):
    from lslacq.devices import NumpyDeviceBuffer

    node = stack.enter_context(NumpyDeviceBuffer(name="numpy"))
    node.configure(nb_channel=4, sample_interval=0.001, chunksize=10)
    return Rig(node)


def _simulated_eeg(stack, reconnect):
    from lslacq.devices import SimulatedEEG

    node = stack.enter_context(SimulatedEEG(name="sim"))
    node.configure(nb_channel=4, sample_rate=1000.0, chunksize=10, seed=1)
    return Rig(node)


def _openbci(stack, reconnect):
    pytest.importorskip("serial")
    from lslacq.devices.eeg_openbci import OpenBCI
    from lslacq.devices.openbci.emulator import CytonEmulator

    tmp = stack.enter_context(_tmpdir())
    emu = stack.enter_context(CytonEmulator(link=f"{tmp}/ttyOBCI"))
    node = stack.enter_context(OpenBCI(name="obci"))
    node.configure(device_handle=f"{tmp}/ttyOBCI", daisy=False, reconnect=reconnect, timeout=2.0)
    return Rig(node, emu.unplug, emu.replug)


def _emotiv(stack, reconnect):
    pytest.importorskip("usb")
    pytest.importorskip("Crypto")
    from lslacq.devices.eeg_emotiv import Emotiv
    from lslacq.devices.emotiv.emulator import EmotivBackend

    backend = EmotivBackend(serial="SN20120526998912")
    node = stack.enter_context(Emotiv(name="epoc"))
    node.configure(backend=backend, reconnect=reconnect)
    return Rig(node, backend.unplug, backend.replug)


def _webcam_av(stack, reconnect):
    pytest.importorskip("av")
    from lslacq.devices.webcam_av import WebCamAV

    node = stack.enter_context(WebCamAV(name="cam"))
    node.configure(url="testsrc=size=32x24:rate=100,realtime,format=rgb24", format="lavfi")
    return Rig(node, n_samples=5)


def _brainamp(stack, reconnect):
    from lslacq.devices import BrainAmpSocket
    from lslacq.devices.rda import RdaEmulator

    emu = stack.enter_context(
        RdaEmulator(port=0, n_channels=4, sample_rate=1000, block_duration=0.01, keepalive_interval=0.05)
    )
    node = stack.enter_context(BrainAmpSocket(name="amp"))
    node.configure(brainamp_host="127.0.0.1", brainamp_port=emu.address[1], reconnect=reconnect)
    return Rig(node, emu.drop_clients, lambda: None)  # the server drops the connection, then accepts again


def _lsl_inlet(stack, reconnect):
    pylsl = pytest.importorskip("pylsl")
    import uuid

    from lslacq_lsl import LslInlet

    name = f"conf-{uuid.uuid4().hex[:8]}"
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EEG", 4, 1000.0, "float32", name))
    stop = threading.Event()

    def push():
        chunk = np.zeros((10, 4), np.float32)
        while not stop.wait(0.01):
            outlet.push_chunk(chunk)

    pusher = threading.Thread(target=push, daemon=True, name="conformance-lsl-outlet")
    pusher.start()
    stack.callback(pusher.join, 10)
    stack.callback(stop.set)
    node = stack.enter_context(LslInlet(name="inlet"))
    node.configure(name=name, resolve_timeout=10)
    return Rig(node)


def _pyaudio(stack, reconnect):
    pytest.importorskip("pyaudio")
    from lslacq.devices.audio_pyaudio import PyAudio

    node = stack.enter_context(PyAudio(name="card"))
    node.configure(nb_channel=2, sample_rate=RATE, input_device_index=node.default_input_device(), chunksize=256)
    return Rig(node, n_samples=1000)


DEVICES = {
    "NumpyDeviceBuffer": _numpy_device,
    "SimulatedEEG": _simulated_eeg,
    "OpenBCI": _openbci,
    "Emotiv": _emotiv,
    "WebCamAV": _webcam_av,
    "BrainAmpSocket": _brainamp,
    "LslInlet": _lsl_inlet,
    "PyAudio": _pyaudio,
}
NEEDS_JACK = ("PyAudio",)  # a JACK dummy server as the sound card
UNPLUGGABLE = ("OpenBCI", "Emotiv", "BrainAmpSocket")
RECONNECTING = ("OpenBCI", "Emotiv", "BrainAmpSocket")
FAST = ("NumpyDeviceBuffer", "SimulatedEEG")  # in the fast suite; the emulated hardware in the slow one


@contextlib.contextmanager
def _tmpdir():
    import tempfile

    with tempfile.TemporaryDirectory(prefix="lslacq-conformance-") as path:
        yield path


@contextlib.contextmanager
def _rig(device: str, request, reconnect: bool = False):
    if device in NEEDS_JACK:
        request.getfixturevalue("jack_server")
    with contextlib.ExitStack() as stack:
        rig = DEVICES[device](stack, reconnect)
        signals = rig.node.outputs["signals"]
        signals.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
        rig.node.initialize()
        reader = stack.enter_context(OutputReader(signals))
        yield rig, reader


def _node_threads(node: Node) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(f"{node.name}-")]


@pytest.mark.parametrize("device", [pytest.param(d, marks=[] if d in FAST else [pytest.mark.slow]) for d in DEVICES])
def test_start_stop_start_again(device, request):
    with _rig(device, request) as (rig, reader):
        node = rig.node
        node.start()
        wait_until(lambda: reader.n >= rig.n_samples, what=f"{device}: data after start")
        node.stop()
        assert not any(w.is_alive() for w in node.workers) and _node_threads(node) == []
        first_run = node.counters()
        assert first_run["samples_out"] >= rig.n_samples and node.error is None
        seen = wait_until(
            lambda: reader.n if reader.n == first_run["samples_out"] else 0,
            what=f"{device}: every sample of the first run",
        )
        node.start()
        wait_until(lambda: reader.n >= seen + rig.n_samples, what=f"{device}: data after the second start")
        node.stop()
        assert node.error is None and not any(w.is_alive() for w in node.workers)
        positions, _ = reader.arrays()
        if node.restarts_count:  # the second run's indexes start at 0 again (pyacq's Node.start)
            assert positions[seen] == 0 or positions[seen] < positions[seen - 1], (
                device,
                positions[seen - 3 : seen + 3],
            )
        else:
            assert positions[seen] > positions[seen - 1]


@pytest.mark.parametrize("device", [pytest.param(d, marks=[] if d in FAST else [pytest.mark.slow]) for d in DEVICES])
def test_counters_are_plain_values_with_the_contract_keys(device, request):
    with _rig(device, request) as (rig, reader):
        rig.node.start()
        wait_until(lambda: reader.n >= rig.n_samples, what="data")
        counters = rig.node.counters()
        rig.node.stop()
    assert {"samples_in", "samples_out", "lost_samples", "last_index", "latency", "wait_seconds"} <= set(counters)
    assert counters["lost_samples"] == 0 and counters["samples_out"] >= rig.n_samples
    json.dumps(counters)  # plain values: they cross RPC and `lslacq run --json`


@pytest.mark.slow
@pytest.mark.parametrize("device", UNPLUGGABLE)
def test_unplug_is_reported_once_through_the_node_contract(device, caplog, request):
    with _rig(device, request) as (rig, reader):
        node = rig.node
        failures = []
        node.failed.connect(failures.append)
        node.start()
        wait_until(lambda: reader.n >= rig.n_samples, what="data")
        with caplog.at_level(logging.ERROR):
            rig.unplug()
            wait_until(lambda: failures, what=f"{device}: the unplug reported")  # emitted after error is set
        assert failures == [node.error] and isinstance(node.error, LslacqError), node.error
        reported = [r for r in caplog.records if r.exc_info and r.exc_info[1] is node.error]
        assert len(reported) == 1 and repr(node.name) in reported[0].getMessage()
        assert node.counters()["samples_out"] >= rig.n_samples  # counters still answer
        node.stop()
        assert not any(w.is_alive() for w in node.workers)


@pytest.mark.slow
@pytest.mark.parametrize("device", RECONNECTING)
def test_replug_with_reconnect_resumes_and_counts_the_gap(device, request):
    with _rig(device, request, reconnect=True) as (rig, reader):
        node = rig.node
        node.start()
        wait_until(lambda: reader.n >= rig.n_samples, what="data")
        rig.unplug()
        time.sleep(0.3)  # the scenario: the device stays away 0.3 s (not a synchronisation)
        before = node.outputs["signals"].last_index
        rig.replug()
        wait_until(
            lambda: node.counters()["reconnects"] == 1 and node.outputs["signals"].last_index > before + 20,
            what=f"{device}: data after the replug",
        )
        node.stop()
        assert node.error is None
        counters = node.counters()
        wait_until(
            lambda: reader.n == node.outputs["signals"].last_index - counters["lost_samples"], what="every sample sent"
        )
    positions, _ = reader.arrays()
    assert len(np.flatnonzero(np.diff(positions) > 1)) == 1  # one gap, where the device was away
    assert counters["lost_samples"] >= 0.2 * rig.node.gap_rate()
