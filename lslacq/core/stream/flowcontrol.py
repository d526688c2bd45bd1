"""Per-reader flow control: a stalled reader never holds back the writer or another reader.

An output keeps one :class:`ReaderState` per registered reader. A chunk goes
straight to a reader whose zmq pipe has room; when the pipe is full (the
reader is slow, paused or frozen) the chunk waits in that reader's own
backlog, which is drained oldest first as soon as the pipe has room again.
The backlog is bounded per reader (``max_buffered`` seconds of data and
``max_buffered_bytes``, in the spirit of liblsl's per-inlet ``max_buffered``):
past the bound the *oldest* chunks are dropped, down to half the bound, so a
reader that stalls loses one contiguous block and sees one index gap, and a
reader that resumes has half its bound of headroom while it catches up. A
``latest_only`` reader (a viewer) never causes buffering: only the newest
chunk waits for it.

A writer that runs flat out into a reader's full pipe retries draining it
after 1, 2, 4... up to 64 chunks rather than at every chunk (a failed attempt
costs as much as a send); the output's service thread also drains every few
ms and whenever zmq signals that a pipe has room.

This module holds no socket: the output passes its ROUTER socket in.
"""

from __future__ import annotations

import collections
import json
import logging
import time
from typing import Any

import zmq

from .._zmqfast import send as _send

__all__ = ["ReaderState", "ReaderGone", "DEFAULT_MAX_BUFFERED", "DEFAULT_MAX_BUFFERED_BYTES", "parse_join",
           "encode_join", "send_to"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BUFFERED = 30.0  # seconds of data a reader may fall behind before it loses the oldest
DEFAULT_MAX_BUFFERED_BYTES = 256 * 2**20
TRIM_FRACTION = 0.5  # a backlog over its bound is trimmed to this fraction of it
DROP_LOG_EVERY_S = 5.0

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
    return json.dumps(options).encode()


def parse_join(raw: bytes | None) -> dict:
    """Decode a JOIN message's options; raise ValueError naming what is wrong."""
    if not raw:
        return {}
    try:
        options = json.loads(bytes(raw).decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"reader options are not JSON ({exc})") from None
    if not isinstance(options, dict):
        raise ValueError(f"reader options must be a JSON object, got {type(options).__name__}")
    return options


def _bound(value: Any, default: float | None, key: str, kind: type):
    if value is None:
        return default
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"invalid {key}={value!r}; expected a number >= 0") from None
    if isinstance(value, bool) or not number >= 0:
        raise ValueError(f"invalid {key}={value!r}; expected a number >= 0")
    return number


class ReaderState:
    """What an output knows about one reader, and that reader's backlog.

    Parameters
    ----------
    identity : bytes
        The reader's zmq routing id.
    options : dict
        From its JOIN message: ``pid``, ``host``, ``name``, ``latest_only``,
        ``max_buffered`` (s), ``max_buffered_bytes``, ``slot`` (sharedmem).
    sample_rate : float or None
        The stream's rate: ``max_buffered`` is then counted in samples;
        otherwise in the age of the oldest waiting chunk.
    default_max_buffered, default_max_buffered_bytes : float, int
        The output's defaults, for options the reader left out.
    force_latest_only : bool
        The output imposes latest_only (``on_full='drop'``).
    max_samples_cap : int or None
        Hard cap in samples (a sharedmem ring: older messages point to overwritten data).
    """

    def __init__(self, identity: bytes, options: dict, sample_rate: float | None = None,
                 default_max_buffered: float = DEFAULT_MAX_BUFFERED,
                 default_max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES, force_latest_only: bool = False,
                 max_samples_cap: int | None = None):
        self.identity = identity
        self.pid = options.get("pid")
        self.host = options.get("host")
        self.name = str(options.get("name") or "")
        slot = options.get("slot")
        self.slot = slot if isinstance(slot, int) and not isinstance(slot, bool) else None
        self.latest_only = bool(options.get("latest_only")) or force_latest_only
        self.max_buffered = _bound(options.get("max_buffered"), default_max_buffered, "max_buffered", float)
        self.max_buffered_bytes = _bound(options.get("max_buffered_bytes"), default_max_buffered_bytes,
                                         "max_buffered_bytes", int)
        self.max_samples: int | None = None
        self.max_age: float | None = None
        if sample_rate:
            self.max_samples = int(self.max_buffered * sample_rate)
        else:
            self.max_age = self.max_buffered
        if max_samples_cap is not None:
            self.max_samples = max_samples_cap if self.max_samples is None else min(self.max_samples,
                                                                                   max_samples_cap)
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

    @property
    def label(self) -> str:
        who = f"{self.name!r} " if self.name else ""
        where = f"pid {self.pid}" + (f" on {self.host}" if self.host else "")
        return f"reader {who}({where}, id {self.identity.hex()})"

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
        """Samples dropped since the last report, if a report is due (rate-limited), else 0."""
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
        self._backoff = 1
        self._retry_in = 0
        return True

    def clear(self) -> None:
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
        }
