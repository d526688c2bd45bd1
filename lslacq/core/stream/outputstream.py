"""OutputStream: the sending end of a stream."""

from __future__ import annotations

import logging
import os
import socket as pysocket
import threading
import time
from typing import Any

import numpy as np
import zmq

from ...errors import StreamClosedError, StreamTimeoutError
from .._zmqfast import send as _send
from .plaindata import PlainDataSender
from .sharedmemstream import SharedMemSender
from .spec import StreamSpec
from . import admission
from .flowcontrol import ReaderGone, ReaderState, parse_join, send_to
from .transport import CLOSED, HELLO, JOIN, LEAVE, bind_address, connectable_address, get_context

__all__ = ["OutputStream", "all_transfermodes"]

logger = logging.getLogger(__name__)

all_transfermodes = {"plaindata": PlainDataSender, "sharedmem": SharedMemSender}

_EVENTS = int(zmq.EVENTS)
_NOBLOCK = int(zmq.NOBLOCK)
_MORE_NOBLOCK = int(zmq.SNDMORE | zmq.NOBLOCK)
_EHOSTUNREACH = zmq.EHOSTUNREACH
_ADMIT_CHECK_S = 0.02
_POLLIN = int(zmq.POLLIN)


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
    Flow control is per reader and :meth:`send` never waits for a reader
    (sharedmem: at most a short grace, see :class:`SharedMemSender`). Every
    reader that keeps up receives every chunk. A reader whose transport
    queue (``hwm`` chunks) is full gets its own backlog; past its bound
    (``max_buffered`` seconds of data or ``max_buffered_bytes``, set by the
    reader at connect, defaults from :meth:`configure`) that reader alone
    loses the oldest chunks: counted in :meth:`readers`, logged, and seen by
    the reader as an index gap (``InputStream.lost_samples``). A
    ``latest_only`` reader (a viewer) never causes buffering.
    ``configure(on_full='drop')`` makes every reader latest_only.
    """

    def __init__(self, spec: dict | StreamSpec | None = None, node=None, name: str | None = None):
        self.spec = StreamSpec.from_dict(spec or {})
        self.node = node
        self.name = name or ""
        self.params: StreamSpec | None = None
        self.configured = False
        self.socket: zmq.Socket | None = None
        self.sender = None
        self.url = ""
        self.last_index = 0
        self._lock = threading.Lock()
        self._readers_changed = threading.Condition(self._lock)
        self._readers: dict[bytes, ReaderState] = {}
        self._reader_list: list[ReaderState] = []
        self._n_backlogged = 0
        self._ticks_requested = False
        self._next_admit_check = 0.0
        self._epoch = 0
        self._free_shape = False
        self._admission_fd: int | None = None
        self._ipc_path: str | None = None
        self._closed = False

    def __repr__(self) -> str:
        owner = f" of {self.node.name!r}" if self.node is not None else ""
        state = self.url or ("closed" if self._closed else "not configured")
        return f"<OutputStream {self.name!r}{owner} {state}>"

    @property
    def _label(self) -> str:
        owner = f"{self.node.name}." if self.node is not None and getattr(self.node, "name", "") else ""
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
        on_full : {'block', 'drop'}
            'block' (default): every reader gets a bounded backlog (lossless
            while it keeps within ``max_buffered``). 'drop': every reader is
            made latest_only (no backlog: a full reader misses chunks).
        hwm : int
            Chunks queued per reader in the transport before its backlog starts.
        max_buffered : float
            Default bound of a reader's backlog, in seconds of data (in
            samples at ``sample_rate``; in the age of the oldest waiting chunk
            without one), for readers that do not set their own (30 s).
        max_buffered_bytes : int
            Default bound of a reader's backlog in bytes (256 MiB).
        **kwargs
            Other keys (channel names, device metadata...) are carried in the
            stream parameters for readers.
        """
        if self._closed:
            raise StreamClosedError(f"{self._label} is closed; create a new stream")
        fixed = self.spec.explicit_keys()
        for key, value in kwargs.items():
            if key in fixed and not _same(value, self.spec[key]):
                raise ValueError(f"{self._label}: cannot configure {key}={value!r}; the node fixes "
                                 f"{key}={self.spec[key]!r}")
        with self._lock:  # the stream service thread may be servicing the previous socket
            if self.socket is not None:
                self._teardown()
            params = self.spec.copy()
            params.update(kwargs)
            params.validate(self._label)
            params.extra.setdefault("name", self.name)

            socket = get_context().socket(zmq.ROUTER)
            socket.setsockopt(zmq.LINGER, 0)
            socket.setsockopt(zmq.SNDHWM, int(params.hwm))
            socket.setsockopt(zmq.ROUTER_MANDATORY, 1)  # a full reader raises EAGAIN, a gone one EHOSTUNREACH
            socket.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a reader that reconnects (tcp blip) keeps its place
            try:
                socket.bind(bind_address(params.protocol, params.interface, params.port))
            except zmq.ZMQError as exc:
                socket.close(0)
                raise OSError(f"{self._label}: cannot bind {params.protocol}://{params.interface}:"
                              f"{params.port}: {exc}. Choose another port or port='*'") from None
            self.url = connectable_address(socket.getsockopt_string(zmq.LAST_ENDPOINT))
            self.socket = socket
            if params.protocol == "ipc":
                self._ipc_path = self.url[len("ipc://"):]
            try:
                self.sender = all_transfermodes[params.transfermode](socket, params)
            except Exception:
                self._teardown()
                raise
            params.extra.update(self.sender.extra_params())
            params.extra.update(url=self.url, pid=os.getpid(), hostname=pysocket.gethostname())
            self.params = params
            try:
                self._admission_fd = admission.watch(self)
            except Exception:
                self._teardown()
                raise
            self._dtype = params.np_dtype
            self._frame_shape = params.frame_shape
            # pyacq: a plaindata stream whose shape nobody gave carries each chunk's shape
            self._free_shape = params.transfermode == "plaindata" and "shape" not in kwargs \
                and "shape" not in fixed
            self.last_index = 0
            self._epoch = 0
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
        if self.sender is None:
            raise StreamClosedError(f"{self._label} is closed" if self._closed else
                                    f"{self._label} is not configured; call configure() first")
        if not isinstance(data, np.ndarray):
            data = np.frombuffer(data, dtype=self._dtype) if isinstance(data, (bytes, bytearray, memoryview)) \
                else np.asarray(data)
            if data.ndim == 1 and len(self._frame_shape) > 0 and not self._free_shape:
                data = data.reshape((-1,) + self._frame_shape)
        carry_shape = False
        if (data.dtype is not self._dtype and data.dtype != self._dtype) or data.shape[1:] != self._frame_shape:
            if not self._free_shape or data.ndim == 0 or data.dtype != self._dtype:
                raise ValueError(f"{self._label}: chunk of dtype {data.dtype} and shape {data.shape} does not "
                                 f"match the stream ({self._dtype}, (n,) + {self._frame_shape}); convert it with "
                                 f"data.astype({str(self._dtype)!r}) / reshape it")
            carry_shape = True  # a stream whose shape nobody configured: the chunk carries its own
        if index is None:
            index = self.last_index + data.shape[0]
        elif index - data.shape[0] < self.last_index:
            # the producer restarted its count (e.g. an upstream node was restarted): new run
            self.reset_buffer_index()
        with self._lock:
            sender = self.sender
            if sender is None:  # closed by another thread meanwhile
                raise StreamClosedError(f"{self._label} was closed")
            frames = sender.encode(index, data, self._epoch, carry_shape) if carry_shape else \
                sender.encode(index, data, self._epoch)
            if self._reader_list:
                self._fan_out(frames, data.shape[0], index)
            # a JOIN may arrive while we send (and so not wake the service thread): look for
            # it now and then, not on every chunk (it costs ~1.5 us)
            now = time.perf_counter()
            if now >= self._next_admit_check:
                self._next_admit_check = now + _ADMIT_CHECK_S
                if self.socket.getsockopt(_EVENTS) & _POLLIN:
                    self._admit_locked()
        self.last_index = index

    def _fan_out(self, frames: tuple, n: int, index: int) -> None:
        """Send one chunk to every reader: straight into its pipe, or into its backlog."""
        readers = self._reader_list
        if len(frames) > 1 and len(readers) > 1 and not isinstance(frames[1], bytes):
            frames = (frames[0], zmq.Frame(frames[1], copy=False))  # one zero-copy frame for all readers
        socket = self.socket
        head = frames[0]
        payload = frames[1] if len(frames) > 1 else None
        late = None  # readers that get the chunk in their backlog, or are gone
        for reader in readers:
            if reader.backlog:
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
        if late is not None:
            self._queue_late(late, frames, n, index)

    def _queue_late(self, late: list, frames: tuple, n: int, index: int) -> None:
        nbytes = len(frames[0])
        if len(frames) > 1:
            payload = frames[1]
            nbytes += payload.nbytes if hasattr(payload, "nbytes") else len(payload)
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

    def _log_drops(self, reader: ReaderState, dropped: int) -> None:
        logger.warning("%s: %s fell more than its bound behind (max_buffered=%g s, max_buffered_bytes=%d): "
                       "dropped its %d oldest samples (%d in total). It stalled or reads too slowly: read "
                       "faster, connect it with a larger max_buffered, or latest_only=True for a viewer",
                       self._label, reader.label, reader.max_buffered, reader.max_buffered_bytes, dropped,
                       reader.dropped_samples)

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
    def _service(self, timeout: float = -1) -> bool:
        """Admit new readers and drain backlogs; return True while a backlog remains.

        Called by the stream service thread (admission.py) when zmq signals
        activity on the socket and every few ms while backlogs exist.
        Thread-safe; gives up if the stream stays busy for ``timeout`` seconds.
        """
        if not self._lock.acquire(timeout=timeout):
            return True
        try:
            if self.socket is None:
                self._ticks_requested = False
                return False
            self._admit_locked()
            if self._n_backlogged:
                self._drain_locked()
            self._ticks_requested = self._n_backlogged > 0  # False: the service thread stops ticking
            return self._ticks_requested
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
        while socket.getsockopt(_EVENTS) & _POLLIN:
            message = socket.recv_multipart(zmq.NOBLOCK)
            identity, kind = message[0], message[1] if len(message) > 1 else b""
            if kind == JOIN and len(message) <= 3:
                self._join(identity, message[2] if len(message) == 3 else None)
            elif kind == LEAVE and len(message) == 2:
                reader = self._readers.get(identity)
                if reader is not None:
                    self._unregister(reader, "closed its InputStream")
            else:  # bad input from the socket: log, never fail the stream
                logger.warning("%s: ignored a malformed %d-part message from a reader (id %s, first bytes %r); "
                               "is the peer an lslacq InputStream of the same version?", self._label,
                               len(message), identity.hex(), bytes(kind[:32]))
        return len(self._reader_list)

    def _join(self, identity: bytes, raw_options: bytes | None) -> None:
        try:
            options = parse_join(raw_options)
        except ValueError as exc:
            logger.warning("%s: reader %s sent bad options (%s); using the defaults", self._label, identity.hex(),
                           exc)
            options = {}
        params = self.params
        cap = self.sender.ring.size if isinstance(self.sender, SharedMemSender) else None
        try:
            reader = ReaderState(identity, options, params.sample_rate, params.max_buffered,
                                 params.max_buffered_bytes, force_latest_only=params.on_full == "drop",
                                 max_samples_cap=cap)
        except ValueError as exc:
            logger.warning("%s: reader %s: %s; using the output's defaults", self._label, identity.hex(), exc)
            reader = ReaderState(identity, {k: v for k, v in options.items() if not k.startswith("max_")},
                                 params.sample_rate, params.max_buffered, params.max_buffered_bytes,
                                 force_latest_only=params.on_full == "drop", max_samples_cap=cap)
        old = self._readers.get(identity)
        if old is not None:  # the same reader joined again (reconnected): start afresh
            self._unregister(old, "joined again", quiet=True)
        try:
            send_to(self.socket, identity, (HELLO,))
        except (zmq.Again, ReaderGone):  # gone already (or cannot take one message): not registered
            return
        self._readers[identity] = reader
        self._reader_list.append(reader)
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
                logger.info("%s: %s %s; its backlog of %d chunks (%d bytes) is freed", self._label, reader.label,
                            why, len(reader.backlog), reader.backlog_bytes)
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
        """
        with self._lock:
            self._admit_locked()
            rate = self.params.sample_rate if self.params is not None else None
            rows = [reader.status(rate) for reader in self._reader_list]
            if isinstance(self.sender, SharedMemSender):
                self.sender.slots.reap_dead()
                for row, reader in zip(rows, self._reader_list):
                    row["ring_lag_samples"] = self.sender.reader_lag(reader.slot)
        return rows

    def subscriber_count(self) -> int:
        """Number of InputStreams currently connected."""
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
                    raise StreamTimeoutError(f"{self._label}: {n} reader(s) connected after {timeout} s, "
                                             f"expected {count}")
                self._readers_changed.wait(min(remaining, 0.1))

    # -- closing --------------------------------------------------------------
    def _teardown(self) -> None:
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
