"""The stream service thread: admits readers of idle outputs, drains backlogs.

A reader's JOIN reaches an output's ROUTER socket whenever it arrives, but
only the socket's owner can read it. One thread per process watches the
``ZMQ_FD`` of every output; when zmq signals activity it lets the output
process it (:meth:`OutputStream._service`), which registers new readers and
answers each with a HELLO. A reader that has seen its HELLO knows every later
chunk reaches it (no "slow joiner"), even when the output was idle.

``ZMQ_FD`` is edge-triggered: it signals that something reached the socket
once, and whichever thread next uses the socket takes that signal in (a
writer's ``send``, a backlog drain). So whoever uses the socket makes sure it
is looked at afterwards: a writer looks at it itself now and then, and
otherwise asks for service ticks (:func:`request_ticks`); a drain is
followed by a look; an output this thread could not service (its lock was
busy, or its writer waits for readers and services the socket itself) is
retried at the next ticks, and its fd is not watched meanwhile (it stays
readable until someone reads the socket). While its writer keeps sending
(and so looks at the socket itself), an output's tick does not touch the
socket: it asks to be ticked again once the writer has been idle for a while
(``_service`` returns that delay), so a writer sending at 1 kHz costs this
thread a wake-up every few tens of ms, not two per tick. A reader that joins
an output that has just gone idle is admitted within that delay.

The same thread keeps backlogs moving: an output whose readers have a
backlog (see flowcontrol.py) asks for service ticks (:func:`request_ticks`)
and is serviced every ``TICK_S`` until its backlogs are empty, so a backlog
drains even when the writer stops sending.
"""

from __future__ import annotations

import logging
import os
import selectors
import threading
import time
import weakref

import zmq

__all__ = ["watch", "unwatch", "request_ticks", "TICK_S", "BUSY"]

logger = logging.getLogger(__name__)

TICK_S = 0.015
#: what an output's ``_service()`` returns when it could not look at its socket (a writer has it): true, so
#: the output is serviced again at the coming ticks, and meanwhile its fd is not watched (it stays readable
#: until someone reads the socket: watching it would spin this thread against the writer)
BUSY = "busy"


class _AdmissionService:
    def __init__(self):
        self.pid = os.getpid()
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._ticking: dict[int, tuple] = {}  # id(output) -> (weakref, generation, when its tick is due)
        self._paused: dict[int, int] = {}  # id(output) -> its fd, not watched while the output is busy
        self._generation = 0
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
            self._paused.pop(id(output), None)
        os.write(self._wake_w, b"x")
        return fd

    def unwatch(self, fd: int) -> None:
        with self._lock:
            try:
                self._selector.unregister(fd)
            except (KeyError, ValueError):
                pass
            for key in [k for k, paused in self._paused.items() if paused == fd]:
                del self._paused[key]

    def _pause(self, fd: int, output) -> None:
        """Stop watching a busy output's fd; service it at the coming ticks, which watch it again once done."""
        with self._lock:
            try:
                self._selector.unregister(fd)
            except (KeyError, ValueError):
                return  # unwatched meanwhile (closed)
            self._paused[id(output)] = fd
        self._keep_ticking(output)

    def _resume(self, key: int, output) -> None:
        with self._lock:
            fd = self._paused.pop(key, None)
            if fd is not None and output is not None:
                try:
                    self._selector.register(fd, selectors.EVENT_READ, weakref.ref(output))
                except (KeyError, ValueError, OSError):  # closed meanwhile
                    pass

    def request_ticks(self, output) -> None:
        with self._lock:
            self._generation += 1  # a request made while a tick is deciding to stop wins
            self._ticking[id(output)] = (weakref.ref(output), self._generation, 0.0)
        os.write(self._wake_w, b"t")

    def _keep_ticking(self, output, delay: float = TICK_S) -> None:
        """Service ``output`` in ``delay`` s, then at the coming ticks (from this thread: no wake needed)."""
        with self._lock:
            entry = self._ticking.get(id(output))
            if entry is None:
                self._generation += 1
                self._ticking[id(output)] = (weakref.ref(output), self._generation, time.monotonic() + delay)

    def _tick(self) -> None:
        """Service the outputs whose tick is due.

        An output's ``_service(tick=True)`` returns False (stop ticking), True
        or :data:`BUSY` (tick again in ``TICK_S``), or a float: tick again in
        that many seconds.
        """
        now = time.monotonic()
        with self._lock:
            due = [(key, entry) for key, entry in self._ticking.items() if entry[2] <= now]
        for key, entry in due:
            output = entry[0]()
            keep = False
            if output is not None:
                try:
                    keep = output._service(timeout=0.05, tick=True)
                except Exception:
                    logger.exception("servicing %r failed", output)
            with self._lock:
                if self._ticking.get(key) is entry:  # (not asked for again meanwhile: a request wins)
                    if not keep:
                        del self._ticking[key]
                    else:  # a float: the output asks to be looked at in that many seconds
                        delay = TICK_S if keep is True or keep is BUSY else keep
                        self._ticking[key] = (entry[0], entry[1], time.monotonic() + delay)
            if keep is not BUSY and key in self._paused:  # it looked at its socket: watch its fd again
                self._resume(key, output)

    def _run(self) -> None:
        next_due = None
        while True:
            timeout = None
            if self._ticking:
                with self._lock:
                    next_due = min((entry[2] for entry in self._ticking.values()), default=None)
                timeout = None if next_due is None else max(0.0, next_due - time.monotonic())
            try:
                events = self._selector.select(timeout)
            except OSError:  # an fd closed under us between unregister and select: retry
                continue
            if self._ticking and next_due is not None and time.monotonic() >= next_due:
                self._tick()
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
                    # a busy writer holds the output's lock (and admits readers itself now and
                    # then): do not let it stall the other outputs
                    result = output._service(timeout=0.05)
                except Exception:  # never let one output stop admissions for the others
                    logger.exception("admission of readers failed for %r", output)
                    continue
                if result is BUSY:  # not serviced: look at it at the coming ticks
                    self._pause(key.fd, output)
                elif result:  # a backlog remains
                    self._keep_ticking(output)


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


def request_ticks(output) -> None:
    """Service ``output`` every ``TICK_S`` until its ``_service()`` returns False."""
    global _service
    with _service_lock:
        if _service is None or _service.pid != os.getpid():
            _service = _AdmissionService()
        service = _service
    service.request_ticks(output)
