"""Admission of new readers: make an idle output register subscriptions at once.

zmq registers a new subscriber of an XPUB only when the socket's owner next
uses it, so a chunk sent right after a reader connects could miss it (the
"slow joiner"). One thread per process watches the ``ZMQ_FD`` of every
output; when zmq signals activity it lets the output process it
(:meth:`OutputStream._admit`), which registers new subscriptions and
broadcasts a HELLO. HELLO reaches only readers whose subscription is
registered, so a reader that has seen one knows every later chunk reaches it.
"""

from __future__ import annotations

import logging
import os
import selectors
import threading
import weakref

import zmq

__all__ = ["watch", "unwatch"]

logger = logging.getLogger(__name__)


class _AdmissionService:
    def __init__(self):
        self.pid = os.getpid()
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._run, name="lslacq-stream-admission", daemon=True)
        self._thread.start()

    def watch(self, output) -> int:
        fd = output.socket.getsockopt(zmq.FD)
        with self._lock:
            try:  # an output dropped without close() left its (now reused) fd registered
                self._selector.unregister(fd)
            except (KeyError, ValueError):
                pass
            self._selector.register(fd, selectors.EVENT_READ, weakref.ref(output))
        os.write(self._wake_w, b"x")
        return fd

    def unwatch(self, fd: int) -> None:
        with self._lock:
            try:
                self._selector.unregister(fd)
            except (KeyError, ValueError):
                pass

    def _run(self) -> None:
        while True:
            try:
                events = self._selector.select()
            except OSError:  # an fd closed under us between unregister and select: retry
                continue
            for key, _mask in events:
                if key.data is None:
                    try:
                        os.read(self._wake_r, 4096)
                    except BlockingIOError:
                        pass
                    continue
                output = key.data()
                if output is None:
                    self.unwatch(key.fd)
                    continue
                try:
                    # a send blocked by a slow reader holds the output's lock (and admits readers
                    # itself meanwhile): do not let it stall the other outputs
                    output._admit(timeout=0.05)
                except Exception:  # never let one output stop admissions for the others
                    logger.exception("admission of readers failed for %r", output)


_service: _AdmissionService | None = None
_service_lock = threading.Lock()


def watch(output) -> int:
    """Start watching ``output``'s socket; return the fd to pass to :func:`unwatch`."""
    global _service
    with _service_lock:
        if _service is None or _service.pid != os.getpid():  # first use, or a forked child
            _service = _AdmissionService()
        service = _service
    return service.watch(output)


def unwatch(fd: int) -> None:
    """Stop watching (call before closing the socket)."""
    if _service is not None and _service.pid == os.getpid():
        _service.unwatch(fd)
