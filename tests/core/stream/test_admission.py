"""An output admits readers whenever they come, even when zmq told nobody (lost ZMQ_FD edges, issue 22).

``ZMQ_FD`` is edge-triggered: whichever thread next uses the socket (a
``send`` of the writer, a backlog drain of the service thread) takes the
"something arrived" signal in. Whoever did must make sure the socket is
looked at again, or a reader that joins while the output goes idle waits for
its HELLO until the next send.
"""

from __future__ import annotations

import select
import threading
import time

import numpy as np
import pytest
import zmq
from helpers import wait_until

from lslacq.core.stream import InputStream, OutputStream, admission, outputstream


def _signalled(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


@pytest.mark.parametrize("protocol", ["inproc", "tcp"])
def test_an_idle_output_admits_a_reader_whose_join_came_in_during_its_last_send(monkeypatch, protocol):
    monkeypatch.setattr(outputstream, "_ADMIT_CHECK_S", 3600.0)  # send() never looks for JOINs itself again
    out = OutputStream(name="idle-out")
    out.configure(protocol=protocol, dtype="float32", shape=(-1, 2))
    first = InputStream(name="first")
    late = InputStream(name="late")
    failures = []
    thread = None
    try:
        first.connect(out, timeout=5)  # a reader, so that a send uses the socket
        out.send(np.zeros((1, 2), np.float32))  # the writer's own look at the socket: not due again for an hour
        fd = out.socket.getsockopt(zmq.FD)
        # the service thread does not look at the socket meanwhile (as when the writer holds the output)
        admission.unwatch(out._admission_fd)

        def connect():
            try:
                late.connect(out, timeout=3)
            except Exception as exc:  # reported by the test thread
                failures.append(exc)

        thread = threading.Thread(target=connect, daemon=True)
        thread.start()
        # late.socket is set once its JOIN is sent (inproc: in the output's pipe at once)
        wait_until(
            lambda: late.socket is not None and _signalled(fd),
            timeout=5,
            what="the late reader's JOIN to signal ZMQ_FD",
        )
        # not synchronisation: libzmq's send looks at its command queue only if >= ~1 ms (3e6 cpu cycles)
        # passed since it last did, and this test needs it to look
        time.sleep(0.005)
        out.send(np.ones((1, 2), np.float32))  # zmq takes the new pipe in here: ZMQ_FD stops signalling
        assert not _signalled(fd)
        out._admission_fd = admission.watch(out)  # the service thread watches again; nothing is sent any more
        thread.join(10)
        assert not thread.is_alive()
        assert not failures, f"the idle output did not admit the late reader: {failures[0]}"
        assert late.connected and out.subscriber_count() == 2
        out.send(np.full((1, 2), 2, np.float32))  # and the late reader gets what follows
        index, data = late.recv(timeout=2000)
        assert index == 3 and np.array_equal(data, np.full((1, 2), 2, np.float32))
    finally:
        if thread is not None:
            thread.join(10)
        late.close()
        first.close()
        out.close()


def test_the_service_thread_leaves_a_sending_writer_alone_and_looks_once_it_is_idle(monkeypatch):
    """A writer that sends looks at its socket itself: the service thread leaves it alone (issue 22: latency).

    It does not wake to look (and take the GIL and the output's lock) every tick while the writer sends, only once the
    writer has stopped.
    """
    looks = []
    admit = OutputStream._admit_locked

    def counting_admit(self):
        if threading.current_thread().name == "lslacq-stream-admission":
            looks.append(time.monotonic())
        return admit(self)

    monkeypatch.setattr(OutputStream, "_admit_locked", counting_admit)
    out = OutputStream(name="busy-out")
    out.configure(protocol="inproc", dtype="float32", shape=(-1, 2))
    inp = InputStream(name="reader")
    try:
        inp.connect(out, timeout=5)
        out.send(np.zeros((1, 2), np.float32))
        wait_until(lambda: looks, timeout=5, what="the service thread's look after the first send")
        looks.clear()
        start = time.monotonic()
        for k in range(300):  # 1 kHz for ~0.3 s (the pacing of a device, not synchronisation)
            out.send(np.full((1, 2), k, np.float32))
            time.sleep(0.001)
        stopped = time.monotonic()
        assert stopped - start > 0.25
        # before: a look every tick (15 ms), 20 or more in 0.3 s
        assert sum(1 for t in looks if t < stopped) <= 2, f"the service thread looked {len(looks)} times"
        wait_until(lambda: any(t > stopped for t in looks), timeout=5, what="a look once the writer is idle")
        assert any(t - stopped < 1.0 for t in looks)
        for _ in range(301):
            index, _data = inp.recv(timeout=2000)
        assert index == 301
    finally:
        inp.close()
        out.close()
