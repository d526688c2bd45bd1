"""
Audio oscilloscope (local)

The pyacq manual's example 6.7, ported: streaming data from an audio device to
a QOscilloscope viewer, both created locally without a manager. Without
``--pyaudio`` the device is a simulated microphone (NumpyDeviceBuffer at
44.1 kHz: a 440 Hz tone in noise); with it, PyAudio's default input.

    python examples/audio_oscilloscope_local.py                # until the window is closed
    python examples/audio_oscilloscope_local.py --pyaudio      # the default microphone
    python examples/audio_oscilloscope_local.py --duration 3   # quit after 3 s
"""

import argparse
import json

import numpy as np

# lslacq.viewers first: it picks PyQt5 (the qt extra's binding) when several are installed
from lslacq.devices import NumpyDeviceBuffer
from lslacq.viewers import QOscilloscope

# isort: split
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore

SAMPLE_RATE = 44100.0
CHUNKSIZE = 1024


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
            nb_channel=1, sample_rate=44100.0, input_device_index=default_input, format="int16", chunksize=1024
        )
    else:
        n = CHUNKSIZE * 43
        t = np.arange(n) / SAMPLE_RATE
        noise = 300 * np.random.default_rng(0).standard_normal(n)
        dev = NumpyDeviceBuffer()
        dev.configure(
            nb_channel=1,
            sample_interval=1.0 / SAMPLE_RATE,
            chunksize=CHUNKSIZE,
            buffer=(3000 * np.sin(2 * np.pi * 440 * t) + noise).astype("int16")[:, None],
        )
    dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
    dev.initialize()

    # Create an oscilloscope to display data.
    viewer = QOscilloscope()
    viewer.configure(with_user_dialog=True)

    # Connect audio stream to oscilloscope
    viewer.input.connect(dev.output)
    viewer.initialize()
    viewer.show()
    viewer.params["decimation_method"] = "min_max"
    viewer.by_channel_params["ch0", "gain"] = 0.001

    # Start both nodes
    dev.start()
    viewer.start()

    def finish():
        if screenshot:  # what the window shows, and where its parts are (the tests check it)
            viewer.grab().save(screenshot)
            print("frame geometry:", json.dumps(viewer.frame_geometry()), flush=True)
        app.quit()

    if duration is not None:
        QtCore.QTimer.singleShot(int(duration * 1000), finish)
    pg.exec()

    counters = viewer.counters()
    print(
        f"samples received: {counters['samples_in']}, lost: {counters['lost_samples']}, "
        f"frames drawn: {counters['frames']}"
    )
    viewer.close()
    dev.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--pyaudio", action="store_true", help="record the default audio input")
    parser.add_argument("--duration", type=float, default=None, help="quit after this many seconds")
    parser.add_argument(
        "--screenshot", default=None, metavar="PNG", help="with --duration: save the window to this PNG before quitting"
    )
    args = parser.parse_args()
    main(args.pyaudio, args.duration, args.screenshot)
