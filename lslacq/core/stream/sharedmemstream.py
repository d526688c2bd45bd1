"""sharedmem transfer: chunks go into a shared ring buffer; messages carry only indices."""

from __future__ import annotations

import logging
import time

import numpy as np
import zmq

from ...errors import BrokenStreamError, StreamClosedError
from .readerslots import ReaderSlots
from .ringbuffer import RingBuffer
from .spec import StreamSpec
from .transport import HEADER, pack_header

__all__ = ["SharedMemSender", "SharedMemReceiver", "default_buffer_size"]

logger = logging.getLogger(__name__)

_WAIT_STEP_S = 0.0005  # poll period of a writer waiting for a reader to release data
_REAP_EVERY_S = 0.1
_WARN_EVERY_S = 5.0


def default_buffer_size(params: StreamSpec) -> int:
    """Frames kept by a sharedmem stream when ``buffer_size`` is not given:
    10 s of signal at a known sample rate (at least 8192), 64 video frames."""
    if params.streamtype == "image/video":
        return 64
    if params.sample_rate:
        return max(8192, int(10 * params.sample_rate))
    return 100_000


class SharedMemSender:
    """Write chunks into a shared-memory :class:`RingBuffer` and send only the index.

    Extra configure parameters: ``buffer_size`` (frames kept), ``double``
    (contiguous zero-copy reads), ``axisorder`` (memory order), ``fill``.

    Lossless by default: before overwriting samples that a connected reader
    has not received yet, the sender waits (logging a warning every few
    seconds); readers whose process died are detected and forgotten. With
    ``on_full='drop'`` it overwrites instead, and the reader counts the loss.
    """

    def __init__(self, socket: zmq.Socket, params: StreamSpec):
        self.socket = socket
        if params.buffer_size is None:
            params.buffer_size = default_buffer_size(params)
        self.ring = RingBuffer((int(params.buffer_size),) + params.frame_shape, params.np_dtype,
                               double=params.double, shmem=True, fill=params.fill, axisorder=params.axisorder)
        self.slots = ReaderSlots(self.ring.shm)
        self.wait_for_readers = params.on_full == "block"
        self.name = params.get("name", "")
        self.stopping = False
        self._released_up_to = 0  # every reader is known to be past this index
        self._last_start = 0  # first index of the last chunk sent

    def extra_params(self) -> dict:
        return {"shm": self.ring.shm.to_dict()}

    def encode(self, index: int, data: np.ndarray, epoch: int = 0) -> tuple:
        """Write the chunk into the shared ring; return the index-only message."""
        n = data.shape[0]
        if n > self.ring.size:
            raise ValueError(f"sharedmem stream {self.name!r}: a chunk of {n} samples does not fit in the "
                             f"shared ring of buffer_size={self.ring.size}; configure a larger buffer_size "
                             "(at least 2 chunks) or send smaller chunks")
        if self.wait_for_readers:
            # never wait for more than "every reader has the previous chunk": a reader keeps
            # the chunk it is working on, and only gives it back when it receives this one
            self._wait_until_released(min(index - self.ring.size, self._last_start))
        self.ring.new_chunk(data, index)
        self._last_start = index - n
        return (pack_header(index, n, b"C", epoch),)

    def _wait_until_released(self, needed: int) -> None:
        """Block until no live reader still needs samples before ``needed``."""
        if needed <= self._released_up_to:
            return
        start = warned = reaped = time.monotonic()
        while True:
            oldest = self.slots.min_position()
            if oldest is None or oldest >= needed:
                self._released_up_to = needed if oldest is None else oldest
                return
            if self.stopping:
                raise StreamClosedError(f"sharedmem stream {self.name!r} was closed while waiting for a reader")
            now = time.monotonic()
            if now - reaped >= _REAP_EVERY_S:  # is the reader slow, or dead?
                reaped = now
                if self.slots.reap_dead():
                    continue
            if now - warned >= _WARN_EVERY_S:
                warned = now
                logger.warning("sharedmem stream %r: writer blocked for %.0f s by a reader still at index %d "
                               "(configure on_full='drop' to overwrite unread data instead)", self.name,
                               now - start, oldest)
            time.sleep(_WAIT_STEP_S)

    def reset_index(self) -> None:
        self.ring.reset_index()
        self._released_up_to = 0
        self._last_start = 0
        table = self.slots.table
        table[table[:, 0] != 0, 1] = 0

    def close(self) -> None:
        self.stopping = True
        self.ring.close()


class SharedMemReceiver:
    """Map the sender's ring buffer; :meth:`decode` returns indices, data on request.

    The receiver holds a reader slot in the ring: :meth:`release_before`
    tells the writer which samples it no longer needs.
    """

    def __init__(self, params: StreamSpec):
        shm = params.get("shm")
        if not shm:
            raise BrokenStreamError(f"sharedmem stream {params.get('name', '')!r}: params carry no 'shm' "
                                    "description; was the output configured?")
        self.ring = RingBuffer((int(params.buffer_size),) + params.frame_shape, params.np_dtype,
                               double=params.double, shmem=shm, fill=params.fill, axisorder=params.axisorder)
        self.slots = ReaderSlots(self.ring.shm)
        self.slot: int | None = self.slots.claim(self.ring.index())
        self.name = params.get("name", "")

    def decode(self, head: memoryview, payload: memoryview | None) -> tuple[int, int, int, None]:
        if payload is not None or len(head) != HEADER.size:
            raise BrokenStreamError(f"sharedmem stream {self.name!r}: malformed message (expected one "
                                    f"{HEADER.size}-byte header); message dropped")
        index, n, _order, epoch = HEADER.unpack(head)
        return index, n, epoch, None

    def is_stale(self, epoch: int) -> bool:
        """True for a message about a history the writer has since reset (its data is gone)."""
        return epoch != self.ring.epoch() % 256

    def release_before(self, index: int) -> None:
        """Tell the writer samples before ``index`` may be overwritten."""
        if self.slot is not None:
            self.slots.update(self.slot, index)

    def close(self) -> None:
        if self.slot is not None:
            self.slots.release(self.slot)
            self.slot = None
        self.ring.shm.close()
