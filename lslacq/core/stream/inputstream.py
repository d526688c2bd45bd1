"""InputStream: the receiving end of a stream."""

from __future__ import annotations

import collections
import logging
import os
import socket as pysocket
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import zmq
from zmq.utils.monitor import recv_monitor_message

from ...errors import BrokenStreamError, StreamClosedError, StreamTimeoutError
from .._zmqfast import NOBLOCK
from .._zmqfast import recv as _recv
from .._zmqfast import send as _send
from . import curve, fastpath
from .fastpath import RxCounters
from .flowcontrol import ack_steps, encode_join
from .plaindata import PlainDataReceiver
from .ringbuffer import RingBuffer
from .sharedmemstream import SharedMemReceiver
from .spec import StreamSpec
from .transport import ACK, ACK_COUNTS, CLOSED, HEADER, HELLO, JOIN, LEAVE, SYNC, get_context

if TYPE_CHECKING:
    from .._zmqfast import FrameBuffer

    class _Owner(Protocol):
        """What an InputStream uses of the node that owns it (a :class:`~lslacq.core.node.Node`)."""

        name: str

        def after_input_connect(self, inputname: str) -> None: ...


__all__ = ["InputStream", "all_receivers"]

logger = logging.getLogger(__name__)

all_receivers: dict[str, type[PlainDataReceiver] | type[SharedMemReceiver]] = {
    "plaindata": PlainDataReceiver,
    "sharedmem": SharedMemReceiver,
}

_LATEST_ONLY_HWM = 4  # chunks a latest_only reader queues on its side
_RESYNC_MAX_MESSAGES = 100_000
_HEADER_SIZE = HEADER.size
_unpack_header = HEADER.unpack_from
_pack_ack = ACK_COUNTS.pack
_SYNC_SIZE = len(SYNC) + ACK_COUNTS.size
_monotonic = time.monotonic
_EAGAIN = zmq.EAGAIN
_SKIPPED = object()  # a sharedmem chunk gone from the ring: receive the next one

# Keys an input's spec may require of the output it connects to.
_CHECKED_KEYS = ("streamtype", "dtype", "shape", "transfermode", "sample_rate")


def _output_params(output: Any) -> dict:
    """Extract the parameter dict from an OutputStream, a proxy to one, or a dict."""
    if isinstance(output, Mapping):
        return dict(output)
    params = getattr(output, "params", None)
    if params is None:
        raise ValueError(
            f"cannot connect to {output!r}: it is not configured (no params); call output.configure(...) first"
        )
    if isinstance(params, Mapping):
        return dict(params.to_dict() if isinstance(params, StreamSpec) else params)
    return dict(params.to_dict())  # a proxy to a remote StreamSpec: fetch its value


