"""Readers run in other processes (spawn) by the flow-control tests."""

from __future__ import annotations

import time


def read_until(params: dict, options: dict, final_index, ready, results, may_close) -> None:
    """Connect with ``options``, read every chunk up to ``final_index.value``, report what arrived.

    Reports ("ok", samples received, lost_samples, number of gaps, last index).
    The parent pauses (SIGSTOP) or kills this process meanwhile, and sets
    ``final_index`` (a shared value) once it stops sending.
    """
    from lslacq.core.stream import InputStream
    from lslacq.errors import StreamTimeoutError

    inp = InputStream(name="stalled")
    try:
        inp.connect(params, **options)
        ready.set()
        received = gaps = 0
        last = 0
        deadline = time.monotonic() + 120
        while last < final_index.value:
            if time.monotonic() > deadline:
                raise TimeoutError(f"read up to {last}, expected {final_index.value}")
            lost_before = inp.lost_samples
            try:
                last, data = inp.recv(with_data=True, timeout=200)
            except StreamTimeoutError:
                continue
            received += len(data)
            gaps += inp.lost_samples != lost_before
        results.put(("ok", received, inp.lost_samples, gaps, last))
        may_close.wait(60)
    except Exception as exc:  # report instead of dying silently
        results.put(("error", repr(exc), None, None, None))
    finally:
        inp.close()


def read_every_chunk(params: dict, n_chunks: int, ready, results, work_per_chunk: int = 0) -> None:
    """Read ``n_chunks`` chunks whose first value is their number, doing a little work on each.

    Reports ("ok", chunks in order, lost_samples, first misordered chunk or None).
    """
    import numpy as np

    from lslacq.core.stream import InputStream

    inp = InputStream(name="lossless")
    try:
        inp.connect(params)
        ready.set()
        misordered = None
        total = 0.0
        for k in range(n_chunks):
            _index, data = inp.recv(with_data=True, timeout=30000)
            if misordered is None and data[0, 0] != k:
                misordered = (k, float(data[0, 0]))
            for _ in range(work_per_chunk):
                total += float(np.sum(data))
        results.put(("ok", n_chunks, inp.lost_samples, misordered))
    except Exception as exc:  # report instead of dying silently
        results.put(("error", repr(exc), None, None))
    finally:
        inp.close()
