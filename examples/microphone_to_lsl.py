"""Microphone -> LSL: a sound card input published on the Lab Streaming Layer.

This is what ``lslacq bridge audio`` does, written as a graph you can extend
(insert a filter between the card and the outlet, add a recorder...)::

    PyAudio --signals--> LslOutlet "Microphone"  (type Audio, one channel per audio channel)

LabRecorder, mne-lsl or ``lslacq lsl watch Microphone`` then see the stream.
Without a sound card, ``--jack-dummy`` starts a JACK dummy server (apt
install jackd2) for the duration of the script: a paced card that records
silence::

    python examples/microphone_to_lsl.py --duration 10
    python examples/microphone_to_lsl.py --device 3 --channels 2 --rate 48000
    python examples/microphone_to_lsl.py --jack-dummy --duration 5
"""

from __future__ import annotations

import argparse
import contextlib
import time

from lslacq.devices.audio_pyaudio import PyAudio
from lslacq_lsl import LslOutlet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", type=int, default=None, help="input device index (default: the default input)")
    parser.add_argument("--channels", type=int, default=1, help="channels to record (default 1)")
    parser.add_argument("--rate", type=float, default=None, help="sample rate (default: the device's)")
    parser.add_argument("--name", default="Microphone", help="LSL stream name (default Microphone)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds to run (default 10)")
    parser.add_argument("--jack-dummy", action="store_true", help="start a JACK dummy server as the sound card")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        if args.jack_dummy:
            from lslacq.devices.emulators.jack import JackDummyServer

            stack.enter_context(JackDummyServer(rate=int(args.rate or 44100)))

        mic = stack.enter_context(PyAudio(name="mic"))
        default_input = mic.default_input_device()
        devices = mic.list_device_specs()
        print("input devices (* = default):")
        for device in devices:
            if device["maxInputChannels"] > 0:
                star = "*" if device["index"] == default_input else " "
                print(f" {star} {device['index']}: {device['name']} ({device['defaultSampleRate']:g} Hz)")
        index = args.device if args.device is not None else default_input
        rate = args.rate or (devices[index]["defaultSampleRate"] if index is not None else 44100.0)
        mic.configure(
            nb_channel=args.channels, sample_rate=rate, input_device_index=index, format="int16", chunksize=512
        )
        mic.output.configure(protocol="inproc")

        outlet = stack.enter_context(LslOutlet(name="outlet"))
        outlet.configure(name=args.name, type="Audio")
        outlet.inputs["signals"].connect(mic.output)
        outlet.initialize()
        mic.initialize()
        outlet.start()
        mic.start()
        print(f"publishing device {index} ({args.channels} ch, {rate:g} Hz) as LSL stream {args.name!r}")
        t_end = time.monotonic() + args.duration
        while time.monotonic() < t_end and mic.error is None and outlet.error is None:
            time.sleep(min(1.0, max(0.0, t_end - time.monotonic())))
            counters = mic.counters()
            print(f"{outlet.n_pushed} samples published, input overflows {counters['input_overflows']}")
        mic.stop()
        outlet.stop()
        error = mic.error or outlet.error
        if error is not None:
            print(f"stopped: {error}")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