class InputStream:
    """Receiving end of a stream.

    Parameters
    ----------
    spec : dict, optional
        Requirements on the output this input connects to (e.g.
        ``{'streamtype': 'analogsignal'}``), usually from a Node's ``_input_specs``.
    node : Node, optional
    name : str, optional

    Notes
    -----
    Like pyacq's, an InputStream is not thread-safe: after handing it to a
    reader thread, do not use it from another thread until that thread is done.

    Attributes
    ----------
    params : StreamSpec
        The output's parameters, after :meth:`connect`.
    lost_samples : int
        Samples that never arrived: this reader fell more than its bound
        behind and the output dropped its oldest chunks, it is latest_only,
        or (sharedmem) its unread samples were overwritten.
    max_buffered : float or None
        Flow control, sent to the output at :meth:`connect` (set it before,
        e.g. in a node's ``__init__``, or pass it to ``connect``): how far
        this reader may fall behind, in seconds of data, before the output
        drops its oldest chunks for it. None: the output's default (30 s).
    max_buffered_bytes : int or None
        The same bound in bytes. None: the output's default (256 MiB).
    latest_only : bool
        For viewers: never make the output buffer for this reader; when it
        falls behind it gets the newest chunk and skips older ones (counted
        in ``lost_samples``). Default False.
    """

    def __init__(self, spec: dict | None = None, node: _Owner | None = None, name: str | None = None):
        self.spec = dict(spec or {})
        self.node = node
        self.name = name or ""
        self.params: StreamSpec | None = None
        self.socket: zmq.Socket | None = None
        self.receiver: PlainDataReceiver | SharedMemReceiver | None = None
        # plaindata without codec: (dtype, frame shape, frame bytes)
        self._plain: tuple[np.dtype, tuple[int, ...], int] | None = None
        self._shared: SharedMemReceiver | None = None  # the receiver of a sharedmem stream
        self.buffer: RingBuffer | None = None
        self._own_buffer = False
        self.connected = False
        self.lost_samples = 0
        self.bad_messages = 0
        self._last_index: int | None = None
        self._epoch: int | None = None
        self._peer_closed = False
        self._poller: zmq.Poller | None = None
        self._rcvtimeo: float | None = None
        self._pending: collections.deque[tuple[FrameBuffer | bytes, FrameBuffer | None]] = collections.deque()
        self.max_buffered: float | None = None
        self.max_buffered_bytes: int | None = None
        self.latest_only = False
        self.identity: bytes | None = None
        # credit (see flowcontrol.py): data messages and bytes taken, and when to acknowledge next
        # (messages, nbytes, ack_messages, ack_bytes, ack_deadline, credit: fastpath.RxCounters, C fields with
        # the accelerator, which its PlainReceiver.recv counts)
        self._rx = RxCounters()
        self._credit = False
        self._step_messages = self._step_bytes = 1
        self._ack_interval = 0.25
        self._fast: Any = None  # the C accelerator's PlainReceiver (fastpath.py), while the socket is open

    def __repr__(self) -> str:
        owner = f" of {self.node.name!r}" if self.node is not None else ""
        url = self.params.get("url") if self.params is not None else "not connected"
        return f"<InputStream {self.name!r}{owner} {url}>"

    @property
    def _label(self) -> str:
        node_name = getattr(self.node, "name", "")
        owner = f"{node_name}." if node_name else ""
        return f"InputStream {owner}{self.name or '?'}"

    # -- connection -----------------------------------------------------------
    def connect(
        self,
        output: Any,
        timeout: float = 10.0,
        *,
        max_buffered: float | None = None,
        max_buffered_bytes: int | None = None,
        latest_only: bool | None = None,
        secret_key=None,
    ) -> None:
        """Connect to an output stream.

        Parameters
        ----------
        output : OutputStream, proxy to a remote OutputStream, or its params dict
            The stream to read.
        timeout : float
            Seconds to wait for the output to acknowledge the connection.
            ``connect`` returns only once data sent afterwards is guaranteed
            to arrive (whatever the output's process is doing).
        max_buffered : float, optional
            Seconds of data this reader may fall behind before the output
            drops its oldest chunks for it (sets :attr:`max_buffered`).
        max_buffered_bytes : int, optional
            The same bound in bytes (sets :attr:`max_buffered_bytes`).
        latest_only : bool, optional
            Never cause buffering; skip to the newest chunk when behind
            (sets :attr:`latest_only`).
        secret_key : path or str, optional
            For an output that requires CurveZMQ (bound off loopback in a
            process with keys: its parameters carry its ``server_key``):
            this reader's ``.key_secret`` file or z85 secret key. Default:
            the keys of this process (see :mod:`lslacq.core.stream.curve`).

        Raises
        ------
        ValueError
            If the output does not meet this input's spec, the transport
            cannot reach it from this process, or it requires CurveZMQ and
            this process has no key pair.
        StreamTimeoutError
            If the output does not answer within ``timeout``.
        ConnectionRefusedError
            If the output refused this reader's CurveZMQ handshake (its key
            is not authorized there, or the server key is wrong).
        """
        params = StreamSpec.from_dict(_output_params(output))
        for key in _CHECKED_KEYS:
            if (
                key in self.spec
                and self.spec[key] is not None
                and key in params
                and not _compatible(key, self.spec[key], params[key])
            ):
                raise ValueError(
                    f"{self._label} requires {key}={self.spec[key]!r} but the output has {key}={params[key]!r}"
                )
        url = params.get("url")
        if not url:
            raise ValueError(f"{self._label}: the output parameters carry no 'url'; was the output configured?")
        if params.protocol == "inproc" and params.get("pid") not in (None, os.getpid()):
            raise ValueError(
                f"{self._label}: output {params.get('name')!r} uses protocol='inproc', which works only "
                "between threads of one process; configure it with protocol='ipc' or 'tcp'"
            )
        if max_buffered is not None:
            self.max_buffered = max_buffered
        if max_buffered_bytes is not None:
            self.max_buffered_bytes = max_buffered_bytes
        if latest_only is not None:
            self.latest_only = bool(latest_only)
        options = self._join_options()
        window = params.get("credit_window")
        self._credit = not self.latest_only and isinstance(window, (list, tuple)) and len(window) == 2
        if self._credit:
            options["credit"] = True
            self._step_messages, self._step_bytes = ack_steps(*window)
            self._ack_interval = float(params.get("max_wait") or 1.0) / 4
        self._rx = RxCounters()
        self._rx.credit = self._credit
        self._rx.ack_messages, self._rx.ack_bytes = self._step_messages, self._step_bytes
        if self.socket is not None:
            self.close()
        self.receiver = all_receivers[params.transfermode](params)
        receiver = self.receiver
        self._plain = (
            (receiver.dtype, receiver.frame_shape, receiver.frame_bytes)
            if isinstance(receiver, PlainDataReceiver) and receiver.codec is None
            else None
        )
        self._shared = receiver if isinstance(receiver, SharedMemReceiver) else None
        socket = get_context().socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.RCVHWM, _LATEST_ONLY_HWM if self.latest_only else int(params.hwm))
        self.identity = b"L" + uuid.uuid4().bytes
        socket.setsockopt(zmq.ROUTING_ID, self.identity)
        server_key = params.get("server_key")
        stream = params.get("name") or ""
        try:
            if server_key:
                curve.secure_input(socket, url, server_key, self._label, stream, secret_key)
            # tcp: watch the handshake (an output may require CurveZMQ): a refused one is named at once
            monitor = (
                socket.get_monitor_socket(curve.HANDSHAKE_FAILED | zmq.EVENT_HANDSHAKE_SUCCEEDED)
                if url.startswith("tcp://")
                else None
            )
        except Exception:
            socket.close(0)
            raise
        socket.connect(url)
        slot = getattr(self.receiver, "slot", None)
        if slot is not None:
            options["slot"] = slot
        socket.send_multipart([JOIN, encode_join(options)])
        self.socket = socket
        self._fast = None
        if fastpath.enabled and self._plain is not None:
            dtype, frame_shape, row_nbytes = self._plain
            self._fast = fastpath.accelerator.PlainReceiver(  # type: ignore[union-attr]
                socket.underlying, dtype, frame_shape, row_nbytes
            )
        self._poller = zmq.Poller()
        self._poller.register(socket, zmq.POLLIN)
        self._rcvtimeo = None  # the socket's RCVTIMEO, as a recv() timeout (None: forever)
        self.params = params
        self._pending.clear()
        self._last_index = None
        self._epoch = None
        self._peer_closed = False
        self.lost_samples = 0
        try:
            self._wait_hello(timeout, monitor, server_key, secret_key)
        finally:
            if monitor is not None and self.socket is not None:
                self.socket.disable_monitor()
            if monitor is not None:
                monitor.close(0)
        self.connected = True
        if isinstance(self.receiver, SharedMemReceiver):
            self.buffer = self.receiver.ring
        if self.node is not None:
            try:
                self.node.after_input_connect(self.name)
            except Exception:  # the node refused this stream: do not keep holding it
                self.close()
                raise

    def _join_options(self) -> dict:
        """Return this reader's JOIN options (validated here, so a bad value fails in the caller)."""
        node_name = getattr(self.node, "name", "")
        options = {
            "pid": os.getpid(),
            "host": pysocket.gethostname(),
            "latest_only": bool(self.latest_only),
            "name": f"{node_name}.{self.name}" if node_name else self.name,
        }
        for key, kind in (("max_buffered", float), ("max_buffered_bytes", int)):
            value = getattr(self, key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not value >= 0:
                raise ValueError(
                    f"{self._label}: invalid {key}={value!r}; expected a number >= 0 "
                    f"({'seconds of data' if kind is float else 'bytes'}) or None for the "
                    "output's default"
                )
            options[key] = kind(value)
        return options

    def _wait_hello(self, timeout: float, monitor: zmq.Socket | None = None, server_key=None, secret_key=None) -> None:
        """Wait for the output's HELLO: from then on every chunk it sends reaches us.

        ``monitor``: the socket's connection events (off loopback), so a
        refused CurveZMQ handshake fails at once, naming the stream and the keys.
        """
        params = self.params
        if params is None:
            raise StreamClosedError(f"{self._label} is not connected")
        deadline = time.monotonic() + timeout
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        if monitor is not None:
            poller.register(monitor, zmq.POLLIN)
        handshake = None
        while True:
            remaining = deadline - time.monotonic()
            events = dict(poller.poll(int(remaining * 1000) + 1)) if remaining > 0 else {}
            if monitor is not None and monitor in events:
                event = recv_monitor_message(monitor)["event"]
                if event & curve.HANDSHAKE_FAILED:
                    self._refused(event, server_key, secret_key)
                handshake = "done"
                continue
            if self.socket not in events:
                url = params.get("url")
                self.close()
                hint = "is its process alive and the address reachable from here?"
                if server_key and handshake is None:
                    hint = (
                        f"the output requires CurveZMQ and no handshake completed: {hint} Is "
                        f"server_key={server_key!r} the key of that output (its params say so)?"
                    )
                raise StreamTimeoutError(
                    f"{self._label}: no answer from the output at {url} within {timeout} s; {hint}"
                )
            message = self._recv_message()
            if message[1] is None and bytes(message[0]) == HELLO:
                return
            # zmq registered us before the output noticed: keep this data for recv()
            self._pending.append(message)

    def _refused(self, event: int, server_key, secret_key) -> None:
        """Close and raise ConnectionRefusedError: the output refused the handshake (``event``, a zmq monitor event)."""
        params = self.params
        if params is None:
            raise StreamClosedError(f"{self._label} is not connected")
        url, stream = params.get("url"), params.get("name") or ""
        self.close()
        where = f"{self._label}: output {stream!r} at {url}"
        if not server_key:
            raise ConnectionRefusedError(
                f"{where} refused the connection handshake: it accepts only CurveZMQ readers with an authorized "
                "key, and the stream parameters given to connect() carry no server_key; connect with the "
                "output's own params (they carry its server_key) in a process with the lab's key"
            )
        if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            public = curve.public_key_of(secret_key)
            raise ConnectionRefusedError(
                f"{where} refused this reader's CurveZMQ key {public or '?'}: it is not among the authorized "
                "keys of the output's process. Add its .key file to the --authorized-keys directory of that "
                "process's host (or manager), or give this process the lab's key (secret_key=...)"
            )
        raise ConnectionRefusedError(
            f"{where} failed the CurveZMQ handshake: is server_key={server_key!r} that output's public key? "
            "Use the output's own params (they carry its server_key); an output that was configured again "
            "has its new key in its new params"
        )

    # -- receiving ------------------------------------------------------------
    def poll(self, timeout: float | None = None) -> bool:
        """Return True if a message is waiting; wait at most ``timeout`` ms (None: forever)."""
        poller = self._poller
        if self.socket is None or poller is None:
            raise StreamClosedError(f"{self._label} is not connected")
        # pyzmq's Poller.poll takes float ms (it truncates them); its type stub says int
        return bool(self._pending) or bool(poller.poll(timeout))  # type: ignore[arg-type]

    def recv(
        self, with_data: bool | None = None, return_data: bool | None = None, timeout: float | None = None
    ) -> tuple[int, Any]:
        """Receive the next chunk.

        Parameters
        ----------
        with_data, return_data : bool, optional
            For sharedmem streams: also read the chunk from shared memory
            (default: return None as data, read it with ``input[start:stop]``).
            ``return_data`` is pyacq's spelling of the same option.
        timeout : float, optional
            Milliseconds to wait (None: forever).

        Returns
        -------
        index : int
            Absolute index of the last sample + 1.
        data : ndarray or None

        Raises
        ------
        StreamTimeoutError
            Nothing arrived within ``timeout``.
        StreamClosedError
            The output was closed.
        BrokenStreamError
            A malformed message was received (it is dropped; the next recv continues).
        """
        head: FrameBuffer | bytes
        payload: FrameBuffer | None
        data: np.ndarray | None
        socket = self.socket
        if socket is None:
            raise StreamClosedError(f"{self._label} is not connected")
        plain = self._plain
        if plain is not None and not self._pending and not self.latest_only:
            # plaindata (the hot path, kept short): _recv_message, _took and PlainDataReceiver.decode's
            # usual case inlined; any other message goes through the general path below
            if timeout != self._rcvtimeo:  # one blocking receive with the socket's timeout: no poll
                self._set_rcvtimeo(timeout)
            fast = self._fast
            if fast is not None:  # the C accelerator (fastpath.py): (index, data), or another message, or an errno
                got = fast.recv(self)
                if type(got) is int:
                    if got == _EAGAIN:
                        raise StreamTimeoutError(f"{self._label}: no data within {timeout} ms")
                    raise zmq.ZMQError(got)  # (closed, terminated: what pyzmq raises)
                if got[0] is not None:
                    if self._own_buffer and self.buffer is not None:
                        self.buffer.new_chunk(got[1], got[0])
                    return got
                self._pending.append((got[1], got[2]))  # for the general path below
            else:
                try:
                    head = _recv(socket, 0, False)
                except zmq.Again:
                    raise StreamTimeoutError(f"{self._label}: no data within {timeout} ms") from None
                if head.more:
                    payload = _recv(socket, 0, False)
                    if payload.more:  # no valid message has three parts: drain it, leave an invalid header
                        while payload.more:
                            payload = _recv(socket, 0, False)
                        self._pending.append((b"", payload))
                    else:
                        size = len(head)
                        nbytes = len(payload)
                        if self._credit:
                            self._took(size + nbytes)
                        if size == _HEADER_SIZE:
                            index, n, order, epoch, shape_flag = _unpack_header(head)
                            if order == b"C" and not shape_flag and nbytes == n * plain[2] and n >= 0:
                                if epoch == self._epoch and index - n == self._last_index:
                                    self._last_index = index
                                else:
                                    self._check_continuity(index, n, epoch)
                                # positional arguments: numpy parses keywords slowly. (numpy's type stubs for
                                # Python < 3.12 take only bytes, memoryview...: a zmq Frame is a buffer too)
                                data = np.ndarray((n,) + plain[1], plain[0], payload, 0, None, "C")  # type: ignore[arg-type]
                                if self._own_buffer and self.buffer is not None:
                                    self.buffer.new_chunk(data, index)
                                return index, data
                        self._pending.append((head, payload))
                else:
                    size = len(head)
                    if size >= _HEADER_SIZE:
                        if self._credit:  # _took inlined
                            self._rx.messages += 1
                            self._rx.nbytes += size
                            if (
                                self._rx.messages >= self._rx.ack_messages
                                or self._rx.nbytes >= self._rx.ack_bytes
                                or _monotonic() >= self._rx.ack_deadline
                            ):
                                self._acknowledge()
                        index, n, order, epoch, shape_flag = _unpack_header(head)
                        if order == b"C" and not shape_flag and size - _HEADER_SIZE == n * plain[2] and n >= 0:
                            if epoch == self._epoch and index - n == self._last_index:
                                self._last_index = index
                            else:
                                self._check_continuity(index, n, epoch)
                            data = np.ndarray((n,) + plain[1], plain[0], head, _HEADER_SIZE, None, "C")  # type: ignore[arg-type]
                            if self._own_buffer and self.buffer is not None:
                                self.buffer.new_chunk(data, index)
                            return index, data
                    self._pending.append((head, None))
        want_data = bool(with_data or return_data)
        receiver = self.receiver
        if receiver is None:
            raise StreamClosedError(f"{self._label} is not connected")
        while True:
            if self.latest_only:
                poller = self._poller
                if poller is None:
                    raise StreamClosedError(f"{self._label} is not connected")
                # (float ms: see poll())
                if timeout is not None and not self._pending and not poller.poll(timeout):  # type: ignore[arg-type]
                    raise StreamTimeoutError(f"{self._label}: no data within {timeout} ms")
                self._skip_to_latest()
            if self._pending:
                head, payload = self._pending.popleft()
            else:
                if timeout != self._rcvtimeo:  # one blocking receive with the socket's timeout: no poll
                    self._set_rcvtimeo(timeout)
                try:
                    head, payload = self._recv_message()
                except zmq.Again:
                    raise StreamTimeoutError(f"{self._label}: no data within {timeout} ms") from None
            if payload is None and len(head) < _HEADER_SIZE:
                control = bytes(head)
                if control == HELLO:
                    continue
                if len(control) == _SYNC_SIZE and control.startswith(SYNC):
                    self._sync(control)
                    continue
                if control == CLOSED:
                    self._peer_closed = True
                    name = self.params.get("name") if self.params is not None else None
                    raise StreamClosedError(f"{self._label}: output {name!r} was closed")
            try:
                index, n, epoch, data = receiver.decode(head, payload)
            except BrokenStreamError as exc:
                self.bad_messages += 1
                logger.error("%s", exc)
                raise
            if data is not None:  # plaindata: the chunk came in the message (the hot path: keep it short)
                if epoch == self._epoch and index - n == self._last_index:  # the usual case: the next chunk
                    self._last_index = index
                else:
                    self._check_continuity(index, n, epoch)
                if self.buffer is not None and self._own_buffer:
                    self.buffer.new_chunk(data, index)
                return index, data
            shared = self._shared_chunk(index, n, epoch, want_data)
            if shared is not _SKIPPED:
                return index, shared

    def _set_rcvtimeo(self, timeout: float | None) -> None:
        """Make a blocking receive wait at most ``timeout`` ms (None or < 0: forever), as ``poll`` counts them."""
        socket = self.socket
        if socket is None:
            raise StreamClosedError(f"{self._label} is not connected")
        socket.setsockopt(zmq.RCVTIMEO, -1 if timeout is None or timeout < 0 else int(timeout))
        self._rcvtimeo = timeout

    def _sync(self, control: bytes) -> None:
        """Take the output's count of what it sent before this message (SYNC) as ours and acknowledge it.

        Everything counted there arrived or was lost on the way (a connection
        that broke and came back).
        """
        if not self._credit:
            return
        messages, nbytes = ACK_COUNTS.unpack_from(control, len(SYNC))
        if messages > self._rx.messages or nbytes > self._rx.nbytes:
            logger.info(
                "%s: %d messages were lost in transit (the connection broke?); resynchronised with the output",
                self._label,
                messages - self._rx.messages,
            )
        self._rx.messages, self._rx.nbytes = max(messages, self._rx.messages), max(nbytes, self._rx.nbytes)
        self._acknowledge()

    def _acknowledge(self) -> None:
        """Tell the output how much this reader has taken (its credit)."""
        self._rx.ack_messages = self._rx.messages + self._step_messages
        self._rx.ack_bytes = self._rx.nbytes + self._step_bytes
        self._rx.ack_deadline = _monotonic() + self._ack_interval
        socket = self.socket
        if socket is None:
            raise StreamClosedError(f"{self._label} is not connected")
        try:
            _send(socket, ACK + _pack_ack(self._rx.messages, self._rx.nbytes), NOBLOCK)
        except zmq.Again:  # cannot happen with a few ACKs in flight; the next one carries the counts
            pass

    def _shared_chunk(self, index: int, n: int, epoch: int, want_data: bool) -> Any:
        """Return the data of a sharedmem chunk announced by a message (None unless wanted), or _SKIPPED if gone."""
        receiver = self._shared
        if receiver is None:  # only a sharedmem receiver decodes a message without its data
            raise BrokenStreamError(f"{self._label}: a message without data, but the stream is not sharedmem")
        if receiver.is_stale(epoch):
            # a message about a run the writer has since restarted: its data is gone
            logger.info("%s: dropped a chunk of %d samples from before the sender restarted", self._label, n)
            return _SKIPPED
        ring = receiver.ring
        first = ring.first_index()
        if n < 0 or index > ring.index():
            # the writer writes its ring before it sends the message: this one announces what is not there
            self.bad_messages += 1
            exc = BrokenStreamError(
                f"{self._label}: a sharedmem message announces samples [{index - n}, {index}) "
                f"but the shared ring holds [{first}, {ring.index()}); message dropped (is the "
                "peer an lslacq OutputStream of the same version?)"
            )
            logger.error("%s", exc)
            raise exc
        if index <= first:
            # this chunk was overwritten before we got to it (we stalled and the writer overran us):
            # skip to the newest chunk still in the ring, seen as one gap
            if self._last_index is None and self._epoch in (None, epoch):
                self._last_index = index - n  # the loss starts here
            self._skip_to_latest()
            return _SKIPPED
        if index - n < first:  # partly overwritten: what is left of it (the rest is a gap)
            n = index - first
        self._check_continuity(index, n, epoch)
        receiver.release_before(index - n)  # the data of this chunk stays valid until the next recv
        data = None
        if want_data or self._own_buffer:
            data = self._read_shared(ring, index, n)
            if self.buffer is not None and self._own_buffer:
                self.buffer.new_chunk(data, index)
        return data if want_data else None

    def _skip_to_latest(self) -> bool:
        """Take every queued message and keep only the newest data message (and control messages).

        Returns True if a data message is left to process. The chunks skipped
        show as one index gap (counted in :attr:`lost_samples`).
        """
        pending = self._pending
        poller = self._poller
        if poller is None:
            raise StreamClosedError(f"{self._label} is not connected")
        for _ in range(_RESYNC_MAX_MESSAGES):
            if not poller.poll(0):
                break
            pending.append(self._recv_message())
        last_data = None
        for k, (head, payload) in enumerate(pending):
            if payload is not None or len(head) >= HEADER.size:
                last_data = k
        if last_data is None:
            return False
        if last_data > 0:
            if self._last_index is None:  # the chunks skipped count as lost, from the first one
                for head, payload in pending:
                    if (payload is not None or len(head) >= HEADER.size) and len(head) >= HEADER.size:
                        index, n, _order, epoch, _flag = HEADER.unpack_from(head)
                        if self._epoch in (None, epoch):
                            self._last_index, self._epoch = index - n, epoch
                        break
            kept = [
                m
                for k, m in enumerate(pending)
                if k >= last_data or (m[1] is None and len(m[0]) < HEADER.size and bytes(m[0]) != HELLO)
            ]
            pending.clear()
            pending.extend(kept)
        return True

    def _recv_message(self, flags: int = 0) -> tuple[FrameBuffer | bytes, FrameBuffer | None]:
        """Receive one message as (first frame, second frame or None).

        The frames are zmq.Frame objects, used through the buffer protocol
        (``len``, ``bytes``, numpy and struct read them without a copy; their
        ``.buffer`` memoryview would cost about 1 us per frame).
        """
        socket = self.socket
        if socket is None:
            raise StreamClosedError(f"{self._label} is not connected")
        head = _recv(socket, flags, False)
        if not head.more:
            if self._credit:
                size = len(head)
                if size >= _HEADER_SIZE:
                    self._took(size)
            return head, None
        payload = _recv(socket, 0, False)
        if payload.more:  # no valid message has three parts: drain it, leave an invalid header
            while payload.more:
                payload = _recv(socket, 0, False)
            return b"", payload
        if self._credit:
            self._took(len(head) + len(payload))
        return head, payload

    def _took(self, nbytes: int) -> None:
        """Count a data message taken from the socket; acknowledge every step (credit for the output)."""
        self._rx.messages += 1
        self._rx.nbytes += nbytes
        if (
            self._rx.messages >= self._rx.ack_messages
            or self._rx.nbytes >= self._rx.ack_bytes
            or _monotonic() >= self._rx.ack_deadline
        ):
            self._acknowledge()

    def _check_continuity(self, index: int, n: int, epoch: int) -> None:
        if epoch != self._epoch:
            if self._epoch is not None:  # the sender restarted its count: so do we
                logger.info("%s: the sender restarted its sample count (run %d -> %d)", self._label, self._epoch, epoch)
                self._last_index = None
                if self.buffer is not None and self._own_buffer:
                    self.buffer.reset_index()
            self._epoch = epoch
        start = index - n
        last = self._last_index
        if last is not None and start != last:
            if start > last:
                self.lost_samples += start - last
                logger.warning(
                    "%s: %d samples lost before index %d (total lost: %d)",
                    self._label,
                    start - last,
                    start,
                    self.lost_samples,
                )
            else:  # cannot happen with lslacq senders (they start a new run); be lenient
                logger.info("%s: index went back from %d to %d; restarting the count", self._label, last, start)
                if self.buffer is not None and self._own_buffer:
                    self.buffer.reset_index()
        self._last_index = index

    def _read_shared(self, ring: RingBuffer, index: int, n: int) -> np.ndarray:
        start = index - n
        first = ring.first_index()
        if start < first:
            missed = min(n, first - start)
            self.lost_samples += missed
            logger.warning(
                "%s: reader fell behind: %d samples were overwritten in shared memory before being "
                "read (increase buffer_size or read faster)",
                self._label,
                missed,
            )
            if index <= first:  # the whole chunk is gone
                return np.empty((0,) + ring.frame_shape, dtype=ring.dtype)
            start = first
        return ring.get_data(start, index)

    def empty_queue(self) -> int:
        """Discard every message already queued; return how many were dropped."""
        count = len(self._pending)
        self._pending.clear()
        poller = self._poller
        while self.socket is not None and poller is not None and poller.poll(0):
            self._recv_message()
            count += 1
        self._last_index = None
        return count

    # -- buffering --------------------------------------------------------------
    def set_buffer(self, size: int | None = None, double: bool = True, axisorder=None, shmem=None, fill=None) -> None:
        """Keep the stream's history in a RingBuffer of at least ``size`` samples.

        For sharedmem streams the sender's shared ring is used directly when
        it is large enough and has the requested layout; otherwise a local
        ring is filled on every :meth:`recv`.
        """
        if self.params is None:
            raise StreamClosedError(f"{self._label}: connect() before set_buffer()")
        if isinstance(self.receiver, SharedMemReceiver):
            shared = self.receiver.ring
            if (
                (size is None or size <= shared.size)
                and double == shared.double
                and (axisorder is None or tuple(axisorder) == shared.axisorder)
            ):
                self.buffer, self._own_buffer = shared, False
                return
        if size is None:
            raise ValueError(f"{self._label}: set_buffer needs a size (number of samples to keep)")
        if (
            self.buffer is not None
            and self._own_buffer
            and self.buffer.size >= size
            and self.buffer.double == double
            and (axisorder is None or tuple(axisorder) == self.buffer.axisorder)
        ):
            return
        self.buffer = RingBuffer(
            (int(size),) + self.params.frame_shape,
            self.params.np_dtype,
            double=double,
            shmem=shmem,
            fill=fill,
            axisorder=axisorder,
        )
        self._own_buffer = True

    def get_data(self, *args, **kwargs):
        """Return a segment of the attached RingBuffer (see :meth:`RingBuffer.get_data`)."""
        if self.buffer is None:
            raise LookupError(f"{self._label} has no buffer; call set_buffer(size) first")
        return self.buffer.get_data(*args, **kwargs)

    def __getitem__(self, item):
        if self.buffer is None:
            raise LookupError(f"{self._label} has no buffer; call set_buffer(size) first")
        return self.buffer[item]

    def reset_buffer_index(self) -> None:
        """Forget the index history (done by itself when the sender restarts its count)."""
        self._last_index = None
        if self.buffer is not None and self._own_buffer:
            self.buffer.reset_index()

    # -- closing ----------------------------------------------------------------
    def close(self) -> None:
        """Close the socket; no data can be received after this."""
        if self.socket is not None:
            try:  # let the output free our place at once (it also notices a vanished peer)
                self.socket.send(LEAVE, zmq.NOBLOCK)
            except zmq.ZMQError:
                pass
            self._fast = None
            self.socket.close(100)
            self.socket = None
        if isinstance(self.receiver, SharedMemReceiver):
            self.receiver.close()
        if self.buffer is not None and self._own_buffer:
            self.buffer.close()
        self.connected = False

    def __enter__(self) -> InputStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _compatible(key: str, required, actual) -> bool:
    if key == "dtype":
        try:
            from .spec import normalize_dtype

            return normalize_dtype(required) == normalize_dtype(actual)
        except ValueError:
            return False
    if key == "shape":
        req, act = tuple(required), tuple(actual)
        return len(req) == len(act) and all(r in (-1, a) for r, a in zip(req, act, strict=True))
    return required == actual
