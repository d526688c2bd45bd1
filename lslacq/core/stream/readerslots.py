"""Reader positions in a shared ring buffer: how a sharedmem writer knows what is still unread.

Each reader of a shared ring claims a slot in the ring's header and stores
there the oldest index it may still read. The writer waits rather than
overwrite a position some live reader has not released (lossless by
default). A slot holds its reader's pid, so the writer can tell a dead reader from a
slow one and reclaim its slot; claims are serialised by an ``fcntl`` record
lock on the slot's bytes (between processes) and a set of local claims
(between threads, which POSIX locks do not separate).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading

import numpy as np

__all__ = ["ReaderSlots", "MAX_READERS", "SLOTS_OFFSET"]

logger = logging.getLogger(__name__)

MAX_READERS = 32
SLOTS_OFFSET = 64  # bytes; the write index lives before
_SLOT_BYTES = 16  # int64 owner pid (0 = free), int64 position

# slots claimed by readers of this process: POSIX locks do not exclude threads
# of one process, so this set does
_local_claims: set[tuple[str, int]] = set()
_local_lock = threading.Lock()


class ReaderSlots:
    """View of the reader slots of a shared ring buffer.

    Parameters
    ----------
    shm : SharedMem
        The ring's shared memory (its first ``SLOTS_OFFSET + MAX_READERS * 16`` bytes are the header).
    """

    def __init__(self, shm):
        self.shm = shm
        self.table = shm.to_numpy(SLOTS_OFFSET, np.int64, (MAX_READERS, 2))

    # -- reader side ---------------------------------------------------------
    def claim(self, position: int) -> int:
        """Claim a free slot starting at ``position``; return its number.

        Raises
        ------
        RuntimeError
            If all ``MAX_READERS`` slots are taken.
        """
        with _local_lock:
            for slot in range(MAX_READERS):
                key = (self.shm.shm_id, slot)
                if key in _local_claims or not self._try_lock(slot):
                    continue
                owner = int(self.table[slot, 0])
                if owner not in (0, os.getpid()) and _pid_alive(owner):
                    self._unlock(slot)  # a live reader whose lock we could take: leave it alone
                    continue
                self.table[slot, 1] = position
                self.table[slot, 0] = os.getpid()
                _local_claims.add(key)
                return slot
        raise RuntimeError(
            f"shared ring {self.shm.shm_id!r} already has {MAX_READERS} readers; close some "
            "InputStreams or use transfermode='plaindata'"
        )

    def update(self, slot: int, position: int) -> None:
        """Publish the position of the reader holding ``slot``: it no longer needs samples before it."""
        self.table[slot, 1] = position

    def release(self, slot: int) -> None:
        """Give ``slot`` back (the reader closes): the writer no longer waits for it."""
        with _local_lock:
            self.table[slot, 0] = 0
            _local_claims.discard((self.shm.shm_id, slot))
            self._unlock(slot)

    # -- writer side ---------------------------------------------------------
    def reap_dead(self) -> int:
        """Free the slots of readers whose process died; return how many."""
        reaped = 0
        pid = os.getpid()
        with _local_lock:
            for found in np.flatnonzero(self.table[:, 0] != 0):
                slot = int(found)
                owner = int(self.table[slot, 0])
                if owner == pid:
                    alive = (self.shm.shm_id, slot) in _local_claims
                else:
                    alive = _pid_alive(owner)
                if not alive:
                    self._unlock(slot)
                    self.table[slot, 0] = 0
                    reaped += 1
                    logger.warning(
                        "reader (pid %d) of shared ring %s is gone; its slot is freed", owner, self.shm.shm_id
                    )
        return reaped

    # -- locks ----------------------------------------------------------------
    def _try_lock(self, slot: int) -> bool:
        fd = self.shm.fd
        if fd is None:  # no record locks on this platform: trust the table
            return self.table[slot, 0] == 0
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, _SLOT_BYTES, SLOTS_OFFSET + slot * _SLOT_BYTES)
            return True
        except OSError:
            return False

    def _unlock(self, slot: int) -> None:
        fd = self.shm.fd
        if fd is not None:
            fcntl.lockf(fd, fcntl.LOCK_UN, _SLOT_BYTES, SLOTS_OFFSET + slot * _SLOT_BYTES)


def _pid_alive(pid: int) -> bool:
    """Return True if process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:  # no /proc: trust kill()
        return True
