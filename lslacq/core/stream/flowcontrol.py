"""Per-reader flow control: lossless where the producer can wait, never blocking where it cannot.

An output keeps one :class:`ReaderState` per registered reader. Readers give
**credit**: each reader reports (ACK) how many data messages and bytes it has
taken from its queue, and the output keeps at most a *window* in flight for
it (``hwm`` messages and :data:`WINDOW_BYTES`; a reader acknowledges every
quarter window, so a reader that keeps up never makes the output wait). A
chunk that does not fit in a reader's window waits in that reader's own
backlog in the output and leaves it as credit arrives (the output's service
thread wakes when an ACK reaches the socket).

What happens then depends on the kind of producer (``on_full``):

* ``'wait'``, a producer that can wait (a script's send loop, a filter, a
  replay played as fast as possible): ``send()`` waits until every reader it
  waits for has room, so a reader that is alive and reading gets everything
  (back-pressure, like PUSH/PULL). A reader that has read nothing for
  ``max_wait`` seconds while the output waited for it is *stalled* (SIGSTOP,
  breakpoint, frozen GUI): the output stops waiting for it, it gets a bounded
  backlog like a live source's reader, and it is waited for again as soon as
  it reads again.
* ``'backlog'``, a live source (a device paced by hardware or a clock):
  ``send()`` never waits; a reader that falls behind gets a bounded backlog.
* ``'latest'``: every reader is latest_only.

A backlog is bounded per reader (``max_buffered`` seconds of data and
``max_buffered_bytes``, in the spirit of liblsl's per-inlet ``max_buffered``):
past the bound the *oldest* chunks are dropped, down to half the bound, so a
reader that stalls loses one contiguous block and sees one index gap, and a
reader that resumes has half its bound of headroom while it catches up. A
``latest_only`` reader (a viewer) never causes buffering or waiting: only the
newest chunk waits for it.

Readers that give no credit (latest_only ones) are flowed by the transport
alone: when zmq's queue for them is full the chunk waits in the backlog, and
draining is retried after 1, 2, 4... up to 64 chunks rather than at every
chunk (a failed attempt costs as much as a send).

This module holds no socket: the output passes its ROUTER socket in.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import time
from typing import Any

import zmq

from .._zmqfast import send as _send
from .fastpath import ReaderCounters
from .transport import ACK_COUNTS, SYNC

__all__ = [
    "ReaderState",
    "ReaderGone",
    "DEFAULT_MAX_BUFFERED",
    "DEFAULT_MAX_BUFFERED_BYTES",
    "WINDOW_BYTES",
    "ack_steps",
    "parse_join",
    "encode_join",
    "send_to",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BUFFERED = 30.0  # seconds of data a reader may fall behind before it loses the oldest
DEFAULT_MAX_BUFFERED_BYTES = 256 * 2**20
TRIM_FRACTION = 0.5  # a backlog over its bound is trimmed to this fraction of it
DROP_LOG_EVERY_S = 5.0
PROBE_EVERY_S = 0.5  # how often an output checks that a reader whose window is full is still connected
WINDOW_BYTES = 64 * 2**20  # bytes in flight to one reader that gives credit (besides ``hwm`` messages)


def ack_steps(window_messages: int, window_bytes: int) -> tuple[int, int]:
    """How often a reader acknowledges: every this many messages or bytes (a quarter window).

    The output always lets a reader have at least one step in flight, so a
    reader that has taken everything (and acknowledged all but less than a
    step) never leaves the output waiting.
    """
    return max(1, int(window_messages) // 4), max(1, int(window_bytes) // 4)


_NOBLOCK = int(zmq.NOBLOCK)
_MORE_NOBLOCK = int(zmq.SNDMORE | zmq.NOBLOCK)
_EHOSTUNREACH = zmq.EHOSTUNREACH


class ReaderGone(Exception):
    """The reader's connection is gone (its peer disconnected)."""


