"""Epocher catch-up merging: small queued signal chunks are merged, big ones are not (``batch_max_bytes``).

Cutting thirteen 384 ch x 300-sample chunks merged takes 1.6x as long as one by one and every epoch of the
batch waits for the end of it (issue 27's latency); 64 ch x 10-sample chunks cut 3x faster merged.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import wait_until

from lslacq.bci import Epocher
from lslacq.core.stream import InputStream, OutputStream
from lslacq.core.stream.events import EVENT_DTYPE, make_events

FS = 1000.0


class _SizeLoggingEpocher(Epocher):
    def _process(self, input_name, index, data):
        if input_name == "signals":
            self.sizes.append(len(data))
        super()._process(input_name, index, data)


@pytest.mark.parametrize(("n_channels", "chunk", "merged"), [(4, 10, True), (384, 300, False)])
def test_queued_signal_chunks_merge_only_while_small(n_channels, chunk, merged):
    sig = OutputStream(name="sig")
    sig.configure(protocol="inproc", dtype="float32", shape=(-1, n_channels), sample_rate=FS)
    ev = OutputStream(name="ev")
    ev.configure(protocol="inproc", streamtype="event", dtype=EVENT_DTYPE.descr, shape=(-1,), sample_rate=FS)
    ep = _SizeLoggingEpocher(name="epocher")
    ep.sizes = []
    n_chunks = 12
    ep.configure(event_id=["stim"], tmin=0.0, tmax=(chunk - 1) / FS, buffer_duration=n_chunks * chunk / FS)
    ep.inputs["signals"].connect(sig)
    ep.inputs["events"].connect(ev)
    ep.outputs["labels"].configure(protocol="inproc")
    ep.initialize()
    labels_in = InputStream()
    labels_in.connect(ep.outputs["labels"])
    onsets = np.arange(0, n_chunks * chunk, chunk)  # one epoch per chunk
    x = np.random.default_rng(0).standard_normal((n_chunks * chunk, n_channels)).astype(np.float32)
    try:
        ep.start()
        ev.send(make_events(onsets, type="Stimulus", description="stim"))
        wait_until(lambda: len(ep.engine.pending) == len(onsets), timeout=10, what="the markers in the Epocher")
        with ep._lock:  # the signal thread waits here, its chunks queue up behind the first
            for k in range(n_chunks):
                sig.send(x[k * chunk : (k + 1) * chunk], index=(k + 1) * chunk)
            wait_until(lambda: len(ep.sizes) == 1, timeout=10, what="the first chunk taken")
        got = []
        while len(got) < len(onsets):
            got.extend(labels_in.recv(timeout=10000)[1]["index"].tolist())
        assert got == onsets.tolist() and ep.error is None
        assert sum(ep.sizes) == len(x)
        assert (max(ep.sizes) > chunk) is merged, ep.sizes
        np.testing.assert_array_equal(ep.get_data(1)[0], x[-chunk:].T)
    finally:
        ep.stop()
        ep.close()
        labels_in.close()
        sig.close()
        ev.close()
