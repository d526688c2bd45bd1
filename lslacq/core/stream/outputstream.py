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
from .plaindata import PlainDataSender
from .sharedmemstream import SharedMemSender
from .spec import StreamSpec
from . import admission
from .transport import CLOSED, HELLO, bind_address, connectable_address, get_context

__all__ = ["OutputStream", "all_transfermodes"]

logger = logging.getLogger(__name__)

all_transfermodes = {"plaindata": PlainDataSender, "sharedmem": SharedMemSender}

# A blocked send wakes up this often to notice close(), and logs that a
# reader is not keeping up every _BLOCKED_WARNING_S.
_BLOCKED_POLL_MS = 200
_SNDMORE = int(zmq.SNDMORE)
_EVENTS = int(zmq.EVENTS)
_ADMIT_CHECK_S = 0.02
_POLLIN = int(zmq.POLLIN)
_BLOCKED_WARNING_S = 5.0


class OutputStream:
    """Sending end of a stream (one zmq XPUB socket, any number of readers).

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
    By default a stream is lossless: when a reader falls behind by ``hwm``
    chunks, :meth:`send` blocks (back-pressure) and logs a warning every few
    seconds instead of dropping data. ``configure(on_full='drop')`` lets
    slow readers miss chunks instead; readers count the missing samples
    (``InputStream.lost_samples``) and log them.
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
        self._subscribers = 0
        self._next_admit_check = 0.0
        self._epoch = 0
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
            What happens when a reader is ``hwm`` chunks behind.
        hwm : int
            Chunks queued per reader before ``on_full`` applies.
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
        if self.socket is not None:
            self._teardown()
        params = self.spec.copy()
        params.update(kwargs)
        params.validate(self._label)
        params.extra.setdefault("name", self.name)

        socket = get_context().socket(zmq.XPUB)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.SNDHWM, int(params.hwm))
        socket.setsockopt(zmq.XPUB_VERBOSER, 1)  # every (un)subscription is reported: we count readers
        if params.on_full == "block":
            socket.setsockopt(zmq.XPUB_NODROP, 1)
            socket.setsockopt(zmq.SNDTIMEO, _BLOCKED_POLL_MS)
        try:
            socket.bind(bind_address(params.protocol, params.interface, params.port))
        except zmq.ZMQError as exc:
            socket.close(0)
            raise OSError(f"{self._label}: cannot bind {params.protocol}://{params.interface}:{params.port}: {exc}. "
                          "Choose another port or port='*'") from None
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
            if data.ndim == 1 and len(self._frame_shape) > 0:
                data = data.reshape((-1,) + self._frame_shape)
        if (data.dtype is not self._dtype and data.dtype != self._dtype) or data.shape[1:] != self._frame_shape:
            raise ValueError(f"{self._label}: chunk of dtype {data.dtype} and shape {data.shape} does not match the "
                             f"stream ({self._dtype}, (n,) + {self._frame_shape}); convert it with "
                             f"data.astype({str(self._dtype)!r}) / reshape it")
        if index is None:
            index = self.last_index + data.shape[0]
        elif index - data.shape[0] < self.last_index:
            # the producer restarted its count (e.g. an upstream node was restarted): new run
            self.reset_buffer_index()
        with self._lock:
            sender = self.sender
            if sender is None:  # closed by another thread meanwhile
                raise StreamClosedError(f"{self._label} was closed")
            frames = sender.encode(index, data, self._epoch)
            self._send_frames(frames)
            # zmq may have handed us a new subscription while sending (and so not woken the
            # admission thread): look for it now and then, not on every chunk (it costs ~1.5 us)
            now = time.perf_counter()
            if now >= self._next_admit_check:
                self._next_admit_check = now + _ADMIT_CHECK_S
                if self.socket.getsockopt(_EVENTS) & _POLLIN:
                    self._admit_locked()
        self.last_index = index

    def _send_frames(self, frames: tuple) -> None:
        """Send one message; with on_full='block', wait (and warn) while a reader is full."""
        socket = self.socket
        more = len(frames) > 1
        blocked_since = None
        while True:
            try:
                socket.send(frames[0], _SNDMORE if more else 0, copy=True)
                break
            except zmq.Again:
                if self._closed:
                    raise StreamClosedError(f"{self._label} was closed while a send was blocked") from None
                self._admit_locked()  # nothing of this message is queued yet: safe, and keeps admitting readers
                now = time.monotonic()
                if blocked_since is None:
                    blocked_since = warned_at = now
                elif now - warned_at >= _BLOCKED_WARNING_S:
                    warned_at = now
                    logger.warning("%s: send blocked for %.0f s: a reader is %d chunks behind and not reading "
                                   "(configure on_full='drop' to drop chunks for slow readers instead)",
                                   self._label, now - blocked_since, self.params.hwm)
            except zmq.ZMQError:
                if self._closed:
                    raise StreamClosedError(f"{self._label} was closed") from None
                raise
        if more:  # once the first part is accepted the rest always is
            socket.send(frames[1], 0, copy=False)

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
    def _admit(self, timeout: float = -1) -> int:
        """Register readers that subscribed since the last call; return the reader count.

        New readers are greeted with a HELLO broadcast (only registered
        readers receive it). Called by the admission thread when zmq signals
        activity on the socket, and by :meth:`send`. Thread-safe; gives up
        (returning -1) if the stream stays busy for ``timeout`` seconds.
        """
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
        joined = 0
        while socket.getsockopt(_EVENTS) & _POLLIN:
            msg = socket.recv()
            if msg[:1] == b"\x01":
                self._subscribers += 1
                joined += 1
            elif msg[:1] == b"\x00":
                self._subscribers -= 1
        if joined:
            try:
                socket.send(HELLO, zmq.NOBLOCK)
            except zmq.Again:  # a full reader: it already receives data, so it is registered
                pass
            self._readers_changed.notify_all()
        return self._subscribers

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
                self._readers_changed.wait(remaining)

    # -- closing --------------------------------------------------------------
    def _teardown(self) -> None:
        if self._admission_fd is not None:
            admission.unwatch(self._admission_fd)
            self._admission_fd = None
        if self.socket is not None:
            try:  # tell readers, best effort: nobody must block on a dead stream
                self.socket.send(CLOSED, zmq.NOBLOCK)
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
