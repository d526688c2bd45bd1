r"""Record a graph to disk, read it back and export it to MNE-Python.

The graph::

    SimulatedEEG --signals--> RawRecorder (eeg.raw)
                 \--events---^           (markers.raw)

A simulated 8-channel EEG (µV, 500 Hz) and its stimulus events are recorded
for a few seconds to raw binary files plus ``stream_properties.json``
(pyacq's layout). The recording is then opened memory-mapped with
``read_recording``, converted to an ``mne.io.RawArray`` (channel names and
types from the stream metadata, volts, events as annotations) and saved as
FIF. Kill the script while it records: the files stay readable up to the
last flush (``flush_interval``, 1 s by default), and ``read_recording``
says where they end.

Run: ``python examples/record_graph.py [--duration 3] [--dirname DIR]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def record(dirname: Path, duration: float) -> None:
    from lslacq.devices.simulated_eeg import SimulatedEEG
    from lslacq.rec import RawRecorder

    dev = SimulatedEEG(name="eeg")
    dev.configure(nb_channel=8, sample_rate=500.0, event_interval=0.5, seed=0)
    for out in dev.outputs.values():
        out.configure(protocol="inproc")
    rec = RawRecorder(name="rec")
    rec.configure(streams={"eeg": dev.outputs["signals"], "markers": dev.outputs["events"]}, dirname=dirname)
    rec.add_annotations(subject="simulated", note="examples/record_graph.py")
    with dev, rec:
        dev.initialize()
        rec.initialize()
        rec.start()
        dev.start()
        time.sleep(duration)
        dev.stop()
        rec.stop()  # writes what is still queued, then closes the files
        print(f"recorded {dev.n_sent} samples and {dev.n_events} events")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--dirname", type=Path, default=None, help="recording directory (must not exist)")
    args = parser.parse_args(argv)
    from lslacq.rec import read_recording

    with tempfile.TemporaryDirectory() as tmp:
        dirname = args.dirname or Path(tmp) / "recording"
        record(dirname, args.duration)
        recording = read_recording(dirname)
        print(recording.end_note)
        eeg = recording["eeg"]
        print(f"eeg: {eeg.data.shape} {eeg.dtype} at {eeg.sample_rate:g} Hz, channels {eeg.channel_names}")
        print(f"markers: {len(recording['markers'])} events at samples {recording['markers'].data['index'][:4]}...")
        raw = recording.to_mne()["eeg"]
        print(f"MNE: {raw}, {len(raw.annotations)} annotations")
        paths = recording.save_fif(Path(tmp) / "fif")
        print("saved " + ", ".join(p.name for p in paths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
