"""A two-node graph for the command-line tests: a source sending a counter and a sink counting chunks."""

import threading

import numpy as np

from lslacq.core.node import Node


class Counter(Node):
    _output_specs = {"signals": dict(streamtype="analogsignal", dtype="float32", shape=(-1, 1), sample_rate=100.0)}

    def _configure(self):
        self.n_pushed = 0
        self._halt = threading.Event()

    def _start(self):
        self._halt.clear()
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self):
        while not self._halt.wait(0.01):
            self.outputs["signals"].send(np.full((1, 1), self.n_pushed, "float32"))
            self.n_pushed += 1

    def _stop(self):
        self._halt.set()
        self._thread.join(10)


class Drain(Node):
    _input_specs = {"signals": {}}

    def _configure(self):
        self.n_received = 0
        self._halt = threading.Event()

    def _start(self):
        self._halt.clear()
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self):
        while not self._halt.is_set():
            if self.inputs["signals"].poll(timeout=50):
                self.inputs["signals"].recv()
                self.n_received += 1

    def _stop(self):
        self._halt.set()
        self._thread.join(10)


def build_graph(rate: float = 100.0, label: str = ""):
    src = Counter(name="counter")
    src.configure()
    src.outputs["signals"].spec["sample_rate"] = float(rate)
    src.outputs["signals"].configure(protocol="inproc")
    sink = Drain(name="drain")
    sink.configure()
    sink.inputs["signals"].connect(src.outputs["signals"])
    return [src, sink]
