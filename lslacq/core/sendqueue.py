"""SendQueue: what a server still has to write to one client's non-blocking socket."""

from __future__ import annotations

import socket
import time
from collections import deque
from collections.abc import Callable

__all__ = ["SendQueue"]


class SendQueue:
    """Bytes waiting for one client's non-blocking socket, written in order as it reads.

    The output side of a server with several clients (the RDA emulator, the
    dareplane module server): producers :meth:`put` whole messages, the I/O
    loop :meth:`flush` es what the socket accepts now, so a slow client delays
    nobody else. Not thread-safe: the owner serialises calls with its own lock.

    Parameters
    ----------
    max_bytes : int, optional
        :meth:`put` refuses a message that would make more than this many
        bytes wait (the owner then drops the message or the client).
    """

    def __init__(self, max_bytes: int | None = None):
        self.max_bytes = max_bytes
        self._messages: deque[bytes] = deque()
        self._offset = 0  # bytes of the first message already written
        self.queued = 0  # bytes waiting
        self.last_progress = time.monotonic()

    def __len__(self) -> int:
        return self.queued

    def __bool__(self) -> bool:
        return self.queued > 0

    def put(self, data: bytes) -> bool:
        """Queue ``data``; return False (queuing nothing) if it would exceed ``max_bytes``."""
        if self.max_bytes is not None and self.queued + len(data) > self.max_bytes:
            return False
        if not self.queued:
            self.last_progress = time.monotonic()  # the wait starts now, not when the client last read
        self._messages.append(data)
        self.queued += len(data)
        return True

    def flush(self, sock: socket.socket, piece_size: Callable[[], int] | None = None) -> int:
        """Write what ``sock`` accepts without blocking; return the number of bytes written.

        Parameters
        ----------
        sock : socket.socket
            The client's socket, in non-blocking mode.
        piece_size : callable, optional
            Returns the most bytes to write per ``send`` call (fault injection:
            a server that writes messages in small fragments).

        Raises
        ------
        OSError
            The socket failed (the client is gone); what waits is kept.
        """
        written = 0
        while self._messages:
            view = memoryview(self._messages[0])[self._offset :]
            if piece_size is not None:
                view = view[: piece_size()]
            try:
                n = sock.send(view)
            except (BlockingIOError, InterruptedError):
                break
            written += n
            self._offset += n
            self.queued -= n
            self.last_progress = time.monotonic()
            if self._offset == len(self._messages[0]):
                self._messages.popleft()
                self._offset = 0
        return written

    def stalled_for(self) -> float:
        """Seconds the client has read nothing while data waits for it (0 when nothing waits)."""
        return time.monotonic() - self.last_progress if self.queued else 0.0

    def clear(self) -> None:
        """Forget what waits (the client is dropped)."""
        self._messages.clear()
        self._offset = 0
        self.queued = 0
