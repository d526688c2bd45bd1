r"""Evoked responses online: device -> band-pass -> epochs around triggers -> running average.

The graph::

    NumpyDeviceBuffer --signals--> SosFilter(1-30 Hz) --signals--> TriggerAccumulator
            \--signals--> AnalogTrigger(trigger channel) --events--^

A simulated 8-channel EEG (1 kHz) carries, on its last channel, a 5 V TTL
pulse every 0.7 s; 120 ms after each pulse the EEG channels show an evoked
wave buried in noise. AnalogTrigger turns the pulses into events (absolute
sample indexes), TriggerAccumulator cuts epochs from -0.1 s to +0.4 s around
them, and the running average of the stack brings the evoked wave out of the
noise. Halfway through, the band-pass is narrowed online
(``filt.params['coefficients'] = ...``). The causal band-pass delays the peak
by its group delay (about 15 ms here); OverlapFiltfilt in place of SosFilter
would not, at the cost of an output delayed by its ``overlapsize``.

Run: ``python examples/dsp_triggered_average.py [--duration 10]``.
"""

from __future__ import annotations

import argparse
import threading

import numpy as np

SAMPLE_RATE = 1000.0
N_EEG = 7
PERIOD = 0.7  # s between triggers
LATENCY = 0.12  # s from trigger to the evoked peak


def make_buffer(chunksize: int = 50, seconds: float = 14.0, seed: int = 0) -> np.ndarray:
    """EEG noise with an evoked wave after each trigger pulse; the last channel is the trigger line."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE) // chunksize * chunksize
    t = np.arange(n) / SAMPLE_RATE
    data = np.zeros((n, N_EEG + 1), np.float32)
    data[:, :N_EEG] = 10.0 * rng.standard_normal((n, N_EEG))  # uV of noise
    onsets = np.arange(0.3, seconds - 1.0, PERIOD)
    for onset in onsets:
        i = int(onset * SAMPLE_RATE)
        data[i : i + 10, N_EEG] = 5.0  # 10 ms TTL pulse
        wave = 8.0 * np.exp(-0.5 * ((t - onset - LATENCY) / 0.03) ** 2)  # 8 uV evoked peak
        data[:, :N_EEG] += wave[:, None].astype(np.float32)
    return data


def build_graph(chunksize: int = 50, stack_size: int = 100):
    from lslacq.devices import NumpyDeviceBuffer
    from lslacq.dsp import AnalogTrigger, SosFilter, TriggerAccumulator, design_sos

    dev = NumpyDeviceBuffer(name="eeg")
    dev.configure(
        nb_channel=N_EEG + 1, sample_interval=1 / SAMPLE_RATE, chunksize=chunksize, buffer=make_buffer(chunksize)
    )
    dev.output.configure(protocol="inproc", transfermode="plaindata")
    dev.initialize()

    filt = SosFilter(name="bandpass")
    filt.configure(coefficients=design_sos("bandpass", [1.0, 30.0], SAMPLE_RATE, order=2))
    filt.input.connect(dev.output)
    filt.output.configure(protocol="inproc")
    filt.initialize()

    trig = AnalogTrigger(name="ttl")
    trig.configure(channel=N_EEG, threshold=2.5, front="+", debounce_mode="before-stable", debounce_time=0.05)
    trig.input.connect(dev.output)
    trig.output.configure(protocol="inproc")
    trig.initialize()

    acc = TriggerAccumulator(name="epochs")
    acc.configure(max_stack_size=stack_size, left_sweep=-0.1, right_sweep=0.4, stack_size=stack_size)
    acc.inputs["signals"].connect(filt.output)
    acc.inputs["events"].connect(trig.output)
    acc.initialize()
    return dev, filt, trig, acc


def run(duration: float = 10.0, verbose: bool = True) -> dict:
    """Run the graph for ``duration`` seconds; return the average epoch and its times."""
    from lslacq.dsp import design_sos

    nodes = build_graph()
    dev, filt, trig, acc = nodes
    halfway = threading.Event()
    finished = threading.Event()
    n_expected = max(1, int((duration - 0.3 - 0.4) / PERIOD))

    def on_epoch(total_trig: int) -> None:
        if verbose:
            avg = acc.get_epochs()[:, :N_EEG].mean(axis=(0, 1))
            peak = acc.t_vect[int(np.argmax(avg))]
            print(f"epoch {total_trig:3d}: averaged evoked peak {avg.max():5.2f} uV at {peak * 1000:4.0f} ms")
        if total_trig >= n_expected // 2:
            halfway.set()
        if total_trig >= n_expected:
            finished.set()

    acc.new_chunk.connect(on_epoch)
    try:
        for node in (acc, filt, trig, dev):
            node.start()
        if halfway.wait(duration + 10):
            # narrower band, online: the new filter starts from its steady state (no glitch)
            filt.params["coefficients"] = design_sos("bandpass", [2.0, 20.0], SAMPLE_RATE, order=2)
        finished.wait(duration + 10)
        epochs = acc.get_epochs()
        return {
            "t": acc.t_vect.copy(),
            "average": epochs[:, :N_EEG].mean(axis=(0, 1)),
            "n_epochs": len(epochs),
            "total_trig": acc.total_trig,
            "errors": [n.error for n in (filt, trig, acc)],
        }
    finally:
        for node in (dev, trig, filt, acc):
            if node.running():
                node.stop()
        for node in nodes:
            node.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of acquisition")
    args = parser.parse_args(argv)
    result = run(args.duration)
    peak = result["t"][int(np.argmax(result["average"]))]
    print(
        f"{result['total_trig']} epochs; evoked peak at {peak * 1000:.0f} ms (simulated: {LATENCY * 1000:.0f} ms, "
        "plus the causal filter's group delay)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
