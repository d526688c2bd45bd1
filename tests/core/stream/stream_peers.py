"""Functions run in other processes (spawn start method) by the stream tests."""

from __future__ import annotations

import os
import signal

import numpy as np


def receive_and_report(params: dict, n_chunks: int, ready, results) -> None:
    """Connect to an output from its params dict, receive chunks, report a checksum."""
    from lslacq.core.stream import InputStream

    inp = InputStream()
    inp.connect(params)
    ready.set()
    received = []
    try:
        for _ in range(n_chunks):
            index, data = inp.recv(with_data=True, timeout=20000)
            received.append((index, np.array(data, copy=True)))
        results.put(("ok", received, inp.lost_samples))
    except Exception as exc:  # report instead of dying silently
        results.put(("error", repr(exc), None))
    finally:
        inp.close()


def send_from_child(config: dict, chunks: list, params_queue, go, done) -> None:
    """Configure an output, publish its params, wait for the reader, send chunks."""
    from lslacq.core.stream import OutputStream

    out = OutputStream(name="child")
    out.configure(**config)
    params_queue.put(out.params.to_dict())
    go.wait(30)
    out.wait_for_subscribers(1, timeout=20)
    for chunk in chunks:
        out.send(chunk)
    done.wait(30)
    out.close()


def own_shared_memory(nbytes: int, queue, hold) -> None:
    """Create a SharedMem, fill it, publish its description, then wait (or get killed)."""
    from lslacq.core.stream import SharedMem

    shm = SharedMem(nbytes)
    shm.to_numpy(0, "uint8", (nbytes,))[:] = 7
    queue.put((shm.to_dict(), os.getpid()))
    hold.wait(30)
    shm.close()


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
