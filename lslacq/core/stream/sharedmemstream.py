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
_IDLE_REAP_EVERY_S = 1.0


def default_buffer_size(params: StreamSpec) -> int:
    """Return the frames kept by a sharedmem stream when ``buffer_size`` is not given.

    10 s of signal at a known sample rate (at least 8192), 64 video frames.
    """
    if params.streamtype == "image/video":
        return 64
    if params.sample_rate:
        return max(8192, int(10 * params.sample_rate))
    return 100_000


class SharedMemSender:
    """Write chunks into a shared-memory :class:`RingBuffer` and send only the index.

    Extra configure parameters: ``buffer_size`` (frames kept), ``double``
    (contiguous zero-copy reads), ``axisorder`` (memory order), ``fill``.

    The ring is every reader's buffer. With ``on_full='wait'`` (a producer
    that can wait), before overwriting samples that a reader has not
    released yet the writer waits for it, at most ``max_wait`` seconds (1 s):
    a reader that keeps up (even one briefly descheduled while the writer
    runs flat out) loses nothing. A reader that does not release in time
    (stalled) is overrun: the writer stops waiting for it until it has
    caught up, and the reader counts one gap (``InputStream.lost_samples``).
    A live source (``on_full='backlog'``) never waits: a reader more than the
    ring behind is overrun. latest_only readers are never waited for.
    Readers whose process died are detected (pid) and forgotten.
    """

    def __init__(self, socket: zmq.Socket, params: StreamSpec):
        self.socket = socket
        if params.buffer_size is None:
            params.buffer_size = default_buffer_size(params)
        self.ring = RingBuffer(
            (int(params.buffer_size),) + params.frame_shape,
            params.np_dtype,
            double=params.double,
            shmem=True,
            fill=params.fill,
            axisorder=params.axisorder,
        )
        self.slots = ReaderSlots(self.ring.shm)
        self.wait_for_readers = params.on_full == "wait"
        self.max_wait = float(params.max_wait)
        self.name = params.get("name", "")
        self.stopping = False
        self._released_up_to = 0  # every reader waited for is known to be past this index
        self._last_start = 0  # first index of the last chunk sent
        self._no_wait: set[int] = set()  # slots of latest_only readers
        self._overrun: set[int] = set()  # slots of readers overwritten until they catch up
        self._next_overrun_log = 0.0
        self._next_reap = 0.0

    def extra_params(self) -> dict:
        """Return the keys this transfer mode adds to the stream parameters: ``shm``, the ring's memory."""
        shm = self.ring.shm
        if shm is None:  # (cannot be: the ring is made in shared memory)
            raise RuntimeError(f"sharedmem stream {self.name!r}: its ring buffer is not in shared memory")
        return {"shm": shm.to_dict()}

    def encode(self, index: int, data: np.ndarray, epoch: int = 0) -> tuple:
        """Write the chunk into the shared ring; return the index-only message."""
        n = data.shape[0]
        if n > self.ring.size:
            raise ValueError(
                f"sharedmem stream {self.name!r}: a chunk of {n} samples does not fit in the "
                f"shared ring of buffer_size={self.ring.size}; configure a larger buffer_size "
                "(at least 2 chunks) or send smaller chunks"
            )
        if self.wait_for_readers:
            # never wait for more than "every reader has the previous chunk": a reader keeps
            # the chunk it is working on, and only gives it back when it receives this one
            self._wait_until_released(min(index - self.ring.size, self._last_start))
        now = time.monotonic()
        if now >= self._next_reap:  # readers killed while the writer was not waiting for them
            self._next_reap = now + _IDLE_REAP_EVERY_S
            self.slots.reap_dead()
        self.ring.new_chunk(data, index)
        self._last_start = index - n
        return (pack_header(index, n, b"C", epoch),)

    def set_reader_policy(self, slot: int | None, latest_only: bool | None) -> None:
        """Tell the writer about the reader holding ``slot`` (None: it left)."""
        if slot is None or not 0 <= slot < len(self.slots.table):
            return
        self._overrun.discard(slot)
        if latest_only:
            self._no_wait.add(slot)
        else:
            self._no_wait.discard(slot)
        self._released_up_to = 0  # recompute

    def reader_lag(self, slot: int | None) -> int | None:
        """Return the samples between the writer and the reader holding ``slot`` (None: no such reader)."""
        if slot is None or not 0 <= slot < len(self.slots.table) or not self.slots.table[slot, 0]:
            return None
        return max(0, self.ring.index() - int(self.slots.table[slot, 1]))

    def _lagging(self, needed: int) -> tuple[list[int], int | None]:
        """Return the slots the writer waits for that still need samples before ``needed``, and their oldest position.

        The position is None when the writer waits for no reader.
        """
        table = self.slots.table
        first = self.ring.first_index()
        lagging, oldest = [], None
        for slot in np.flatnonzero(table[:, 0] != 0).tolist():
            position = int(table[slot, 1])
            if slot in self._overrun:
                if position < first:
                    continue
                self._overrun.discard(slot)  # caught up: lossless again
            if slot in self._no_wait:
                continue
            if position < needed:
                lagging.append(slot)
            oldest = position if oldest is None else min(oldest, position)
        return lagging, oldest

    def _wait_until_released(self, needed: int) -> None:
        """Wait (at most max_wait s) until no reader waited for still needs samples before ``needed``."""
        if needed <= self._released_up_to and not self._overrun:
            return
        start = reaped = time.monotonic()
        while True:
            lagging, oldest = self._lagging(needed)
            if not lagging:
                self._released_up_to = needed if oldest is None else max(needed, oldest)
                return
            if self.stopping:
                raise StreamClosedError(f"sharedmem stream {self.name!r} was closed while waiting for a reader")
            now = time.monotonic()
            if now - reaped >= _REAP_EVERY_S:  # is the reader slow, or dead?
                reaped = now
                if self.slots.reap_dead():
                    continue
            if now - start >= self.max_wait:
                self._overrun.update(lagging)
                if now >= self._next_overrun_log:
                    self._next_overrun_log = now + _WARN_EVERY_S
                    table = self.slots.table
                    who = ", ".join(f"pid {int(table[s, 0])} at index {int(table[s, 1])}" for s in lagging)
                    logger.warning(
                        "sharedmem stream %r: reader(s) %s did not read for %.1f s and are more "
                        "than the ring (buffer_size=%d) behind: overwriting their unread samples "
                        "(they count the loss). Read faster, configure a larger buffer_size, or "
                        "connect viewers with latest_only=True",
                        self.name,
                        who,
                        now - start,
                        self.ring.size,
                    )
                self._released_up_to = 0
                return
            time.sleep(_WAIT_STEP_S)

    def reset_index(self) -> None:
        """Restart the ring's count at 0 (a new run) and the readers' positions with it."""
        self.ring.reset_index()
        self._released_up_to = 0
        self._last_start = 0
        self._overrun.clear()
        table = self.slots.table
        table[table[:, 0] != 0, 1] = 0

    def close(self) -> None:
        """Wake a writer waiting for readers and release the shared ring."""
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
            raise BrokenStreamError(
                f"sharedmem stream {params.get('name', '')!r}: params carry no 'shm' "
                "description; was the output configured?"
            )
        if params.buffer_size is None:
            raise BrokenStreamError(
                f"sharedmem stream {params.get('name', '')!r}: params carry no 'buffer_size'; "
                "was the output configured?"
            )
        self.ring = RingBuffer(
            (int(params.buffer_size),) + params.frame_shape,
            params.np_dtype,
            double=params.double,
            shmem=shm,
            fill=params.fill,
            axisorder=params.axisorder,
        )
        self.slots = ReaderSlots(self.ring.shm)
        self.slot: int | None = self.slots.claim(self.ring.index())
        self.name = params.get("name", "")

    def decode(self, head, payload) -> tuple[int, int, int, None]:
        """Return (index, n samples, epoch, None) of a sharedmem message: the data stays in the ring.

        Raises
        ------
        BrokenStreamError
            The message is not one header-only frame.
        """
        if payload is not None or len(head) != HEADER.size:
            raise BrokenStreamError(
                f"sharedmem stream {self.name!r}: malformed message (expected one "
                f"{HEADER.size}-byte header); message dropped"
            )
        index, n, _order, epoch, _shape = HEADER.unpack(head)
        return index, n, epoch, None

    def is_stale(self, epoch: int) -> bool:
        """Return True for a message about a history the writer has since reset (its data is gone)."""
        return epoch != self.ring.epoch() % 256

    def release_before(self, index: int) -> None:
        """Tell the writer samples before ``index`` may be overwritten."""
        if self.slot is not None:
            self.slots.update(self.slot, index)

    def close(self) -> None:
        """Give the reader slot back (the writer no longer waits for this reader)."""
        if self.slot is not None:
            self.slots.release(self.slot)
            self.slot = None
        shm = self.ring.shm
        if shm is not None:
            shm.close()
