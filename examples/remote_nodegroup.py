"""
Remote nodegroup

A device node runs in a nodegroup process started by a Manager (itself in its
own process); this script reads the device's stream locally and prints what it
receives. Kill the nodegroup process while it runs (see the printed pid) to
watch the manager report it.

    python examples/remote_nodegroup.py --duration 3
"""

import argparse
import time

import numpy as np

from lslacq import InputStream, create_manager


def main(duration: float) -> None:
    manager = create_manager()  # manager process + log server in this one
    nodegroup = manager.create_nodegroup("acquisition")
    print("nodegroup pid:", nodegroup._client()._import("os").getpid())

    dev = nodegroup.create_node("NumpyDeviceBuffer", name="dev0")
    data = np.random.default_rng().standard_normal((2500, 7))
    dev.configure(nb_channel=7, sample_interval=0.01, chunksize=50, buffer=data)
    dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
    dev.initialize()

    inp = InputStream()
    inp.connect(dev.output)  # a local input reads the remote output
    manager.start_all()
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        if inp.poll(200):
            index, chunk = inp.recv()
            print(f"received up to sample {index}: {chunk.shape} {chunk.dtype}")
    manager.stop_all()
    for info in manager.list_nodegroups(details=True):
        print(f"nodegroup {info['name']}: {info['state']}")
    inp.close()
    manager.close()  # closes the nodegroup and the manager process


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    main(parser.parse_args().duration)
