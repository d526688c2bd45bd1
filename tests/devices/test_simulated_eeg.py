"""Simulated EEG: realistic spectrum, alpha, events with evoked responses, and the paced device node."""

from __future__ import annotations

import numpy as np
import pytest

from lslacq.core.stream import InputStream
from lslacq.devices.simulated_eeg import STANDARD_32, EEGSimulator, SimulatedEEG
from lslacq.dsp.events import EVENT_DTYPE

signal = pytest.importorskip("scipy.signal")


def _run(sim, seconds, chunk=25):
    parts = [sim.generate(chunk) for _ in range(int(seconds * sim.sample_rate) // chunk)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


@pytest.mark.slow
def test_spectrum_is_one_over_f_with_occipital_alpha():
    sim = EEGSimulator(32, 500.0, seed=3, event_interval=0)
    data, events = _run(sim, 60)
    assert data.dtype == np.float32 and data.shape == (30000, 32) and len(events) == 0
    f, pxx = signal.welch(data, fs=500.0, nperseg=1000, axis=0)
    oz, fz = STANDARD_32.index("Oz"), STANDARD_32.index("Fz")
    band = (f > 2) & (f < 40) & ((f < 7) | (f > 14))
    slope = np.polyfit(np.log(f[band]), np.log(pxx[band, fz]), 1)[0]
    assert -2.2 < slope < -0.6  # 1/f^a background
    sel = (f > 5) & (f < 15)
    assert 9 <= f[sel][np.argmax(pxx[sel, oz])] <= 11  # alpha peak
    alpha = (f > 8) & (f < 12)
    assert pxx[alpha, oz].mean() > 5 * pxx[alpha, fz].mean()  # alpha is posterior
    assert 5 < data.std() < 60  # tens of microvolts


@pytest.mark.slow
def test_events_are_periodic_and_evoke_a_p300():
    sim = EEGSimulator(32, 500.0, seed=4, event_interval=1.0, erp_amplitude=10.0)
    data, events = _run(sim, 120)
    assert events.dtype == EVENT_DTYPE
    np.testing.assert_array_equal(events["index"], np.arange(1, len(events) + 1) * 500)
    assert events["description"][:2].tolist() == [b"S  1", b"S  2"] and events["code"][:2].tolist() == [1, 2]
    pz = STANDARD_32.index("Pz")
    epochs = np.stack([data[i - 50 : i + 300, pz] for i in events["index"][:-1]])
    erp = epochs.mean(axis=0) - epochs[:, :50].mean()
    assert erp[50 + 150] > 5  # positive peak ~300 ms after the stimulus
    assert erp[50 + 50] < 0  # N100


def test_same_seed_same_signal_and_bad_arguments():
    a, _ = _run(EEGSimulator(4, 250.0, seed=9), 2, chunk=10)
    b, _ = _run(EEGSimulator(4, 250.0, seed=9), 2, chunk=10)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="alpha_freq"):
        EEGSimulator(4, 100.0, alpha_freq=60)
    with pytest.raises(ValueError, match="nb_channel"):
        EEGSimulator(0)
    assert EEGSimulator(34).channel_names[-2:] == ["EEG33", "EEG34"]


@pytest.mark.slow
def test_device_node_streams_contiguous_chunks_and_events():
    dev = SimulatedEEG(name="sim")
    dev.configure(nb_channel=8, sample_rate=1000.0, chunksize=20, event_interval=0.1, seed=1)
    for out in dev.outputs.values():
        out.configure(protocol="inproc")
    spec = dev.outputs["signals"].params
    assert spec["shape"] == (-1, 8) and spec["sample_rate"] == 1000.0
    assert spec["channel_names"] == list(STANDARD_32[:8]) and spec["channel_units"] == ["microvolts"] * 8
    sig, evs = InputStream(), InputStream()
    sig.connect(dev.outputs["signals"])
    evs.connect(dev.outputs["events"])
    with dev, sig, evs:
        dev.initialize()
        dev.start()
        total = 0
        while total < 1000:
            index, data = sig.recv(timeout=10_000)
            assert data.shape == (20, 8) and index == total + 20
            total = index
        _, events = evs.recv(timeout=10_000)
        assert events.dtype == EVENT_DTYPE and events["index"][0] == 100
        dev.stop()
        assert dev.error is None and dev.n_sent >= 1000 and sig.lost_samples == 0


def test_events_output_is_optional_and_failures_reach_the_node_contract(caplog):
    """Only 'signals' configured: initialize() accepts it; a generator failure is node.error, logged once."""
    dev = SimulatedEEG(name="sim")
    dev.configure(nb_channel=2, sample_rate=1000.0, chunksize=10, event_interval=0.02, seed=1)
    dev.outputs["signals"].configure(protocol="inproc")
    sig = InputStream()
    sig.connect(dev.outputs["signals"])
    failures = []
    dev.failed.connect(failures.append)
    with dev, sig:
        dev.initialize()
        dev.start()
        index = 0
        while index < 100:  # events are due every 20 samples: not sent, no error
            index, _ = sig.recv(timeout=10_000)
        assert dev.error is None and dev.n_events == 0
        generate = dev.simulator.generate

        def broken(n):
            raise MemoryError("simulated")

        with caplog.at_level("ERROR"):
            dev.simulator.generate = broken
            assert dev._loop is not None
            dev._loop.join(10)
        dev.simulator.generate = generate
        assert isinstance(dev.error, MemoryError) and failures == [dev.error]
        assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 1
        assert "node 'sim' (SimulatedEEG) failed while generating the signal" in caplog.text
        assert dev.counters()["samples_out"] == dev.n_sent
