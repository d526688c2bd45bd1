r"""Replay a recorded file through a filter, as if a participant were connected.

The graph::

    FileReplay --signals--> SosFilter(8-12 Hz) --> print alpha power
               \--events--> print each annotation as it is replayed

The script first writes a small FIF file with MNE (10 Hz alpha bursts in
noise, annotations where they start); any file MNE reads works the same
(``--file recording.vhdr``, ``.edf``, ``.bdf``, a RawRecorder directory).
``speed`` plays faster than real time, ``n_repeat`` loops, ``start`` skips
the beginning; the events output carries the annotations with the index of
the sample they belong to.

Run: ``python examples/replay_into_filter.py [--file FILE] [--speed 4]``.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from pathlib import Path

import numpy as np

RATE = 250.0


def write_demo_fif(path: Path) -> Path:
    """4 s of 2-channel EEG: noise, and a 10 Hz burst of 1 s starting at 1 s and 2.5 s (annotated)."""
    import mne

    rng = np.random.default_rng(0)
    t = np.arange(int(4 * RATE)) / RATE
    data = 5e-6 * rng.standard_normal((2, len(t)))
    for onset in (1.0, 2.5):
        burst = (t >= onset) & (t < onset + 1.0)
        data[:, burst] += 20e-6 * np.sin(2 * np.pi * 10 * t[burst])
    raw = mne.io.RawArray(data, mne.create_info(["O1", "O2"], RATE, "eeg"), verbose="error")
    raw.set_annotations(mne.Annotations([1.0, 2.5], [1.0, 1.0], ["alpha", "alpha"]))
    raw.save(path, verbose="error", overwrite=True)
    return path


def run(filename: Path, speed: float) -> list[tuple[int, float]]:
    """Replay ``filename`` through an alpha band-pass; return (index, alpha power in µV²) per 0.5 s."""
    from lslacq.core.tools import ThreadPollInput
    from lslacq.dsp import SosFilter, design_sos
    from lslacq.rec import FileReplay

    replay = FileReplay(name="replay")
    replay.configure(filename=filename, speed=speed, chunksize=25)
    replay.outputs["signals"].configure(protocol="inproc")
    replay.outputs["events"].configure(protocol="inproc")
    rate = replay.sample_rate
    filt = SosFilter(name="alpha")
    filt.configure(coefficients=design_sos("bandpass", [8.0, 12.0], rate, order=2))
    filt.input.connect(replay.outputs["signals"])
    filt.output.configure(protocol="inproc")

    from lslacq.core.stream import InputStream

    filtered, events = InputStream(), InputStream()
    filtered.connect(filt.output)
    events.connect(replay.outputs["events"])
    powers: list[tuple[int, float]] = []
    window: list[np.ndarray] = []

    def on_filtered(index, data):
        window.append(np.asarray(data))
        if sum(len(w) for w in window) >= rate / 2:
            chunk = np.concatenate(window)
            window.clear()
            power = float(np.mean(chunk.astype(float) ** 2))
            powers.append((index, power))
            print(f"t = {index / rate:5.2f} s  alpha power {power:7.1f} uV^2  " + "#" * min(60, int(power / 5)))

    def on_event(index, data):
        for ev in data:
            print(f"annotation {bytes(ev['description']).decode()!r} at t = {ev['index'] / rate:.2f} s")

    done = threading.Event()
    replay.finished.connect(done.set)
    sig_thread = ThreadPollInput(filtered, return_data=True, handler=on_filtered, name="alpha-power")
    ev_thread = ThreadPollInput(events, return_data=True, handler=on_event, name="annotations")
    with replay, filt, filtered, events:
        replay.initialize()
        filt.initialize()
        sig_thread.start()
        ev_thread.start()
        filt.start()
        replay.start()
        done.wait(60)
        replay.stop()
        filt.stop()
        for thread in (sig_thread, ev_thread):
            thread.stop()
            thread.wait(5)
    return powers


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, help="file to replay (default: a FIF written by this script)")
    parser.add_argument("--speed", type=float, default=4.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        filename = args.file or write_demo_fif(Path(tmp) / "alpha_raw.fif")
        powers = run(filename, args.speed)
    print(f"replay finished: {len(powers)} windows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
