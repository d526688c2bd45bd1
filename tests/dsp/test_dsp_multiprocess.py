"""A DSP node built by name in a spawned process (as a NodeGroup does), fed and read over tcp."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys

import numpy as np
import pytest
import scipy.signal

from lslacq.core.stream import InputStream, OutputStream
from lslacq.dsp import design_sos

sys.path.insert(0, os.path.dirname(__file__))
import dsp_peers  # noqa: E402

SPAWN = mp.get_context("spawn")
SR = 1000.0


def _reply(replies, proc, timeout=60.0):
    """Next reply from the child; fail at once (with its exit code) if the child died."""
    import queue

    from helpers import wait_until

    def reply():
        try:
            return replies.get(timeout=0.5)
        except queue.Empty:
            assert proc.is_alive(), f"the child process died (exit code {proc.exitcode}); see its stderr"
            return None

    return wait_until(reply, timeout=timeout, interval=0, what="a reply from the child process")


@pytest.mark.slow
def test_sosfilter_in_another_process_with_online_coefficient_change():
    nch = 3
    src = OutputStream(name="src")
    src.configure(protocol="tcp", dtype="float32", shape=(-1, nch), sample_rate=SR)
    sos = design_sos("lowpass", 40, SR, order=4)
    commands, replies = SPAWN.Queue(), SPAWN.Queue()
    proc = SPAWN.Process(target=dsp_peers.run_filter_node, args=(src.params.to_dict(), sos, commands, replies))
    proc.start()
    sink = InputStream(name="sink")
    try:
        status, out_params = _reply(replies, proc)
        assert status == "ready"
        sink.connect(out_params)
        src.wait_for_subscribers(1, timeout=30)
        sig = np.random.default_rng(0).standard_normal((2000, nch)).astype("float32")
        for i in range(0, 2000, 200):
            src.send(sig[i : i + 200], index=i + 200)
        parts, got = [], 0
        while got < 2000:
            index, data = sink.recv(timeout=30_000)
            parts.append(np.array(data))
            got += len(data)
        assert index == 2000
        expected = scipy.signal.sosfilt(sos, sig.astype(float), axis=0)
        np.testing.assert_allclose(np.concatenate(parts), expected, atol=1e-5)
        # a bad filter is refused in the remote process, the good one is applied
        commands.put(("set", [[1, 0, 0, 1, 0, 1.5]]))
        status, message = _reply(replies, proc)
        assert status == "error" and "unstable" in message
        commands.put(("set", [[0.5, 0, 0, 1, 0, 0]]))  # gain 0.5, no memory
        assert _reply(replies, proc) == ("ok", None)
        # the swap happens before the next chunk the node processes
        src.send(np.ones((100, nch), "float32"), index=2100)
        _, data = sink.recv(timeout=30_000)
        np.testing.assert_allclose(data, 0.5)
        commands.put(("quit", None))
        assert _reply(replies, proc) == ("done", None)
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.terminate()
            proc.join(10)
        sink.close()
        src.close()
    assert proc.exitcode == 0
