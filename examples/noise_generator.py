"""Noise generator node (pyacq manual, example 6.2, ported to lslacq).

A custom Node that generates gaussian noise. pyacq paced it with a QTimer;
lslacq nodes need no Qt, so a PacedLoop thread does it. The data is read
here by a plain InputStream (a viewer such as QOscilloscope can connect the
same way).

Run: python examples/noise_generator.py [--duration 3]
"""

import argparse

import numpy as np

from lslacq.core import InputStream, Node, register_node_type
from lslacq.devices.numpy_device import PacedLoop


class NoiseGenerator(Node):
    """A simple example node that generates gaussian noise."""

    _output_specs = {"signals": dict(streamtype="analogsignal", dtype="float32", shape=(-1, 1), compression="")}

    def _configure(self, chunksize=100, sample_rate=1000.0):
        self.chunksize = chunksize
        self.sample_rate = sample_rate
        self.output.spec["shape"] = (-1, 1)
        self.output.spec["sample_rate"] = sample_rate
        self.output.spec["buffer_size"] = 1000

    def _initialize(self):
        self.head = 0
        self.rng = np.random.default_rng()

    def _start(self):
        self.timer = PacedLoop(self.send_data, self.chunksize / self.sample_rate, name=f"{self.name}-timer")
        self.timer.start()

    def _stop(self):
        self.timer.stop()

    def _close(self):
        pass

    def send_data(self):
        self.head += self.chunksize
        self.output.send(self.rng.normal(size=(self.chunksize, 1)).astype("float32"), index=self.head)


# Registering the class lets a remote NodeGroup create it by name.
register_node_type(NoiseGenerator)


def main(duration: float) -> int:
    ng = NoiseGenerator()
    ng.configure()
    ng.output.configure(protocol="inproc", transfermode="sharedmem")
    ng.initialize()

    inp = InputStream()
    inp.connect(ng.output)
    ng.start()
    n_chunks = int(duration * ng.sample_rate / ng.chunksize)
    for _ in range(n_chunks):
        index, data = inp.recv(with_data=True, timeout=5000)
        print(f"received up to sample {index}: mean {data.mean():+.3f}, std {data.std():.3f}")
    ng.close()
    inp.close()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0)
    raise SystemExit(main(parser.parse_args().duration))