def send_to(socket: zmq.Socket, identity: bytes, frames: tuple) -> None:
    """Send one message to one reader without blocking.

    Raises
    ------
    zmq.Again
        The reader's pipe is full (nothing was queued).
    ReaderGone
        The reader disconnected.
    """
    try:
        _send(socket, identity, _MORE_NOBLOCK)
    except zmq.Again:
        raise
    except zmq.ZMQError as exc:
        if exc.errno == _EHOSTUNREACH:
            raise ReaderGone() from None
        raise
    # once the routing frame is accepted, the rest of the message always is
    if len(frames) == 1:
        _send(socket, frames[0], _NOBLOCK)
    else:
        _send(socket, frames[0], _MORE_NOBLOCK)
        _send(socket, frames[1], _NOBLOCK, False)


def encode_join(options: dict) -> bytes:
    """Encode a reader's JOIN options (the inverse of :func:`parse_join`).

    Parameters
    ----------
    options : dict
        JSON-serializable options (``pid``, ``host``, ``name``, ``latest_only``, ``credit``...).

    Returns
    -------
    bytes
        The options as UTF-8 JSON, the JOIN message's last frame.
    """
    return json.dumps(options).encode()


def parse_join(raw: bytes | None) -> dict:
    """Decode a JOIN message's options; raise ValueError naming what is wrong."""
    if not raw:
        return {}
    try:
        options = json.loads(bytes(raw).decode())
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, a 5000-digit number, nested too deep
        raise ValueError(f"reader options are not JSON ({str(exc)[:200]})") from None
    if not isinstance(options, dict):
        raise ValueError(f"reader options must be a JSON object, got {type(options).__name__}")
    return options


def _bound(value: Any, default: float | None, key: str, kind: type):
    if value is None:
        return default
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(Infinity)
        raise ValueError(f"invalid {key}={value!r:.100}; expected a finite number >= 0") from None
    if isinstance(value, bool) or not 0 <= number < math.inf:  # Infinity would overflow the sample bound
        raise ValueError(f"invalid {key}={value!r:.100}; expected a finite number >= 0")
    return number


