"""OpenBCI -> LSL: publish a Cyton (or Cyton + Daisy) board's EEG and accelerometer on the Lab Streaming Layer.

This is what ``lslacq bridge openbci --port PORT`` does, written as a graph you
can extend (a filter between the board and the outlet, a recorder...)::

    OpenBCI --signals--> LslOutlet "OpenBCI"      (EEG, microvolts, channel names)
            --aux------> LslOutlet "OpenBCI-aux"  (accelerometer, g)

Without ``--port``, a Cyton emulator (``--daisy``: with a Daisy) is started in
this process on a pseudo-terminal, and the node talks to it through pyserial
exactly as to a board::

    python examples/openbci_to_lsl.py --duration 30
    python examples/openbci_to_lsl.py --port /dev/ttyUSB0 --name MyCyton
"""

from __future__ import annotations

import argparse
import contextlib
import time

from lslacq.devices import OpenBCI
from lslacq.devices.emulators.openbci import CytonEmulator
from lslacq_lsl import LslOutlet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", default=None, help="serial port of the dongle (default: start an emulator here)")
    parser.add_argument("--daisy", action="store_true", help="the emulator has a Daisy (16 channels)")
    parser.add_argument("--name", default="OpenBCI", help="LSL name of the EEG stream")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds to run (default 10)")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        port = args.port
        if port is None:
            port = stack.enter_context(CytonEmulator(daisy=args.daisy)).port

        board = stack.enter_context(OpenBCI(name="board"))
        board.configure(device_handle=port)  # daisy='auto': the board says whether a Daisy is attached
        for output in board.outputs.values():
            output.configure(protocol="inproc")
        eeg = stack.enter_context(LslOutlet(name="eeg"))
        eeg.configure(name=args.name, type="EEG")
        accel = stack.enter_context(LslOutlet(name="accel"))
        accel.configure(name=args.name + "-aux", type="Accelerometer")
        eeg.inputs["signals"].connect(board.outputs["signals"])
        accel.inputs["signals"].connect(board.outputs["aux"])
        for node in (eeg, accel, board):
            node.initialize()
        for node in (eeg, accel, board):
            node.start()
        print(
            f"publishing {board.n_channels} channels at {board.sample_rate:g} Hz from {port} as LSL streams "
            f"{args.name!r} and {args.name + '-aux'!r}"
        )
        t_end = time.monotonic() + args.duration
        while time.monotonic() < t_end and board.error is None:
            time.sleep(min(1.0, max(0.0, t_end - time.monotonic())))
            c = board.counters()
            print(f"{eeg.n_pushed} samples published, {c['lost_packets']} packets lost")
        if board.error is not None:
            print(f"stopped: {board.error}")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
