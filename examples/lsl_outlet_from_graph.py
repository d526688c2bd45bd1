"""Publish a graph on the Lab Streaming Layer: simulated EEG + stimulus markers -> two LSL outlets.

A SimulatedEEG device node (32 channels at 500 Hz) feeds an LslOutlet for the
signal and a second LslOutlet for its events. The marker outlet takes its
timestamps from the EEG outlet's sample clock (``reference``), so in
LabRecorder/XDF every marker sits exactly on the EEG sample it refers to.

While it runs, any LSL consumer sees the two streams: LabRecorder, mne-lsl's
StreamLSL, ``lslacq lsl list``, or lslacq's StreamWatcher.

Run: python examples/lsl_outlet_from_graph.py [--duration 10] [--name MyEEG]
"""

import argparse
import time

from lslacq.devices.simulated_eeg import SimulatedEEG
from lslacq_lsl import LslOutlet


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds to run")
    parser.add_argument("--name", default="example-EEG", help="LSL name of the EEG stream")
    args = parser.parse_args()

    device = SimulatedEEG(name="device")
    device.configure(nb_channel=32, sample_rate=500.0, event_interval=1.0)
    device.outputs["signals"].configure(protocol="inproc")
    device.outputs["events"].configure(protocol="inproc")

    eeg = LslOutlet(name="eeg")
    # channel names/units/types, rate and acquisition metadata come from the device's spec
    eeg.configure(name=args.name, type="EEG")
    eeg.inputs["signals"].connect(device.outputs["signals"])

    markers = LslOutlet(name="markers")
    markers.configure(name=args.name + "-Markers", type="Markers", reference="eeg")
    markers.inputs["signals"].connect(device.outputs["events"])

    nodes = [device, eeg, markers]  # closed in this order: the source first
    try:
        for node in nodes:
            node.initialize()
        print(f"publishing {eeg.info.name()!r} (source_id {eeg.source_id!r}) and {markers.info.name()!r}")
        for node in reversed(nodes):  # outlets first, so they see the first sample
            node.start()
        t_end = time.monotonic() + args.duration
        while time.monotonic() < t_end:
            time.sleep(1.0)
            print(f"EEG samples pushed: {eeg.n_pushed}, markers pushed: {markers.n_pushed}")
    except KeyboardInterrupt:
        pass
    finally:
        for node in nodes:
            node.close()  # stops first if running


if __name__ == "__main__":
    main()
