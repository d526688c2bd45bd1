"""Read BrainAmp EEG from BrainVision Recorder's RDA server in a script (the rdaclient API).

Prints, once per second, the newest second's RMS per channel and the markers
received. Without ``--host``, an RDA emulator is started in this process, so
the example runs anywhere; with Recorder, enable RDA (Configuration >
Preferences > Remote Data Access) and start monitoring first::

    python examples/rda_client.py                         # built-in emulator
    python examples/rda_client.py --host 192.168.1.10     # BrainVision Recorder (float32 port 51244)
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np

from lslacq.devices.rda import Client, RdaEmulator


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=None, help="RDA server (default: start an emulator here)")
    parser.add_argument("--port", type=int, default=51244, help="51244 float32 (default) or 51234 int16")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds to run (default 5)")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        if args.host is None:
            emulator = stack.enter_context(RdaEmulator(port=0, n_channels=8, sample_rate=500))
            address = emulator.address
        else:
            address = (args.host, args.port)
        client = stack.enter_context(Client(buffer_size=60 * 5000))
        client.connect(address)
        client.start_streaming(timeout=10)
        start = client.start_msg
        rate = int(start.sample_rate)
        print(f"connected to {address[0]}:{address[1]}: {start}")
        t_end = time.monotonic() + args.duration
        seen = 0
        while time.monotonic() < t_end:
            last = client.last_sample
            window = client.wait(last, last + rate, timeout=5)  # the next second of data (a view)
            if window is None:
                print(f"no data: {client.stop_reason or 'timeout'}")
                return 1
            rms = np.sqrt(np.mean(window**2, axis=0))
            markers = client.get_markers(seen, last + rate)
            seen = last + rate
            print(
                f"samples {last:7d}-{last + rate:7d}  RMS uV: "
                + " ".join(f"{name}={v:.1f}" for name, v in zip(start.channel_names, rms, strict=True))
                + (f"  markers: {[d.decode() for d in markers['description']]}" if len(markers) else "")
            )
        client.stop_streaming()
        print(f"received {client.last_sample} samples, {client.lost_blocks} blocks lost")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