class ReaderState(ReaderCounters):
    """What an output knows about one reader, and that reader's backlog.

    Its credit counters are :class:`fastpath.ReaderCounters` (C fields when
    the accelerator is built, which its ``PlainSender.send`` reads and counts).

    Parameters
    ----------
    identity : bytes
        The reader's zmq routing id.
    options : dict
        From its JOIN message: ``pid``, ``host``, ``name``, ``latest_only``, ``credit`` (it sends ACKs),
        ``max_buffered`` (s), ``max_buffered_bytes``, ``slot`` (sharedmem).
    sample_rate : float or None
        The stream's rate: ``max_buffered`` is then counted in samples;
        otherwise in the age of the oldest waiting chunk.
    default_max_buffered, default_max_buffered_bytes : float, int
        The output's defaults, for options the reader left out.
    force_latest_only : bool
        The output imposes latest_only (``on_full='latest'``).
    max_samples_cap : int or None
        Hard cap in samples (a sharedmem ring: older messages point to overwritten data).
    window : tuple of int, optional
        ``(messages, bytes)`` the output keeps in flight for a reader that
        gives credit (the JOIN option ``credit``). None: no credit window.
    """

    def __init__(
        self,
        identity: bytes,
        options: dict,
        sample_rate: float | None = None,
        default_max_buffered: float = DEFAULT_MAX_BUFFERED,
        default_max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
        force_latest_only: bool = False,
        max_samples_cap: int | None = None,
        window: tuple[int, int] | None = None,
    ):
        self.identity = identity
        self.pid = options.get("pid")
        self.host = options.get("host")
        self.name = str(options.get("name") or "")
        slot = options.get("slot")
        self.slot = slot if isinstance(slot, int) and not isinstance(slot, bool) else None
        self.latest_only = bool(options.get("latest_only")) or force_latest_only
        self.max_buffered = _bound(options.get("max_buffered"), default_max_buffered, "max_buffered", float)
        self.max_buffered_bytes = _bound(
            options.get("max_buffered_bytes"), default_max_buffered_bytes, "max_buffered_bytes", int
        )
        self.max_samples: int | None = None
        self.max_age: float | None = None
        if sample_rate:
            self.max_samples = int(min(self.max_buffered * sample_rate, 2**62))  # 1e308 s would be inf samples
        else:
            self.max_age = self.max_buffered
        if max_samples_cap is not None:
            self.max_samples = max_samples_cap if self.max_samples is None else min(self.max_samples, max_samples_cap)
        self.joined_at = time.time()
        # (frames, n samples, n bytes, time queued, index)
        self.backlog: collections.deque = collections.deque()
        self.backlog_bytes = 0
        self.backlog_samples = 0
        self.dropped_chunks = 0
        self.dropped_samples = 0
        self._logged_drops = 0
        self._next_log = 0.0
        # a writer running flat out into a full pipe retries draining after 1, 2, 4... 64 chunks,
        # not at every chunk (a failed attempt costs as much as sending)
        self._retry_in = 0
        self._backoff = 1
        # credit: messages and bytes sent into the reader's pipe, and acknowledged by it
        self.credit = bool(options.get("credit")) and not self.latest_only and window is not None
        self.window_messages, self.window_bytes = window or (0, 0)
        self.min_messages, self.min_bytes = ack_steps(*window) if window else (0, 0)
        self.sent_messages = self.sent_bytes = 0
        self.acked_messages = self.acked_bytes = 0
        # on_full='wait': the output waits for this reader unless it stalled
        self.stalled = False
        self.stalls = 0
        self.blocked_since: float | None = None  # when the output started waiting for it
        self.wait_seconds = 0.0  # time the writer spent waiting for this reader
        self._next_stall_log = 0.0
        self._next_probe = 0.0

    @property
    def label(self) -> str:
        """The reader as log messages name it: its name, pid, host and routing id."""
        who = f"{self.name!r} " if self.name else ""
        where = f"pid {self.pid}" + (f" on {self.host}" if self.host else "")
        return f"reader {who}({where}, id {self.identity.hex()})"

    # -- credit -------------------------------------------------------------
    def has_room(self, nbytes: int) -> bool:
        """Return True if a message of ``nbytes`` fits in this reader's credit window (always, without credit)."""
        if not self.credit:
            return True
        if self.sent_messages - self.acked_messages >= self.window_messages:
            return False
        in_bytes = self.sent_bytes - self.acked_bytes
        return in_bytes + nbytes <= self.window_bytes or in_bytes < self.min_bytes

    def acknowledge(self, messages: int, nbytes: int) -> bool:
        """Take an ACK (cumulative counts); return True if the reader was stalled and reads again."""
        if messages > self.acked_messages:
            self.acked_messages = messages
        if nbytes > self.acked_bytes:
            self.acked_bytes = nbytes
        self.blocked_since = None
        if self.stalled:
            self.stalled = False
            return True
        return False

    def stall(self) -> bool:
        """Stop waiting for this reader (it read nothing for max_wait); return True if a log is due."""
        self.stalled = True
        self.stalls += 1
        self.blocked_since = None
        now = time.monotonic()
        if now < self._next_stall_log:
            return False
        self._next_stall_log = now + DROP_LOG_EVERY_S
        return True

    # -- backlog ------------------------------------------------------------
    def enqueue(self, item: tuple) -> None:
        """Queue a chunk the pipe could not take; drop the oldest past the bound."""
        backlog = self.backlog
        if self.latest_only:  # only the newest chunk may wait
            while backlog:
                self._drop_oldest()
        backlog.append(item)
        self.backlog_bytes += item[2]
        self.backlog_samples += item[1]
        if self._over(1.0):
            while len(backlog) > 1 and self._over(TRIM_FRACTION):
                self._drop_oldest()

    def _over(self, fraction: float) -> bool:
        if self.backlog_bytes > self.max_buffered_bytes * fraction:
            return True
        if self.max_samples is not None and self.backlog_samples > self.max_samples * fraction:
            return True
        if self.max_age is not None:
            return time.monotonic() - self.backlog[0][3] > self.max_age * fraction
        return False

    def _drop_oldest(self) -> None:
        _frames, n, nbytes, _t, _index = self.backlog.popleft()
        self.backlog_bytes -= nbytes
        self.backlog_samples -= n
        self.dropped_chunks += 1
        self.dropped_samples += n

    def drops_to_log(self) -> int:
        """Return the samples dropped since the last report if a report is due (rate-limited), else 0."""
        new = self.dropped_samples - self._logged_drops
        if new <= 0:
            return 0
        now = time.monotonic()
        if now < self._next_log:
            return 0
        self._next_log = now + DROP_LOG_EVERY_S
        self._logged_drops = self.dropped_samples
        return new

    def drain(self, socket: zmq.Socket, force: bool = True) -> bool:
        """Send as much of the backlog as the pipe takes, oldest first; return True once empty.

        ``force=False`` (at each send of a writer): skip the attempt while
        backing off after attempts that sent nothing.

        Raises
        ------
        ReaderGone
            The reader disconnected.
        """
        if not force and self._retry_in > 0:
            self._retry_in -= 1
            return not self.backlog
        backlog = self.backlog
        sent = 0
        while backlog:
            item = backlog[0]
            if self.credit and not self.has_room(item[2]):
                self._probe(socket)
                return False  # the next ACK drains more
            try:
                send_to(socket, self.identity, item[0])
            except zmq.Again:
                if sent:
                    self._backoff = 1
                else:
                    self._backoff = min(64, self._backoff * 2)
                self._retry_in = self._backoff
                return False
            sent += 1
            backlog.popleft()
            self.backlog_bytes -= item[2]
            self.backlog_samples -= item[1]
            self.sent_messages += 1
            self.sent_bytes += item[2]
        self._backoff = 1
        self._retry_in = 0
        return True

    def _probe(self, socket: zmq.Socket) -> None:
        """Now and then, tell a reader whose window is full what was sent to it (SYNC).

        A reader that is there answers with an ACK of those counts: that
        reopens a window that messages lost in transit (a broken connection
        that zmq re-established) would otherwise keep full forever. A reader
        that is gone shows here.

        Raises
        ------
        ReaderGone
            The reader disconnected (its process was killed, say).
        """
        now = time.monotonic()
        if now < self._next_probe:
            return
        self._next_probe = now + PROBE_EVERY_S
        try:
            send_to(socket, self.identity, (SYNC + ACK_COUNTS.pack(self.sent_messages, self.sent_bytes),))
        except zmq.Again:  # its pipe is full: it is there, and behind
            pass

    def clear(self) -> None:
        """Forget the backlog (the reader left or the stream closes)."""
        self.backlog.clear()
        self.backlog_bytes = self.backlog_samples = 0

    # -- status ---------------------------------------------------------------
    def status(self, sample_rate: float | None = None) -> dict:
        """One row of :meth:`OutputStream.readers`."""
        if self.backlog:
            age = time.monotonic() - self.backlog[0][3]
            lag_s = self.backlog_samples / sample_rate if sample_rate else age
        else:
            lag_s = 0.0
        return {
            "id": self.identity.hex(),
            "name": self.name,
            "pid": self.pid,
            "host": self.host,
            "latest_only": self.latest_only,
            "max_buffered": self.max_buffered,
            "max_buffered_bytes": self.max_buffered_bytes,
            "lag_chunks": len(self.backlog),
            "lag_samples": self.backlog_samples,
            "lag_seconds": lag_s,
            "backlog_bytes": self.backlog_bytes,
            "dropped_chunks": self.dropped_chunks,
            "dropped_samples": self.dropped_samples,
            "in_flight_chunks": self.sent_messages - self.acked_messages if self.credit else None,
            "in_flight_bytes": self.sent_bytes - self.acked_bytes if self.credit else None,
            "stalled": self.stalled,
            "stalls": self.stalls,
            "wait_seconds": self.wait_seconds,
        }
