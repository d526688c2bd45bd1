"""
Audio triggered oscilloscope

The pyacq manual's example 6.6, ported: audio data streamed to a
QTriggeredOscilloscope, which displays the incoming waveform time-aligned to
the rising phase of the sound wave. Without ``--pyaudio`` the device is a
simulated microphone (a NumpyDeviceBuffer at 44.1 kHz, int16: every 0.8 s a
0.3 s pressure pulse carrying a 220 Hz tone, in noise); with it, PyAudio's
default input. The trigger settings are the manual's: a crossing of 1 that
stays above it for 0.1 s ('after-stable'), so the noise does not trigger.

    python examples/audio_triggered_oscilloscope.py                # until the window is closed
    python examples/audio_triggered_oscilloscope.py --pyaudio      # the default microphone
    python examples/audio_triggered_oscilloscope.py --duration 3   # quit after 3 s
"""

import argparse
import json

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore

from lslacq.devices import NumpyDeviceBuffer
from lslacq.viewers import QTriggeredOscilloscope

SAMPLE_RATE = 44100.0
CHUNKSIZE = 1024


def simulated_microphone():
    """Return a 0.3 s pressure pulse with a 220 Hz tone every 0.8 s (looped), in noise."""
    n = CHUNKSIZE * 69  # ~1.6 s
    t = np.arange(n) / SAMPLE_RATE
    envelope = ((t % 0.8) < 0.3).astype(float)
    pulse = envelope * (2000 + 1000 * np.sin(2 * np.pi * 220 * t))
    sound = pulse + 100 * np.random.default_rng(0).standard_normal(n)
    dev = NumpyDeviceBuffer()
    dev.configure(
        nb_channel=1, sample_interval=1.0 / SAMPLE_RATE, chunksize=CHUNKSIZE, buffer=sound.astype("int16")[:, None]
    )
    return dev


def main(use_pyaudio, duration, screenshot=None):
    # Start Qt application
    app = pg.mkQApp()

    if use_pyaudio:
        from lslacq.devices.audio_pyaudio import PyAudio

        # Create PyAudio device node
        dev = PyAudio()
        # Print a list of available input devices (but ultimately we will just use the
        # default device).
        default_input = dev.default_input_device()
        print("\nAvailable devices:")
        for device in dev.list_device_specs():
            index = device["index"]
            star = "*" if index == default_input else " "
            print(f" {star} {index}: {device['name']}")
        # Configure PyAudio device with a single (default) input channel.
        dev.configure(
            nb_channel=1, sample_rate=SAMPLE_RATE, input_device_index=default_input, format="int16", chunksize=CHUNKSIZE
        )
    else:
        dev = simulated_microphone()
    dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
    dev.initialize()

    # Create a triggered oscilloscope to display data.
    viewer = QTriggeredOscilloscope()
    viewer.configure(with_user_dialog=True)

    # Connect audio stream to oscilloscope
    viewer.input.connect(dev.output)
    viewer.initialize()
    viewer.show()
    viewer.params["ylim_min"], viewer.params["ylim_max"] = -5000.0, 5000.0

    viewer.trigger.params["threshold"] = 1.0
    viewer.trigger.params["debounce_mode"] = "after-stable"
    viewer.trigger.params["front"] = "+"
    viewer.trigger.params["debounce_time"] = 0.1
    viewer.triggeraccumulator.params["stack_size"] = 3
    viewer.triggeraccumulator.params["left_sweep"] = -0.2
    viewer.triggeraccumulator.params["right_sweep"] = 0.5

    # Start both nodes
    dev.start()
    viewer.start()

    def finish():
        if screenshot:  # what the window shows, and where its parts are (the tests check it)
            viewer.grab().save(screenshot)
            print(
                "frame geometry:",
                json.dumps({"labels": len(viewer.gutter.boxes), "scale_bar": (viewer.scale_bar.bar or [None] * 3)[2]}),
                flush=True,
            )
        app.quit()

    if duration is not None:
        QtCore.QTimer.singleShot(int(duration * 1000), finish)
    pg.exec()

    counters = viewer.counters()
    print(
        f"samples received: {counters['samples_in']}, triggers: {counters['triggers']}, "
        f"sweeps stacked: {len(viewer.triggeraccumulator.get_epochs())}, frames drawn: {counters['frames']}"
    )
    viewer.close()
    dev.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--pyaudio", action="store_true", help="use the default PyAudio input device")
    parser.add_argument("--duration", type=float, default=None, help="quit after this many seconds")
    parser.add_argument(
        "--screenshot", default=None, metavar="PNG", help="with --duration: save the window to this PNG before quitting"
    )
    args = parser.parse_args()
    main(args.pyaudio, args.duration, args.screenshot)
