"""OutputStream: the sending end of a stream."""

from __future__ import annotations

import logging
import os
import socket as pysocket
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import zmq

from ...errors import StreamClosedError, StreamTimeoutError
from .._zmqfast import get_int as _get_int
from .._zmqfast import send as _send
from . import admission, curve, fastpath
from .flowcontrol import WINDOW_BYTES, ReaderGone, ReaderState, parse_join, send_to
from .plaindata import ZERO_COPY_MIN_BYTES, PlainDataSender
from .sharedmemstream import SharedMemSender
from .spec import StreamSpec
from .transport import (
    ACK,
    ACK_COUNTS,
    CLOSED,
    HEADER,
    HELLO,
    JOIN,
    LEAVE,
    bind_address,
    connectable_address,
    get_context,
)

if TYPE_CHECKING:
    from ..rpc.security import ServerAuth

    class _Owner(Protocol):
        """What an OutputStream uses of the node that owns it (a :class:`~lslacq.core.node.Node`)."""

        name: str

        def after_output_configure(self, outputname: str) -> None: ...


__all__ = ["OutputStream", "all_transfermodes"]

logger = logging.getLogger(__name__)

all_transfermodes: dict[str, type[PlainDataSender] | type[SharedMemSender]] = {
    "plaindata": PlainDataSender,
    "sharedmem": SharedMemSender,
}

_EVENTS = int(zmq.EVENTS)
_NOBLOCK = int(zmq.NOBLOCK)
_MORE_NOBLOCK = int(zmq.SNDMORE | zmq.NOBLOCK)
_EHOSTUNREACH = zmq.EHOSTUNREACH
_ADMIT_CHECK_S = 0.02
# the service thread looks at the socket once the writer has not sent for this long (the writer looks itself
# every _ADMIT_CHECK_S while it sends): a JOIN whose ZMQ_FD signal the writer's last send took in waits that long
_IDLE_LOOK_S = 0.05
_POLLIN = int(zmq.POLLIN)
_ACK_SIZE = len(ACK) + ACK_COUNTS.size
_unpack_ack = ACK_COUNTS.unpack_from
_perf_counter = time.perf_counter
_pack_header = HEADER.pack
_WAIT_SLICE_S = 0.1  # a waiting writer looks at its stop flag at least this often


