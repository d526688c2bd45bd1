"""
Audio wavelet spectrogram

The pyacq manual's example 6.5, ported: an audio stream is shown by a QTimeFreq
node (Morlet wavelet scalogram); the device runs in a NodeGroup process and the
transform in another one (``nodegroup_friends``). Without ``--pyaudio`` the
device is a simulated microphone (NumpyDeviceBuffer at 44.1 kHz playing a
1550 Hz whistle in noise); with it, PyAudio's default input.

    python examples/audio_timefreq.py                 # simulated audio, until the window is closed
    python examples/audio_timefreq.py --pyaudio       # the default microphone
    python examples/audio_timefreq.py --duration 4    # quit after 4 s
"""

import argparse
import json

import numpy as np

# lslacq.viewers first: it picks PyQt5 (the qt extra's binding) when several are installed
from lslacq.core import create_manager
from lslacq.viewers import QTimeFreq

# isort: split
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore

SAMPLE_RATE = 44100.0
CHUNKSIZE = 1024


def simulated_audio():
    """About 1 s of int16-scaled audio: a 1550 Hz whistle in noise (looped by the device)."""
    n = CHUNKSIZE * 43
    t = np.arange(n) / SAMPLE_RATE
    rng = np.random.default_rng(0)
    return (2000 * np.sin(2 * np.pi * 1550 * t) + 200 * rng.standard_normal(n)).astype("float32")[:, None]


def main(use_pyaudio, duration, screenshot=None):
    # Start Qt application
    app = pg.mkQApp()

    # Create a manager to spawn worker process to record and process audio
    man = create_manager()
    ng = man.create_nodegroup()

    if use_pyaudio:
        # Create PyAudio device node in remote process
        dev = ng.create_node("PyAudio")
        # Configure PyAudio device with a single (default) input channel.
        default_input = dev.default_input_device()
        dev.configure(
            nb_channel=1, sample_rate=44100.0, input_device_index=default_input, format="int16", chunksize=1024
        )
    else:
        dev = ng.create_node("NumpyDeviceBuffer")
        dev.configure(nb_channel=1, sample_interval=1.0 / SAMPLE_RATE, chunksize=CHUNKSIZE, buffer=simulated_audio())
    dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
    dev.initialize()

    # We are only recording a single audio channel, so we create one extra
    # nodegroup for processing TFR. For multi-channel signals, create more
    # nodegroups.
    workers = [man.create_nodegroup()]

    # Create a viewer in the local application, using the remote process for
    # frequency analysis
    viewer = QTimeFreq()
    viewer.configure(with_user_dialog=True, nodegroup_friends=workers)
    viewer.input.connect(dev.output)
    viewer.initialize()
    viewer.show()

    viewer.params["refresh_interval"] = 100
    viewer.params["timefreq", "f_start"] = 50
    viewer.params["timefreq", "f_stop"] = 5000
    viewer.params["timefreq", "deltafreq"] = 500
    viewer.by_channel_params["Signal0", "clim"] = 2500

    # Start both nodes
    dev.start()
    viewer.start()

    def finish():
        if screenshot:  # what the window shows, and where its parts are (the tests check it)
            viewer.grab().save(screenshot)
            print("frame geometry:", json.dumps(viewer.axis_ranges(0)), flush=True)
        app.quit()

    if duration is not None:
        QtCore.QTimer.singleShot(int(duration * 1000), finish)
    pg.exec()

    tf_map = viewer.images[0].image
    strongest = viewer.freqs[int(np.argmax(tf_map.mean(axis=0)))] if viewer.maps_drawn else float("nan")
    print(
        f"maps drawn: {viewer.maps_drawn}, frequencies {viewer.freqs[0]:g}-{viewer.freqs[-1]:g} Hz, "
        f"strongest frequency: {strongest:g} Hz"
    )
    viewer.close()
    dev.stop()
    man.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--pyaudio", action="store_true", help="record the default audio input")
    parser.add_argument("--duration", type=float, default=None, help="quit after this many seconds")
    parser.add_argument(
        "--screenshot", default=None, metavar="PNG", help="with --duration: save the window to this PNG before quitting"
    )
    args = parser.parse_args()
    main(args.pyaudio, args.duration, args.screenshot)
