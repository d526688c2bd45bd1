"""Stream monitor (pyacq manual, example 6.8, ported to lslacq).

A simple node that monitors activity on an input stream and prints details
about the packets received. ThreadPollInput is a plain thread here (no Qt).

Run: python examples/stream_monitor.py [--duration 2]
"""

import argparse
import threading

import numpy as np

from lslacq.core import Node, register_node_type
from lslacq.core.tools import ThreadPollInput
from lslacq.devices import NumpyDeviceBuffer


class StreamMonitor(Node):
    """Monitors activity on an input stream and prints details about packets received."""

    _input_specs = {"signals": {}}

    def _configure(self):
        pass

    def _initialize(self):
        # A background thread monitors the stream and calls data_received
        # whenever a packet arrives.
        self.poller = ThreadPollInput(self.input, return_data=True)
        self.poller.new_data.connect(self.data_received)
        self.packets = 0

    def _start(self):
        self.poller.start()

    def _stop(self):
        self.poller.stop()
        self.poller.wait()

    def data_received(self, ptr, data):
        self.packets += 1
        print(f"Data received: {ptr} {data.shape} {data.dtype}")


register_node_type(StreamMonitor)


def main(duration: float) -> int:
    # A data source continuously emitting 50-sample chunks twice per second.
    data = np.random.default_rng().standard_normal((2500, 7))
    dev = NumpyDeviceBuffer()
    dev.configure(nb_channel=7, sample_interval=0.01, chunksize=50, buffer=data)
    dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
    dev.initialize()

    mon = StreamMonitor()
    mon.configure()
    mon.input.connect(dev.output)
    mon.initialize()

    mon.start()
    dev.start()
    threading.Event().wait(duration)
    dev.close()
    mon.close()
    print(f"{mon.packets} packets")
    return 0 if mon.packets else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=2.0)
    raise SystemExit(main(parser.parse_args().duration))