class OutputStream:
    """Sending end of a stream (one zmq ROUTER socket, any number of readers).

    Parameters
    ----------
    spec : dict or StreamSpec, optional
        Parameters fixed by the owner (usually a Node's ``_output_specs``);
        :meth:`configure` may not contradict them.
    node : Node, optional
        The node that owns this stream.
    name : str, optional
        Stream name, used in messages and logs.

    Notes
    -----
    Flow control is per reader, on credit (see
    :mod:`lslacq.core.stream.flowcontrol`), and the stream knows which kind
    of producer it serves (``on_full``):

    * ``'wait'`` (a plain OutputStream, a filter, a replay at full speed):
      :meth:`send` waits while a reader that is alive has no room, so every
      reader that reads gets every chunk. A reader that reads nothing for
      ``max_wait`` seconds (stalled) is no longer waited for until it reads
      again; meanwhile it gets a bounded backlog.
    * ``'backlog'`` (live sources: device nodes set it, and nodes fed by a
      live source inherit it): :meth:`send` never waits; a reader that
      cannot keep up gets its own backlog, and past its bound
      (``max_buffered`` seconds of data or ``max_buffered_bytes``, set by the
      reader at connect, defaults from :meth:`configure`) that reader alone
      loses the oldest chunks: counted in :meth:`readers`, logged, and seen
      by the reader as an index gap (``InputStream.lost_samples``).
    * ``'latest'``: every reader is latest_only.

    A ``latest_only`` reader (a viewer) never causes buffering or waiting.
    The time the writer waited is in :attr:`wait_seconds` and per reader in
    :meth:`readers`.
    """

    def __init__(self, spec: dict | StreamSpec | None = None, node: _Owner | None = None, name: str | None = None):
        self.spec = StreamSpec.from_dict(spec or {})
        self.node = node
        self.name = name or ""
        self.params: StreamSpec | None = None
        self.configured = False
        self.socket: zmq.Socket | None = None
        self.sender: PlainDataSender | SharedMemSender | None = None
        self.url = ""
        self.last_index = 0
        self._lock = threading.Lock()
        self._readers_changed = threading.Condition(self._lock)
        self._readers: dict[bytes, ReaderState] = {}
        self._reader_list: list[ReaderState] = []
        self._n_backlogged = 0
        self._ticks_requested = False
        self._next_admit_check = 0.0
        self._sent_at = 0.0  # perf_counter of the last send
        self._epoch = 0
        self._free_shape = False
        self._plain_buffer = False  # plaindata of a numeric dtype, no codec: send() encodes C arrays itself
        self._fast: Any = None  # the C accelerator's PlainSender (fastpath.py), while the socket is open
        self._admission_fd: int | None = None
        self._auth: ServerAuth | None = None  # CurveZMQ server settings (bound off loopback in a process with keys)
        self._ipc_path: str | None = None
        self._closed = False
        self._waits = False  # on_full == 'wait'
        self._writer_waiting = False  # a send() waits for readers (and services the socket itself)
        self.wait_seconds = 0.0  # time send() spent waiting for readers

    def __repr__(self) -> str:
        owner = f" of {self.node.name!r}" if self.node is not None else ""
        state = self.url or ("closed" if self._closed else "not configured")
        return f"<OutputStream {self.name!r}{owner} {state}>"

    @property
    def _label(self) -> str:
        node_name = getattr(self.node, "name", "")
        owner = f"{node_name}." if node_name else ""
        return f"OutputStream {owner}{self.name or '?'}"

    # -- configuration ------------------------------------------------------
    def configure(self, **kwargs: Any) -> None:
        """Configure and bind the stream.

        Parameters
        ----------
        protocol : {'tcp', 'ipc', 'inproc'}
            Transport. 'inproc' works only between threads of one process.
        interface : str
            Address to bind ('127.0.0.1' by default; an ipc path or inproc name).
            Off loopback, in a process with CurveZMQ keys, only readers with
            an authorized key are served (see :mod:`lslacq.core.stream.curve`).
        port : int or '*'
            TCP port ('*' picks a free one).
        transfermode : {'plaindata', 'sharedmem'}
            Send the data itself, or write it to shared memory and send indices.
        streamtype : {'analogsignal', 'digitalsignal', 'event', 'image/video'}
        dtype : numpy dtype
            Any dtype, structured ones included.
        shape : tuple
            ``(-1, n_channels)`` for variable-length chunks, ``(-1, H, W[, C])`` for video.
        compression : str
            '' (none), 'blosclz', 'blosc-lz4' (blosc2), 'zlib', 'lzma'.
        scale, offset : float or None
            Physical value = offset + scale * stored value (metadata for readers).
        units : str
        sample_rate : float or None
        buffer_size, double, axisorder, fill
            sharedmem ring buffer options (see :class:`SharedMemSender`).
        on_full : {'wait', 'backlog', 'latest'}
            What a reader with no room gets. 'wait': :meth:`send` waits for
            it (lossless by back-pressure; a reader that reads nothing for
            ``max_wait`` s is not waited for until it reads again). 'backlog':
            send never waits; the reader gets a bounded backlog, then loses
            its oldest chunks (a live source). 'latest': every reader is made
            latest_only. Default: the node's choice ('backlog' for a device
            node or a node fed by one, see ``Node.live_source``), else
            'wait'. ('block' and 'drop' are older spellings of 'wait' and
            'latest'.)
        hwm : int
            Chunks in flight per reader (its credit window; also at most
            :data:`~lslacq.core.stream.flowcontrol.WINDOW_BYTES` bytes).
        max_buffered : float
            Default bound of a reader's backlog, in seconds of data (in
            samples at ``sample_rate``; in the age of the oldest waiting chunk
            without one), for readers that do not set their own (30 s).
        max_buffered_bytes : int
            Default bound of a reader's backlog in bytes (256 MiB).
        max_wait : float
            on_full='wait': seconds a reader may read nothing while the writer
            waits for it before it counts as stalled (1 s).
        **kwargs
            Other keys (channel names, device metadata...) are carried in the
            stream parameters for readers.
        """
        if self._closed:
            raise StreamClosedError(f"{self._label} is closed; create a new stream")
        fixed = self.spec.explicit_keys()
        for key, value in kwargs.items():
            if key in fixed and not _same(value, self.spec[key]):
                raise ValueError(
                    f"{self._label}: cannot configure {key}={value!r}; the node fixes {key}={self.spec[key]!r}"
                )
        with self._lock:  # the stream service thread may be servicing the previous socket
            if self.socket is not None:
                self._teardown()
            params = self.spec.copy()
            params.update(kwargs)
            if "on_full" not in kwargs and "on_full" not in fixed:
                choose = getattr(self.node, "_default_on_full", None)
                params.on_full = choose() if callable(choose) else "wait"
            params.validate(self._label)
            params.extra.setdefault("name", self.name)

            socket = get_context().socket(zmq.ROUTER)
            socket.setsockopt(zmq.LINGER, 0)
            socket.setsockopt(zmq.SNDHWM, int(params.hwm))
            socket.setsockopt(zmq.ROUTER_MANDATORY, 1)  # a full reader raises EAGAIN, a gone one EHOSTUNREACH
            socket.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a reader that reconnects (tcp blip) keeps its place
            address = bind_address(params.protocol, params.interface, params.port)
            try:
                self._auth = curve.secure_output(socket, address, self._label)  # off loopback, with keys
            except Exception:
                socket.close(0)
                raise
            try:
                socket.bind(address)
            except zmq.ZMQError as exc:
                socket.close(0)
                self._release_auth()
                raise OSError(
                    f"{self._label}: cannot bind {params.protocol}://{params.interface}:"
                    f"{params.port}: {exc}. Choose another port or port='*'"
                ) from None
            self.url = connectable_address(socket.getsockopt_string(zmq.LAST_ENDPOINT))
            self.socket = socket
            if params.protocol == "ipc":
                self._ipc_path = self.url[len("ipc://") :]
            try:
                self.sender = all_transfermodes[params.transfermode](socket, params)
            except Exception:
                self._teardown()
                raise
            params.extra.update(self.sender.extra_params())
            params.extra["credit_window"] = [int(params.hwm), WINDOW_BYTES]  # readers acknowledge against it
            params.extra.update(url=self.url, pid=os.getpid(), hostname=pysocket.gethostname())
            params.extra.pop("server_key", None)
            if self._auth is not None:  # readers authenticate against it (CurveZMQ)
                params.extra["server_key"] = self._auth.public_key
            self.params = params
            try:
                self._admission_fd = admission.watch(self)
            except Exception:
                self._teardown()
                raise
            self._dtype = params.np_dtype
            self._frame_shape = params.frame_shape
            # pyacq: a plaindata stream whose shape nobody gave carries each chunk's shape
            self._free_shape = params.transfermode == "plaindata" and "shape" not in kwargs and "shape" not in fixed
            self._plain_buffer = isinstance(self.sender, PlainDataSender) and self.sender._buffer_ok
            self._fast = None
            if fastpath.enabled and self._plain_buffer and not self._free_shape:
                self._fast = fastpath.accelerator.PlainSender(  # type: ignore[union-attr]
                    socket.underlying,
                    self._dtype,
                    self._dtype.itemsize,
                    self._frame_shape,
                    ZERO_COPY_MIN_BYTES,
                    _ADMIT_CHECK_S,
                )
            self.last_index = 0
            self._epoch = 0
            self._waits = params.on_full == "wait"
            self.configured = True
        if self.node is not None:
            self.node.after_output_configure(self.name)

    # -- sending ------------------------------------------------------------
    def send(self, data, index: int | None = None, **kwargs) -> None:
        """Send a chunk.

        Parameters
        ----------
        data : ndarray
            ``(n,) + frame_shape`` samples of the stream's dtype. Do not modify
            the array after sending it: large arrays are sent without a copy.
        index : int, optional
            Absolute index of the last sample + 1. Default: running count.
            An index that goes back starts a new run, as
            :meth:`reset_buffer_index` does.
        """
        if self._fast is not None:  # the C accelerator (fastpath.py): the common chunk in one call
            lock = self._lock
            lock.acquire()
            try:
                fast = self._fast  # (None once closed, under the lock: its socket is gone)
                sent = None if fast is None else fast.send(self, data, index)
                if sent is not None:  # (None: not the common case, the path below sends it)
                    if sent is not True:  # False: look at the socket now; a list: readers that refused it
                        if sent:
                            self._queue_refused(sent, data)
                        self._look_after_send()
                    return
            finally:
                lock.release()
        if self.sender is None:
            raise StreamClosedError(
                f"{self._label} is closed"
                if self._closed
                else f"{self._label} is not configured; call configure() first"
            )
        if not isinstance(data, np.ndarray):
            data = (
                np.frombuffer(data, dtype=self._dtype)
                if isinstance(data, (bytes, bytearray, memoryview))
                else np.asarray(data)
            )
            if data.ndim == 1 and len(self._frame_shape) > 0 and not self._free_shape:
                data = data.reshape((-1,) + self._frame_shape)
        carry_shape = False
        shape = data.shape
        if (data.dtype is not self._dtype and data.dtype != self._dtype) or shape[1:] != self._frame_shape:
            if not self._free_shape or data.ndim == 0 or data.dtype != self._dtype:
                raise ValueError(
                    f"{self._label}: chunk of dtype {data.dtype} and shape {data.shape} does not "
                    f"match the stream ({self._dtype}, (n,) + {self._frame_shape}); convert it with "
                    f"data.astype({str(self._dtype)!r}) / reshape it"
                )
            carry_shape = True  # a stream whose shape nobody configured: the chunk carries its own
        n = shape[0]
        if index is None:
            index = self.last_index + n
        elif index - n < self.last_index:
            # the producer restarted its count (e.g. an upstream node was restarted): new run
            self.reset_buffer_index()
        frames: tuple  # one frame (header and data) or two (header, then the data without a copy)
        lock = self._lock
        lock.acquire()  # (not `with`: a third of the cost)
        try:
            sender = self.sender
            socket = self.socket  # (not None while the sender is not: both change under the lock)
            if sender is None or socket is None:  # closed by another thread meanwhile
                raise StreamClosedError(f"{self._label} was closed")
            if self._plain_buffer and not carry_shape and data.flags.c_contiguous:
                # PlainDataSender.encode's common case, inlined (the hot path: one call less per chunk)
                if data.nbytes < ZERO_COPY_MIN_BYTES:
                    frames = (b"".join((_pack_header(index, n, b"C", self._epoch, 0), data)),)
                else:
                    frames = (_pack_header(index, n, b"C", self._epoch, 0), data)
            elif carry_shape and isinstance(sender, PlainDataSender):  # (only plaindata streams have a free shape)
                frames = sender.encode(index, data, self._epoch, carry_shape)
            else:
                frames = sender.encode(index, data, self._epoch)
            # counted before it leaves: a reader (or counters()) never sees data beyond last_index
            self.last_index = index
            readers = self._reader_list
            if readers:
                if len(readers) == 1 and len(frames) == 1:
                    # one reader, one frame (small chunks): _fan_out's loop inlined
                    reader = readers[0]
                    head = frames[0]
                    nbytes = len(head)
                    if reader.backlog or (
                        reader.credit
                        and (
                            reader.sent_messages - reader.acked_messages >= reader.window_messages
                            or (
                                reader.sent_bytes - reader.acked_bytes + nbytes > reader.window_bytes
                                and reader.sent_bytes - reader.acked_bytes >= reader.min_bytes
                            )
                        )
                    ):
                        self._late(reader, None, frames, n, index, nbytes)  # ReaderState.has_room, inlined
                    else:
                        try:
                            _send(socket, reader.identity, _MORE_NOBLOCK)
                        except zmq.Again:
                            self._late(reader, None, frames, n, index, nbytes)
                        except zmq.ZMQError as exc:
                            if exc.errno != _EHOSTUNREACH:
                                if self._closed:
                                    raise StreamClosedError(f"{self._label} was closed") from None
                                raise
                            self._late(reader, exc, frames, n, index, nbytes)
                        else:
                            _send(socket, head, _NOBLOCK)
                            reader.sent_messages += 1
                            reader.sent_bytes += nbytes
                else:
                    self._fan_out(socket, frames, n, index)
            self._look_after_send()
        finally:
            lock.release()

    def _look_after_send(self) -> None:
        """After a send (the lock held): look at the socket now and then, or have the service thread look soon.

        ZMQ_FD is edge-triggered: a send takes in what reached the socket meanwhile (a JOIN, an ACK), and
        the service thread is then not woken for it. Looking at every chunk would cost ~1.5 us, so the
        writer looks every ``_ADMIT_CHECK_S`` and otherwise asks for service ticks: an output that goes
        idle after this send still admits and hears its readers.
        """
        now = self._sent_at = _perf_counter()
        if now >= self._next_admit_check:
            self._next_admit_check = now + _ADMIT_CHECK_S
            self._admit_locked()
        elif not self._ticks_requested:
            self._ticks_requested = True
            admission.request_ticks(self)

    def _queue_refused(self, refused: list[tuple[ReaderState, int]], data: np.ndarray) -> None:
        """Queue the chunk the accelerator sent (``self.last_index``) for the readers whose pipe refused it."""
        index, n = self.last_index, len(data)
        frames = (_pack_header(index, n, b"C", self._epoch, 0) + data.tobytes(),)
        late = [(reader, zmq.ZMQError(errno) if errno == _EHOSTUNREACH else None) for reader, errno in refused]
        self._queue_late(late, frames, n, index, len(frames[0]))
        if self._waits:
            self._wait_for_readers()

    def _late(self, reader: ReaderState, gone, frames: tuple, n: int, index: int, nbytes: int) -> None:
        """Queue the chunk the one reader cannot take now (or unregister it), as _fan_out does."""
        self._queue_late([(reader, gone)], frames, n, index, nbytes)
        if self._waits:
            self._wait_for_readers()

    def _fan_out(self, socket: zmq.Socket, frames: tuple, n: int, index: int) -> None:
        """Send one chunk to every reader (on ``socket``, the stream's): straight into its pipe, or into its backlog."""
        readers = self._reader_list
        head = frames[0]
        if len(frames) > 1:
            payload = frames[1]
            nbytes = len(head) + (len(payload) if isinstance(payload, bytes) else payload.nbytes)
            if len(readers) > 1 and not isinstance(payload, bytes):
                payload = zmq.Frame(payload, copy=False)  # one zero-copy frame for all readers
                frames = (head, payload)
        else:
            payload = None
            nbytes = len(head)
        # readers that get the chunk in their backlog (with None), or are gone (with the error)
        late: list[tuple[ReaderState, zmq.ZMQError | None]] | None = None
        for reader in readers:
            if reader.backlog or (
                reader.credit
                and (  # not ReaderState.has_room(nbytes), inlined
                    reader.sent_messages - reader.acked_messages >= reader.window_messages
                    or (
                        reader.sent_bytes - reader.acked_bytes + nbytes > reader.window_bytes
                        and reader.sent_bytes - reader.acked_bytes >= reader.min_bytes
                    )
                )
            ):
                late = (late or []) + [(reader, None)]
                continue
            # inlined flowcontrol.send_to (the hot path): once the routing frame is accepted, the rest is
            try:
                _send(socket, reader.identity, _MORE_NOBLOCK)
            except zmq.Again:
                late = (late or []) + [(reader, None)]
                continue
            except zmq.ZMQError as exc:
                if exc.errno == _EHOSTUNREACH:
                    late = (late or []) + [(reader, exc)]
                    continue
                if self._closed:
                    raise StreamClosedError(f"{self._label} was closed") from None
                raise
            if payload is None:
                _send(socket, head, _NOBLOCK)
            else:
                _send(socket, head, _MORE_NOBLOCK)
                _send(socket, payload, _NOBLOCK, False)
            reader.sent_messages += 1
            reader.sent_bytes += nbytes
        if late is not None:
            self._queue_late(late, frames, n, index, nbytes)
            if self._waits:
                self._wait_for_readers()

    def _queue_late(self, late: list, frames: tuple, n: int, index: int, nbytes: int) -> None:
        item = (frames, n, nbytes, time.monotonic(), index)
        for reader, gone in late:
            if gone is not None:
                self._unregister(reader, "disconnected")
                continue
            reader.enqueue(item)
            dropped = 0 if reader.latest_only else reader.drops_to_log()
            if dropped:
                self._log_drops(reader, dropped)
        self._drain_locked(force=False)

    def _wait_for_readers(self) -> None:
        """on_full='wait': return once every reader waited for has taken the chunks queued for it.

        Called with the lock held. The writer services its socket itself
        meanwhile (ACKs drain the backlogs, JOIN/LEAVE are handled); a
        reader that acknowledges nothing for ``max_wait`` s is marked stalled
        and no longer waited for.
        """
        params, socket = self.params, self.socket
        if params is None or socket is None:
            raise StreamClosedError(f"{self._label} was closed while waiting for a reader")
        max_wait = params.max_wait
        self._writer_waiting = True
        try:
            while True:
                now = time.monotonic()
                timeout = _WAIT_SLICE_S
                blocking = []
                for reader in self._reader_list:
                    if not reader.backlog or not reader.credit or reader.stalled:
                        continue
                    if reader.blocked_since is None:
                        reader.blocked_since = now
                    left = reader.blocked_since + max_wait - now
                    if left <= 0:
                        if reader.stall():
                            logger.warning(
                                "%s: %s read nothing for %g s (max_wait) while the writer waited for "
                                "it: no longer waited for until it reads again; meanwhile it keeps a "
                                "backlog of max_buffered=%g s / %d bytes, then loses its oldest data. "
                                "Is it paused (debugger, SIGSTOP, frozen GUI)?",
                                self._label,
                                reader.label,
                                max_wait,
                                reader.max_buffered,
                                reader.max_buffered_bytes,
                            )
                        continue
                    blocking.append(reader)
                    timeout = min(timeout, left)
                if not blocking:
                    return
                if self._closed or self.socket is None:
                    raise StreamClosedError(f"{self._label} was closed while waiting for a reader")
                zmq.zmq_poll([(socket, _POLLIN)], int(timeout * 1000) + 1)
                self._admit_locked()  # ACKs drain the backlogs
                waited = time.monotonic() - now
                self.wait_seconds += waited
                for reader in blocking:
                    reader.wait_seconds += waited
        finally:
            self._writer_waiting = False

    def _log_drops(self, reader: ReaderState, dropped: int) -> None:
        logger.warning(
            "%s: %s fell more than its bound behind (max_buffered=%g s, max_buffered_bytes=%d): "
            "dropped its %d oldest samples (%d in total). It stalled or reads too slowly: read "
            "faster, connect it with a larger max_buffered, or latest_only=True for a viewer",
            self._label,
            reader.label,
            reader.max_buffered,
            reader.max_buffered_bytes,
            dropped,
            reader.dropped_samples,
        )

    def _drain_locked(self, force: bool = True) -> None:
        """Move backlogs into the pipes that have room; ask for service ticks while any remain.

        ``force=False``: readers backing off after failed attempts are skipped (see ReaderState.drain).
        """
        socket = self.socket
        if socket is None:
            return
        waiting = 0
        gone = None
        for reader in self._reader_list:
            if reader.backlog:
                try:
                    if not reader.drain(socket, force):
                        waiting += 1
                except ReaderGone:
                    gone = (gone or []) + [reader]
        self._n_backlogged = waiting
        if gone:
            for reader in gone:
                self._unregister(reader, "disconnected")
            self._n_backlogged = sum(1 for r in self._reader_list if r.backlog)
        if self._n_backlogged and not self._ticks_requested:
            self._ticks_requested = True
            admission.request_ticks(self)

    def reset_buffer_index(self) -> None:
        """Restart the running sample count at 0 (e.g. on node restart).

        Readers notice the new run (the messages carry an epoch) and restart
        their own count and buffer; messages of the old run still queued for
        a sharedmem reader are discarded (their data is gone).
        """
        with self._lock:
            self.last_index = 0
            self._epoch = (self._epoch + 1) % 256
            if isinstance(self.sender, SharedMemSender):
                self.sender.reset_index()

    # -- readers --------------------------------------------------------------
    def _service(self, timeout: float = -1, tick: bool = False) -> bool | float | str:
        """Admit new readers and drain backlogs; return True while a backlog remains.

        Returns :data:`admission.BUSY` (true) if it could not look at the
        socket, or need not: on a ZMQ_FD signal while the writer sends (it
        reads the socket itself every ``_ADMIT_CHECK_S``) and no backlog waits.
        ``tick``: a service tick, not a ZMQ_FD signal. While the writer sends
        and no backlog waits, a tick does not look and returns the seconds
        after which to tick again (a float): the socket is looked at once the
        writer has been idle for ``_IDLE_LOOK_S``.

        Called by the stream service thread (admission.py) when zmq signals
        activity on the socket, every few ms while backlogs exist, and once
        after the writer's last send.
        Thread-safe; gives up if the stream stays busy for ``timeout`` seconds.
        """
        if self._writer_waiting:  # the waiting writer services the socket itself
            return admission.BUSY
        if not self._n_backlogged:  # (read without the lock: a writer that holds it is sending)
            fast = self._fast
            idle = _perf_counter() - (self._sent_at if fast is None else max(self._sent_at, fast.sent_at))
            if tick and idle < _IDLE_LOOK_S:
                return _IDLE_LOOK_S - idle
            if not tick and idle < _ADMIT_CHECK_S:
                # a ZMQ_FD signal (an ACK, a JOIN) while the writer sends: it reads the socket itself within
                # _ADMIT_CHECK_S. Busy: its fd is not watched until a tick (the idle look) watches it again
                return admission.BUSY
        if not self._lock.acquire(timeout=timeout):
            return admission.BUSY
        try:
            if self.socket is None:
                self._ticks_requested = False
                return False
            if self._n_backlogged:
                self._drain_locked()
            # after the drain's sends (they take in what reached the socket without a ZMQ_FD edge)
            self._admit_locked()
            if tick or self._n_backlogged:
                self._ticks_requested = self._n_backlogged > 0  # False: the service thread stops ticking
                return self._ticks_requested
            return False  # (a look on a ZMQ_FD signal leaves the ticks as they are: one may wait for an idle look)
        finally:
            self._lock.release()

    def _admit(self, timeout: float = -1) -> int:
        """Process JOIN/LEAVE messages; return the reader count (-1 if busy for ``timeout`` s)."""
        if not self._lock.acquire(timeout=timeout):
            return -1
        try:
            return self._admit_locked()
        finally:
            self._lock.release()

    def _admit_locked(self) -> int:
        socket = self.socket
        if socket is None:
            return 0
        while self._read_messages(socket):
            # ACKs came for readers with a backlog: send what they have room for. Those sends take in
            # what reached the socket meanwhile (ZMQ_FD will not signal it): look again
            self._drain_locked()
        return len(self._reader_list)

    def _read_messages(self, socket: zmq.Socket) -> bool:
        """Handle every message waiting on the socket; return True if a reader with a backlog got credit."""
        acked = False
        while _get_int(socket, _EVENTS) & _POLLIN:
            message = socket.recv_multipart(zmq.NOBLOCK)
            identity, kind = message[0], message[1] if len(message) > 1 else b""
            if len(kind) == _ACK_SIZE and len(message) == 2 and kind.startswith(ACK):
                reader = self._readers.get(identity)
                if reader is not None:
                    messages, nbytes = _unpack_ack(kind, len(ACK))
                    if reader.acknowledge(messages, nbytes):
                        logger.info("%s: %s reads again: it is waited for again", self._label, reader.label)
                    acked = acked or bool(reader.backlog)
            elif kind == JOIN and len(message) <= 3:
                self._join(identity, message[2] if len(message) == 3 else None)
            elif kind == LEAVE and len(message) == 2:
                reader = self._readers.get(identity)
                if reader is not None:
                    self._unregister(reader, "closed its InputStream")
            else:  # bad input from the socket: log, never fail the stream
                logger.warning(
                    "%s: ignored a malformed %d-part message from a reader (id %s, first bytes %r); "
                    "is the peer an lslacq InputStream of the same version?",
                    self._label,
                    len(message),
                    identity.hex(),
                    bytes(kind[:32]),
                )
        return acked

    def _join(self, identity: bytes, raw_options: bytes | None) -> None:
        try:
            options = parse_join(raw_options)
        except ValueError as exc:
            logger.warning("%s: reader %s sent bad options (%s); using the defaults", self._label, identity.hex(), exc)
            options = {}
        params, socket = self.params, self.socket
        if params is None or socket is None:  # (cannot be: JOINs are read from the configured socket)
            raise StreamClosedError(f"{self._label} is not configured")
        cap = self.sender.ring.size if isinstance(self.sender, SharedMemSender) else None
        window = (int(params.hwm), WINDOW_BYTES)
        try:
            reader = ReaderState(
                identity,
                options,
                params.sample_rate,
                params.max_buffered,
                params.max_buffered_bytes,
                force_latest_only=params.on_full == "latest",
                max_samples_cap=cap,
                window=window,
            )
        except ValueError as exc:
            logger.warning("%s: reader %s: %s; using the output's defaults", self._label, identity.hex(), exc)
            reader = ReaderState(
                identity,
                {k: v for k, v in options.items() if not k.startswith("max_")},
                params.sample_rate,
                params.max_buffered,
                params.max_buffered_bytes,
                force_latest_only=params.on_full == "latest",
                max_samples_cap=cap,
                window=window,
            )
        old = self._readers.get(identity)
        if old is not None:  # the same reader joined again (reconnected): start afresh
            self._unregister(old, "joined again", quiet=True)
        # registered before its HELLO leaves: a reader that has its HELLO is in readers() (and _reader_list)
        self._readers[identity] = reader
        self._reader_list = [*self._reader_list, reader]
        try:
            send_to(socket, identity, (HELLO,))
        except (zmq.Again, ReaderGone):  # gone already (or cannot take one message): not registered
            del self._readers[identity]
            self._reader_list = [r for r in self._reader_list if r is not reader]
            return
        if isinstance(self.sender, SharedMemSender):
            self.sender.set_reader_policy(reader.slot, reader.latest_only)
        logger.debug("%s: %s joined", self._label, reader.label)
        self._readers_changed.notify_all()

    def _unregister(self, reader: ReaderState, why: str, quiet: bool = False) -> None:
        if self._readers.pop(reader.identity, None) is None:
            return
        self._reader_list = [r for r in self._reader_list if r is not reader]
        if reader.backlog:
            self._n_backlogged = max(0, self._n_backlogged - 1)
            if not quiet:
                logger.info(
                    "%s: %s %s; its backlog of %d chunks (%d bytes) is freed",
                    self._label,
                    reader.label,
                    why,
                    len(reader.backlog),
                    reader.backlog_bytes,
                )
        elif not quiet:
            logger.debug("%s: %s %s", self._label, reader.label, why)
        reader.clear()
        if isinstance(self.sender, SharedMemSender):
            self.sender.set_reader_policy(reader.slot, None)
            self.sender.slots.reap_dead()  # a killed reader left its ring slot claimed
        self._readers_changed.notify_all()

    def readers(self) -> list[dict]:
        """Status of every connected reader, for status tables and viewers' status lines.

        Returns
        -------
        list of dict
            One dict per reader: ``id`` (hex), ``name``, ``pid``, ``host``,
            ``latest_only``, ``max_buffered`` (s), ``max_buffered_bytes``,
            ``lag_chunks``, ``lag_samples``, ``lag_seconds`` and
            ``backlog_bytes`` (what waits in this output for the reader,
            beyond the ``hwm`` chunks its transport queues hold),
            ``dropped_chunks``, ``dropped_samples`` (lost by that reader so
            far). Sharedmem streams add ``ring_lag_samples`` (how far the
            reader's position in the shared ring is behind the writer).
            Readers that give credit add ``in_flight_chunks`` and
            ``in_flight_bytes`` (sent, not yet acknowledged; None for
            latest_only readers); every row has ``wait_seconds`` (how long
            the writer waited for this reader), ``stalled`` (on_full='wait':
            not waited for, it read nothing for ``max_wait``) and ``stalls``.
        """
        if not self._lock.acquire(timeout=0.5):  # a writer waiting for a slow reader holds the lock
            rate = self.params.sample_rate if self.params is not None else None
            return [reader.status(rate) for reader in list(self._reader_list)]  # a snapshot, without admitting
        try:
            self._admit_locked()
            rate = self.params.sample_rate if self.params is not None else None
            rows = [reader.status(rate) for reader in self._reader_list]
            if isinstance(self.sender, SharedMemSender):
                self.sender.slots.reap_dead()
                for row, reader in zip(rows, self._reader_list, strict=True):
                    row["ring_lag_samples"] = self.sender.reader_lag(reader.slot)
        finally:
            self._lock.release()
        return rows

    def subscriber_count(self) -> int:
        """Return the number of InputStreams currently connected."""
        return self._admit()

    def wait_for_subscribers(self, count: int = 1, timeout: float = 10.0) -> int:
        """Block until at least ``count`` readers are connected.

        Raises
        ------
        StreamTimeoutError
            If they are not connected within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                n = self._admit_locked()
                remaining = deadline - time.monotonic()
                if n >= count:
                    return n
                if remaining <= 0 or self.socket is None:
                    raise StreamTimeoutError(
                        f"{self._label}: {n} reader(s) connected after {timeout} s, expected {count}"
                    )
                self._readers_changed.wait(min(remaining, 0.1))

    # -- closing --------------------------------------------------------------
    def _teardown(self) -> None:
        self._fast = None
        if self._admission_fd is not None:
            admission.unwatch(self._admission_fd)
            self._admission_fd = None
        if self.socket is not None:
            for reader in self._reader_list:  # tell readers, best effort: nobody must block on a dead stream
                try:
                    if reader.drain(self.socket):
                        send_to(self.socket, reader.identity, (CLOSED,))
                except (zmq.ZMQError, ReaderGone):
                    pass
                reader.clear()
            self._readers.clear()
            self._reader_list = []
            self._n_backlogged = 0
            self._readers_changed.notify_all()
            try:
                self.socket.setsockopt(zmq.LINGER, 200)
            except zmq.ZMQError:
                pass
            self.socket.close()
            self.socket = None
            self._release_auth()
            if self._ipc_path:  # zmq leaves the socket file behind
                try:
                    os.unlink(self._ipc_path)
                except OSError:
                    pass
                self._ipc_path = None
        if self.sender is not None:
            self.sender.close()
            self.sender = None
        self.configured = False

    def _release_auth(self) -> None:
        if self._auth is not None:
            self._auth.release()
            self._auth = None

    def close(self) -> None:
        """Close the stream: readers are told, the socket and shared memory are released."""
        if self._closed:
            return
        self._closed = True
        if self.sender is not None:
            self.sender.stopping = True  # wake a send waiting for readers
        with self._lock:
            self._teardown()

    def __enter__(self) -> OutputStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    try:
        return bool(a == b) or np.dtype(a) == np.dtype(b)
    except (TypeError, ValueError):
        return False
