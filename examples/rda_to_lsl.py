"""RDA -> LSL: publish BrainVision Recorder's EEG and markers on the Lab Streaming Layer.

This is what ``lslacq bridge rda`` does, written as a graph you can extend
(insert a filter between the amplifier and the outlet, add a recorder...)::

    BrainAmpSocket --signals-->  LslOutlet "BrainAmp"          (EEG, microvolts)
                   --triggers--> LslOutlet "BrainAmp-Markers"  (Markers, on the EEG clock)

Without ``--host``, an RDA emulator is started in this process. Record the
two streams with LabRecorder, or read them with ``lslacq lsl list`` / mne-lsl::

    python examples/rda_to_lsl.py --duration 30
    python examples/rda_to_lsl.py --host 192.168.1.10 --name BrainAmp
"""

from __future__ import annotations

import argparse
import contextlib
import time

from lslacq.devices import BrainAmpSocket
from lslacq.devices.rda import RdaEmulator
from lslacq_lsl import LslOutlet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=None, help="RDA server (default: start an emulator here)")
    parser.add_argument("--port", type=int, default=51244, help="51244 float32 (default) or 51234 int16")
    parser.add_argument("--name", default="BrainAmp", help="LSL name of the EEG stream")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds to run (default 10)")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        if args.host is None:
            emulator = stack.enter_context(RdaEmulator(port=0, n_channels=16, sample_rate=1000))
            host, port = emulator.address
        else:
            host, port = args.host, args.port

        amp = stack.enter_context(BrainAmpSocket(name="amp"))
        amp.configure(brainamp_host=host, brainamp_port=port)
        for output in amp.outputs.values():
            output.configure(protocol="inproc")
        eeg = stack.enter_context(LslOutlet(name="eeg"))
        eeg.configure(name=args.name, type="EEG")
        markers = stack.enter_context(LslOutlet(name="markers"))
        markers.configure(name=args.name + "-Markers", reference=args.name)  # marker times on the EEG clock
        eeg.inputs["signals"].connect(amp.outputs["signals"])
        markers.inputs["signals"].connect(amp.outputs["triggers"])
        for node in (eeg, markers, amp):
            node.initialize()
        for node in (eeg, markers, amp):
            node.start()
        print(f"publishing {amp.start_msg} as LSL streams {args.name!r} and {args.name + '-Markers'!r}")
        t_end = time.monotonic() + args.duration
        while time.monotonic() < t_end and amp.is_streaming:
            time.sleep(1.0)
            print(f"{eeg.n_pushed} samples, {markers.n_pushed} markers published")
        if amp.error is not None:
            print(f"stopped: {amp.error}")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
