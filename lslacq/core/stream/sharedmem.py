"""SharedMem: a block of memory shared between unrelated processes.

On Linux the block is an anonymous ``memfd``: it has no name in ``/dev/shm``,
so nothing can leak. Other processes open it through the owner's
``/proc/<pid>/fd/<fd>`` path (``shm_id``) while the owner holds it open; the
memory is freed when the last process closes or exits, however it exits.
Elsewhere :mod:`multiprocessing.shared_memory` is used, unlinked by the owner
on close.
"""

from __future__ import annotations

import logging
import mmap
import os
import sys
import uuid

import numpy as np

__all__ = ["SharedMem"]

logger = logging.getLogger(__name__)

_USE_MEMFD = sys.platform.startswith("linux") and hasattr(os, "memfd_create")


class SharedMem:
    """A shared memory buffer.

    Parameters
    ----------
    nbytes : int
        Size of the buffer in bytes.
    shm_id : str or None
        Identifier of an existing buffer to open (from :meth:`to_dict` of the
        owner). If None, a new buffer is created and this object owns it.

    Examples
    --------
    >>> owner = SharedMem(1024)
    >>> peer = SharedMem(**owner.to_dict())     # in any process on this machine
    >>> owner.to_numpy(0, 'float32', (256,))[:] = 1
    >>> float(peer.to_numpy(0, 'float32', (256,))[0])
    1.0
    """

    def __init__(self, nbytes: int, shm_id: str | None = None, inode: int | None = None):
        nbytes = int(nbytes)
        if nbytes <= 0:
            raise ValueError(f"SharedMem: nbytes={nbytes} must be positive")
        self.nbytes = nbytes
        self.owner = shm_id is None
        self._fd: int | None = None
        self._shm = None
        if _USE_MEMFD:
            self._open_memfd(shm_id, inode)
        else:
            self._open_posix(shm_id)
        self._closed = False

    # -- backends ---------------------------------------------------------
    def _open_memfd(self, shm_id: str | None, inode: int | None) -> None:
        if shm_id is None:
            fd = os.memfd_create(f"lslacq-{uuid.uuid4().hex[:8]}", os.MFD_CLOEXEC)
            os.ftruncate(fd, self.nbytes)
            self._fd = fd
            self.shm_id = f"/proc/{os.getpid()}/fd/{fd}"
        else:
            try:
                fd = os.open(shm_id, os.O_RDWR | os.O_CLOEXEC)
            except OSError as exc:
                raise FileNotFoundError(
                    f"SharedMem {shm_id!r} cannot be opened ({exc.strerror}); the process that owns it has "
                    "exited or closed it, or it lives on another machine (sharedmem works on one host only)"
                ) from None
            stat = os.fstat(fd)
            if inode is not None and stat.st_ino != inode:
                os.close(fd)
                raise FileNotFoundError(f"SharedMem {shm_id!r} no longer exists: its owner closed it")
            size = stat.st_size
            if size < self.nbytes:
                os.close(fd)
                raise ValueError(f"SharedMem {shm_id!r} holds {size} bytes, fewer than the {self.nbytes} requested")
            self._fd = fd
            self.shm_id = shm_id
        self.inode = os.fstat(self._fd).st_ino
        self.mmap = mmap.mmap(self._fd, self.nbytes)

    def _open_posix(self, shm_id: str | None) -> None:
        from multiprocessing import shared_memory

        if shm_id is None:
            self._shm = shared_memory.SharedMemory(create=True, size=self.nbytes)
        else:
            self._shm = shared_memory.SharedMemory(name=shm_id)
            try:  # only the owner may unlink; stop the resource tracker doing it at our exit
                from multiprocessing import resource_tracker

                resource_tracker.unregister(self._shm._name, "shared_memory")
            except Exception:  # pragma: no cover - depends on the platform
                pass
        self.shm_id = self._shm.name
        self.inode = None
        self.mmap = self._shm.buf

    # -- public API ---------------------------------------------------------
    @property
    def fd(self) -> int | None:
        """File descriptor of the memory (Linux), usable for ``fcntl`` record locks; None elsewhere."""
        return self._fd

    def to_dict(self) -> dict:
        """Return the serialisable description other processes pass to ``SharedMem(**d)``."""
        return {"nbytes": self.nbytes, "shm_id": self.shm_id, "inode": self.inode}

    def to_numpy(self, offset: int, dtype, shape, strides=None) -> np.ndarray:
        """Return an array viewing ``shape`` elements of ``dtype`` from byte ``offset``."""
        if self._closed:
            raise ValueError(f"SharedMem {self.shm_id!r} is closed")
        return np.ndarray(shape, dtype=dtype, buffer=self.mmap, offset=offset, strides=strides)

    def close(self) -> None:
        """Release this process's handle (and, for the owner, the memory's identity).

        The mapping itself is not unmapped here: arrays returned by
        :meth:`to_numpy` hold a reference to it, and it is unmapped when the
        last of them is garbage collected, so using them after close stays
        memory-safe. New arrays cannot be made after close.
        """
        if getattr(self, "_closed", True):
            return
        self._closed = True
        self.mmap = None  # arrays keep the mmap object (their base) alive; it unmaps when they go
        if self._shm is not None:
            if self.owner:
                try:
                    self._shm.unlink()
                except FileNotFoundError:
                    pass
            self._shm = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> SharedMem:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"<SharedMem {self.shm_id!r} {self.nbytes} bytes{' owner' if self.owner else ''}>"
