"""Marker-locked averaging of BrainAmp EEG from BrainVision Recorder, in an lslacq graph.

    BrainAmpSocket --signals--> SosFilter(1-30 Hz) --signals--> TriggerAccumulator
                   --triggers (Recorder markers) ---------------------^

Every Recorder marker (``S  1``, ``R  2``...) becomes an event on the
``triggers`` output at the absolute sample it marks; TriggerAccumulator cuts
the filtered EEG from -0.2 s to +0.8 s around each one and keeps the last
``--stack`` epochs, whose average is printed as it grows. Without ``--host``
an RDA emulator runs in this process (its sines are phase-locked to its
markers, so the average equals every epoch).

Run: ``python examples/rda_erp.py [--host 192.168.1.10] [--duration 10]``.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np

from lslacq.devices import BrainAmpSocket
from lslacq.devices.rda import RdaEmulator
from lslacq.dsp import SosFilter, TriggerAccumulator, design_sos


def build_graph(host: str, port: int, stack: int):
    amp = BrainAmpSocket(name="amp")
    amp.configure(brainamp_host=host, brainamp_port=port)
    for output in amp.outputs.values():
        output.configure(protocol="inproc")
    filt = SosFilter(name="bandpass")
    filt.configure(coefficients=design_sos("bandpass", [1.0, 30.0], amp.sample_rate, order=2))
    filt.input.connect(amp.outputs["signals"])
    filt.output.configure(protocol="inproc")
    acc = TriggerAccumulator(name="epochs")
    acc.configure(max_stack_size=stack, left_sweep=-0.2, right_sweep=0.8, stack_size=stack)
    acc.inputs["signals"].connect(filt.output)
    acc.inputs["events"].connect(amp.outputs["triggers"])
    for node in (acc, filt, amp):
        node.initialize()
    return amp, filt, acc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=None, help="RDA server (default: start an emulator here)")
    parser.add_argument("--port", type=int, default=51244, help="51244 float32 (default) or 51234 int16")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds to run (default 6)")
    parser.add_argument("--stack", type=int, default=3, help="number of epochs averaged (default 3)")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        if args.host is None:
            emulator = stack.enter_context(RdaEmulator(port=0, n_channels=8, sample_rate=1000, marker_interval=1.0))
            host, port = emulator.address
        else:
            host, port = args.host, args.port
        amp, filt, acc = build_graph(host, port, args.stack)
        for node in (amp, filt, acc):
            stack.callback(node.close)
        for node in (acc, filt, amp):
            node.start()
        print(f"{amp.start_msg}; averaging {args.stack} epochs from -0.2 to 0.8 s around each marker")
        names = amp.channel_names
        t_end = time.monotonic() + args.duration
        shown = 0
        while time.monotonic() < t_end:
            time.sleep(0.2)
            if acc.total_trig > shown:
                shown = acc.total_trig
                epochs = acc.get_epochs()  # (n, channel, time)
                average = epochs.mean(axis=0)
                peak = np.abs(average).max(axis=1)
                print(
                    f"epoch {shown}: average of {len(epochs)}, peak |uV| "
                    + " ".join(f"{n}={p:.1f}" for n, p in zip(names[1:], peak[1:], strict=True)),
                    flush=True,
                )
        for node in (amp, filt, acc):
            node.stop()
        if amp.error is not None:
            print(f"stopped: {amp.error}")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
