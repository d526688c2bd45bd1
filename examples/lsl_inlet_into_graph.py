"""Bring an LSL stream into a graph: LslInlet -> a node that tracks alpha power per channel.

The LslInlet resolves the stream in configure() (so its output spec, with the
LSL channel labels, units and rate, is known before anything is connected),
then sends the samples on ``signals`` and one LSL timestamp per sample on
``timestamps``. Downstream here is a small AlphaMonitor node that buffers one
second and prints the channel with the most 8-12 Hz power.

With no argument the script also starts its own simulated EEG outlet, so it
runs anywhere; pass --name to read an existing stream instead (for example the
one ``lslacq demo`` publishes: --name lslacq-EEG).

Run: python examples/lsl_inlet_into_graph.py [--name lslacq-EEG] [--duration 6]
"""

import argparse
import time

import numpy as np

from lslacq.core.node import Node
from lslacq.core.tools import ThreadPollInput
from lslacq_lsl import LslInlet


class AlphaMonitor(Node):
    """Prints, once per second of signal, the channel with the strongest alpha (8-12 Hz) power."""

    _input_specs = {"signals": {}}

    def _initialize(self):
        params = self.input.params
        self.srate = params["sample_rate"]
        self.names = params.get("channel_names") or [str(i) for i in range(params.frame_shape[0])]
        self.window = int(self.srate)
        self.input.set_buffer(size=self.window * 4)
        self.next_report = self.window
        self.reports = 0
        self.poller = ThreadPollInput(self.input, return_data=True)
        self.poller.new_data.connect(self.on_data)

    def on_data(self, index, data):
        if index < self.next_report:
            return
        segment = self.input.get_data(index - self.window, index)
        spectrum = np.abs(np.fft.rfft(segment - segment.mean(axis=0), axis=0)) ** 2
        freqs = np.fft.rfftfreq(self.window, 1 / self.srate)
        alpha = spectrum[(freqs >= 8) & (freqs <= 12)].mean(axis=0)
        best = int(np.argmax(alpha))
        print(f"sample {index}: strongest alpha on {self.names[best]} ({alpha[best]:.3g})")
        self.next_report += self.window
        self.reports += 1

    def _start(self):
        self.poller.start()

    def _stop(self):
        self.poller.stop()
        self.poller.wait()


def start_own_source(name):
    from lslacq.devices.simulated_eeg import SimulatedEEG
    from lslacq_lsl import LslOutlet

    device = SimulatedEEG(name="device")
    device.configure(nb_channel=32, sample_rate=250.0, event_interval=0)
    device.outputs["signals"].configure(protocol="inproc")
    device.outputs["events"].configure(protocol="inproc")
    outlet = LslOutlet(name="source")
    outlet.configure(name=name)
    outlet.inputs["signals"].connect(device.outputs["signals"])
    for node in (outlet, device):
        node.initialize()
        node.start()
    return [device, outlet]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", help="LSL stream to read (default: start a simulated one)")
    parser.add_argument("--duration", type=float, default=6.0)
    args = parser.parse_args()

    own = [] if args.name else start_own_source("example-inlet-source")
    name = args.name or "example-inlet-source"
    inlet = LslInlet(name="inlet")
    monitor = AlphaMonitor(name="alpha")
    try:
        inlet.configure(name=name, resolve_timeout=10)
        print("reading", inlet.description.summary())
        inlet.outputs["signals"].configure(protocol="inproc")
        inlet.outputs["timestamps"].configure(protocol="inproc")
        monitor.configure()
        monitor.input.connect(inlet.outputs["signals"])
        for node in (monitor, inlet):
            node.initialize()
            node.start()
        time.sleep(args.duration)
        print(f"received {inlet.n_received} samples, gaps: {inlet.n_gaps}, alpha reports: {monitor.reports}")
    except KeyboardInterrupt:
        pass
    finally:
        for node in (inlet, monitor, *own):
            node.close()


if __name__ == "__main__":
    main()
