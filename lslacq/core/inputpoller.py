"""ThreadPollInput: the worker that reads an InputStream and hands each chunk on (pyacq's core.tools class)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..errors import BrokenStreamError, StreamClosedError
from .signal import Signal
from .stream import InputStream
from .workers import Worker

__all__ = ["ThreadPollInput"]

logger = logging.getLogger(__name__)


class ThreadPollInput(Worker):
    """Background thread that receives from an InputStream and reports each chunk.

    Each received chunk goes to :meth:`process_data`, which calls ``handler``
    if one was given, else emits ``new_data(position, data)``; override it in
    a subclass or connect callbacks to the signal. An exception raised by
    ``handler`` (or an overridden ``process_data``) ends the thread and is
    reported on :attr:`failed`; one raised by a ``new_data`` callback is only
    logged, as with any signal. Unlike pyacq's (a QThread), this is a plain
    thread: callbacks run in it, and GUI code forwards them to its own event
    loop. Like a QThread it can be started again after :meth:`stop` and
    :meth:`wait`.

    Parameters
    ----------
    input_stream : InputStream
        A connected input; do not use it from another thread until
        :meth:`stop` and :meth:`wait` have returned.
    timeout : int
        Poll period in ms (how fast :meth:`stop` is noticed).
    return_data : bool or None
        For sharedmem streams, read the data from shared memory for each
        chunk. None: only for plaindata (where it is free).
    parent : object, optional
        Kept for pyacq compatibility.
    name : str, optional
        Thread name (in log records).
    handler : callable, optional
        ``handler(position, data)`` called for every chunk instead of
        emitting ``new_data`` (what nodes use: its failures reach the node).

    Attributes
    ----------
    new_data : Signal
        Emitted with ``(position, data)`` for every chunk.
    failed : Signal
        Emitted with the exception that ended the thread, if any. An owner
        node connects its ``_report_error`` here.
    error : Exception or None
        That exception (logged here when nothing listens to ``failed``).
    """

    def __init__(
        self,
        input_stream: InputStream,
        timeout: int = 200,
        return_data: bool | None = None,
        parent: Any = None,
        name: str | None = None,
        handler: Callable[[int, Any], None] | None = None,
    ):
        super().__init__(
            name or f"ThreadPollInput-{input_stream.name or id(input_stream)}", context="processing its input"
        )
        self.input_stream = input_stream
        self.handler = handler
        self.timeout = timeout
        self.return_data = return_data
        self.parent = parent
        self.new_data = Signal()

    def _ended_quietly(self, exc: BaseException) -> bool:
        if isinstance(exc, StreamClosedError) and (self.stopping or self._input_ended()):
            logger.info("%s: %s", self.name, exc)
            return True
        return False  # e.g. the owner's output was closed under it: a failure, not the end of the input

    def _input_ended(self) -> bool:
        stream = self.input_stream
        return stream.socket is None or bool(getattr(stream, "_peer_closed", False))

    def run(self) -> None:
        """Poll, receive and :meth:`process_data` until :meth:`stop` (the thread's loop)."""
        stream = self.input_stream
        while not self.stopping:
            if not stream.poll(timeout=self.timeout):
                continue
            try:
                pos, data = stream.recv(return_data=self.return_data)
            except BrokenStreamError:
                continue  # already logged and counted by the stream
            self.process_data(pos, data)

    def process_data(self, pos: int, data: Any) -> None:
        """Handle one chunk (default: call ``handler``, or emit ``new_data`` without one)."""
        if self.handler is not None:
            self.handler(pos, data)
        else:
            self.new_data.emit(pos, data)

    isRunning = Worker.is_alive  # QThread spelling, for ported code
