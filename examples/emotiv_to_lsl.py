"""Emotiv -> LSL: publish an Emotiv EPOC headset's EEG and contact quality on the Lab Streaming Layer.

This is what ``lslacq bridge emotiv`` does, written as a graph you can extend::

    Emotiv --signals--> LslOutlet "Emotiv"          (14 EEG channels, microvolts, channel names)
           --quality--> LslOutlet "Emotiv-quality"  (contact quality per electrode)

Without ``--usb`` the node reads the shipped emulator, a pyusb backend object
(lslacq.devices.emulators.emotiv.EmotivBackend), through the real pyusb code
path; with ``--usb`` it finds the dongle with libusb (``--hidraw /dev/hidrawN``
reads Linux hidraw instead)::

    python examples/emotiv_to_lsl.py --duration 30
    python examples/emotiv_to_lsl.py --usb --key auto
"""

from __future__ import annotations

import argparse
import contextlib
import time

from lslacq.devices import Emotiv
from lslacq_lsl import LslOutlet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--usb", action="store_true", help="read a real dongle (default: the emulator)")
    parser.add_argument("--hidraw", default=None, metavar="PATH", help="read a real dongle through Linux hidraw")
    parser.add_argument("--key", default="auto", help="key variant (consumer, research_emokit, consumer_doc, auto)")
    parser.add_argument("--name", default="Emotiv", help="LSL name of the EEG stream")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds to run (default 10)")
    args = parser.parse_args()

    backend = None
    if not (args.usb or args.hidraw):
        from lslacq.devices.emulators.emotiv import EmotivBackend

        backend = EmotivBackend(key_variant="consumer_doc")  # a dongle whose key is not the default one
    with contextlib.ExitStack() as stack:
        headset = stack.enter_context(Emotiv(name="headset"))
        headset.configure(device_handle=args.hidraw, backend=backend, key=args.key)
        headset.outputs["signals"].configure(protocol="inproc")
        headset.outputs["quality"].configure(protocol="inproc")
        eeg = stack.enter_context(LslOutlet(name="eeg"))
        eeg.configure(name=args.name, type="EEG")
        quality = stack.enter_context(LslOutlet(name="quality"))
        quality.configure(name=args.name + "-quality", type="ContactQuality")
        eeg.inputs["signals"].connect(headset.outputs["signals"])
        quality.inputs["signals"].connect(headset.outputs["quality"])
        for node in (eeg, quality, headset):
            node.initialize()
        for node in (eeg, quality):
            node.start()
        headset.start()
        print(
            f"dongle {headset.serial}, key variant {headset.key_variant!r}: publishing LSL streams "
            f"{args.name!r} and {args.name + '-quality'!r}"
        )
        t_end = time.monotonic() + args.duration
        while time.monotonic() < t_end and headset.error is None:
            time.sleep(min(1.0, max(0.0, t_end - time.monotonic())))
            c = headset.counters()
            print(f"{eeg.n_pushed} samples published, {c['lost_packets']} reports lost, battery {c['battery']:.0f} %")
        if headset.error is not None:
            print(f"stopped: {headset.error}")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
