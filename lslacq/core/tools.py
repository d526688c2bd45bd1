"""Stream tools: ThreadPollInput, StreamConverter, ChannelSplitter."""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

import numpy as np

from ..errors import BrokenStreamError, StreamClosedError
from .node import Node
from .signal import Signal
from .stream import InputStream

__all__ = ["ThreadPollInput", "StreamConverter", "ChannelSplitter", "join_thread"]

logger = logging.getLogger(__name__)


def join_thread(thread: threading.Thread | None, timeout: float, what: str,
                log: logging.Logger | None = None) -> bool:
    """Wait up to ``timeout`` s for ``thread`` to end; log an error naming ``what`` if it does not.

    Returns True if the thread ended (or was None).
    """
    if thread is None:
        return True
    thread.join(timeout)
    if thread.is_alive():
        (log or logger).error("%s did not stop within %g s", what, timeout)
        return False
    return True

# Metadata a pass-through node copies from its input to its outputs.
_PASSTHROUGH_KEYS = ("streamtype", "dtype", "shape", "sample_rate", "units", "scale", "offset", "channel_names",
                     "channel_units", "channel_types")


class ThreadPollInput:
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

    def __init__(self, input_stream: InputStream, timeout: int = 200, return_data: bool | None = None,
                 parent: Any = None, name: str | None = None, handler: Callable[[int, Any], None] | None = None):
        self.input_stream = input_stream
        self.handler = handler
        self.timeout = timeout
        self.return_data = return_data
        self.parent = parent
        self.name = name or f"ThreadPollInput-{input_stream.name or id(input_stream)}"
        self.new_data = Signal()
        self.failed = Signal()
        self.error: BaseException | None = None
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (again, after stop() and wait())."""
        if self.is_alive():
            raise RuntimeError(f"{self.name} is already running")
        self._stop_event.clear()
        self.error = None
        self._thread = threading.Thread(target=self._run_reporting, name=self.name, daemon=True)
        self._thread.start()

    def _run_reporting(self) -> None:
        try:
            self.run()
        except StreamClosedError as exc:
            if self._stop_event.is_set() or self._input_ended():
                logger.info("%s: %s", self.name, exc)
            else:  # e.g. the owner's output was closed under it: a failure, not the end of the input
                self._fail(exc)
        except Exception as exc:
            self._fail(exc)

    def _input_ended(self) -> bool:
        stream = self.input_stream
        return stream.socket is None or bool(getattr(stream, "_peer_closed", False))

    def _fail(self, exc: BaseException) -> None:
        self.error = exc
        if len(self.failed) == 0:  # else the listener (the owner node's _report_error) logs it, once
            logger.error("%s failed: %s", self.name, exc, exc_info=(type(exc), exc, exc.__traceback__))
        self.failed.emit(exc)

    def run(self) -> None:
        """The loop: poll, receive, :meth:`process_data`, until :meth:`stop`."""
        stream = self.input_stream
        while not self._stop_event.is_set():
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

    def stop(self) -> None:
        """Ask the thread to finish (returns at once; see :meth:`wait`)."""
        self._stop_event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the thread to finish; return True if it did."""
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout)
        return not self.is_alive()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    isRunning = is_alive  # QThread spelling, for ported code


class _PollingNode(Node):
    """A node whose only input is read by a ThreadPollInput while running."""

    def _initialize(self) -> None:
        self._poller: ThreadPollInput | None = None

    def _start(self) -> None:
        self._poller = ThreadPollInput(self.input, return_data=True, name=f"{self.name}-poller",
                                       handler=self._on_chunk)
        self._poller.failed.connect(self._on_failure)
        self._poller.start()

    def _stop(self) -> None:
        self._poller.stop()
        self._poller.wait(10)

    def _on_failure(self, exc: BaseException) -> None:
        self._report_error(exc, context="processing its input")

    def _on_chunk(self, pos: int, data: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class StreamConverter(_PollingNode):
    """Forward a stream to an output configured differently (e.g. sharedmem -> tcp).

    Example
    -------
    >>> conv = StreamConverter()
    >>> conv.configure()
    >>> conv.input.connect(device.output)
    >>> conv.output.configure(protocol='tcp', transfermode='plaindata')
    >>> conv.initialize()
    """

    _input_specs = {"in": {}}
    _output_specs = {"out": {}}

    def after_input_connect(self, inputname: str) -> None:
        params = self.input.params
        for key in _PASSTHROUGH_KEYS:
            if key in params and params[key] not in (None, ""):
                self.output.spec[key] = params[key]

    def _initialize(self) -> None:
        super()._initialize()
        # a chunk read from shared memory is valid only until the next one is received,
        # while a plaindata send of a large chunk keeps referencing it: copy it first
        self._copy = self.input.params.transfermode == "sharedmem"

    def _on_chunk(self, pos: int, data: np.ndarray) -> None:
        self.output.send(data.copy() if self._copy else data, index=pos)


class ChannelSplitter(_PollingNode):
    """Split a multichannel stream into several outputs, one per channel group.

    ``configure(output_channels={'left': [0, 1], 'right': [2, 3]})`` creates
    outputs ``left`` and ``right``. Default: one output per channel
    (``ch0``, ``ch1``...), created when the input is connected.
    """

    _input_specs = {"in": {}}
    _output_specs: dict = {}
    _dynamic_streams = True

    def _configure(self, output_channels: dict[str, list[int]] | None = None) -> None:
        self.output_channels = None
        if output_channels is not None:
            if not isinstance(output_channels, dict) or not output_channels:
                raise ValueError(f"{self.name}: output_channels must be a non-empty dict "
                                 "{output_name: [channel indices]}")
            self.output_channels = {str(k): [int(c) for c in v] for k, v in output_channels.items()}
            self._make_outputs()

    def _make_outputs(self) -> None:
        from .stream import OutputStream

        for out_name in self.output_channels:
            if out_name not in self.outputs:
                self.outputs[out_name] = OutputStream(node=self, name=out_name)

    def after_input_connect(self, inputname: str) -> None:
        params = self.input.params
        if len(params.frame_shape) != 1:
            raise ValueError(f"{self.name}: ChannelSplitter needs a (time, channel) stream, got shape {params.shape}")
        n_channels = params.frame_shape[0]
        if self.output_channels is None:
            self.output_channels = {f"ch{i}": [i] for i in range(n_channels)}
            self._make_outputs()
        names = params.get("channel_names")
        for out_name, channels in self.output_channels.items():
            bad = [c for c in channels if not 0 <= c < n_channels]
            if bad:
                raise ValueError(f"{self.name}: output {out_name!r} asks for channels {bad} but the input has "
                                 f"{n_channels} channels")
            spec = self.outputs[out_name].spec
            for key in _PASSTHROUGH_KEYS:
                if key in params and params[key] not in (None, ""):
                    spec[key] = params[key]
            spec["shape"] = (-1, len(channels))
            if names:
                spec["channel_names"] = [names[c] for c in channels]
        self._channel_index = {k: np.asarray(v) for k, v in self.output_channels.items()}

    def _on_chunk(self, pos: int, data: np.ndarray) -> None:
        for out_name, channels in self._channel_index.items():
            self.outputs[out_name].send(np.ascontiguousarray(data[:, channels]), index=pos)


def __getattr__(name: str):  # pyacq's core.tools names defined in chunking.py (imported on use: no import cycle)
    if name in ("ThreadPollOutput", "ChunkResizer"):
        from . import chunking

        return getattr(chunking, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
