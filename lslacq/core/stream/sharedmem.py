"""SharedMem: a block of memory shared between unrelated processes.

On Linux the block is an anonymous ``memfd``: it has no name in ``/dev/shm``,
so nothing can leak. Other processes open it through the owner's
``/proc/<pid>/fd/<fd>`` path (``shm_id``) while the owner holds it open; the
memory is freed when the last process closes or exits, however it exits.
Elsewhere :mod:`multiprocessing.shared_memory` is used, unlinked by the owner
on close.

On Linux a region of the memory can also be mapped twice, back to back
(:meth:`SharedMem.mirrored`, :func:`mirrored_memory`): a ring buffer in such a
mapping is written once per sample and every window of it is a contiguous view.
"""

from __future__ import annotations

import ctypes
import logging
import mmap
import os
import sys
import uuid
import weakref
from typing import TYPE_CHECKING

import numpy as np

__all__ = ["SharedMem", "MirroredMapping", "mirrored_memory", "can_mirror", "PAGE_SIZE"]

if TYPE_CHECKING:
    from multiprocessing.shared_memory import SharedMemory

logger = logging.getLogger(__name__)

_USE_MEMFD = sys.platform.startswith("linux") and hasattr(os, "memfd_create")

#: granularity of mappings (offsets and lengths of a mirrored mapping are multiples of it)
PAGE_SIZE = mmap.ALLOCATIONGRANULARITY
_MAP_FIXED = 0x10  # Linux value on every architecture CPython supports
_PROT_NONE = 0


def _load_libc():
    if not _USE_MEMFD:
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
        libc.munmap.restype = ctypes.c_int
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):  # pragma: no cover - unusual libc
        return None


_LIBC = _load_libc()
_MAP_FAILED = ctypes.c_void_p(-1).value


def can_mirror() -> bool:
    """Return True where :class:`MirroredMapping` works (Linux with memfd and a usable libc)."""
    return _LIBC is not None


class MirroredMapping:
    """``length`` bytes of a file mapped twice, back to back in address space.

    Byte ``i`` and byte ``i + length`` of the mapping are the same memory, so
    a ring buffer of ``length`` bytes laid over it can write and read any run
    of up to ``length`` bytes at any position without splitting it.

    ``np.asarray(mapping)`` is a ``uint8`` array of ``2 * length`` bytes; the
    mapping is unmapped when the last array made from it is garbage collected.

    Parameters
    ----------
    fd : int
        File descriptor of the memory (a memfd). It may be closed afterwards.
    offset, length : int
        Region of the file to mirror; both must be multiples of
        :data:`PAGE_SIZE`.
    """

    _base = None

    def __init__(self, fd: int, offset: int, length: int):
        if _LIBC is None:
            raise OSError("mirrored mappings need Linux (memfd and mmap with MAP_FIXED)")
        offset, length = int(offset), int(length)
        if length <= 0 or length % PAGE_SIZE or offset % PAGE_SIZE:
            raise ValueError(
                f"MirroredMapping: offset={offset} and length={length} must be positive multiples "
                f"of the page size ({PAGE_SIZE})"
            )
        # reserve 2*length of address space, then map the file region twice over it
        base = _LIBC.mmap(None, 2 * length, _PROT_NONE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        if base in (None, _MAP_FAILED):
            err = ctypes.get_errno()
            raise OSError(err, f"MirroredMapping: cannot reserve {2 * length} bytes: {os.strerror(err)}")
        self._base, self._length = base, 2 * length
        for half in (0, length):
            got = _LIBC.mmap(
                base + half, length, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED | _MAP_FIXED, fd, offset
            )
            if got != base + half:
                err = ctypes.get_errno()
                self._unmap()
                raise OSError(err, f"MirroredMapping: cannot map {length} bytes of fd {fd}: {os.strerror(err)}")
        self.nbytes = 2 * length
        self.__array_interface__ = {"shape": (2 * length,), "typestr": "|u1", "data": (base, False), "version": 3}

    def _remap_private_copy(self) -> None:
        """Give this process its own copy of the memory, at the same addresses (after a fork).

        Arrays viewing the mapping keep working; they now see memory that
        the parent no longer writes (and this process no longer writes the
        parent's).
        """
        base, length = self._base, self._length // 2
        if base is None:
            return
        fd = os.memfd_create(f"lslacq-ring-{uuid.uuid4().hex[:8]}", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, length)
            tmp = _LIBC.mmap(None, length, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED, fd, 0)
            if tmp in (None, _MAP_FAILED):
                raise OSError(ctypes.get_errno(), "MirroredMapping: cannot map a private copy after fork")
            ctypes.memmove(tmp, base, length)
            _LIBC.munmap(tmp, length)
            for half in (0, length):
                got = _LIBC.mmap(
                    base + half, length, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED | _MAP_FIXED, fd, 0
                )
                if got != base + half:
                    raise OSError(ctypes.get_errno(), "MirroredMapping: cannot remap a private copy after fork")
        finally:
            os.close(fd)

    def _unmap(self) -> None:
        base, self._base = self._base, None
        if base is not None and _LIBC is not None:
            _LIBC.munmap(base, self._length)

    def __del__(self):
        self._unmap()

    def __repr__(self) -> str:
        return f"<MirroredMapping 2 x {self._length // 2} bytes>"


# process-local mirrored mappings: a forked child gets its own copy of each (see below)
_private_mappings: weakref.WeakSet[MirroredMapping] = weakref.WeakSet()


def mirrored_memory(length: int) -> MirroredMapping:
    """Return a private (process-local) :class:`MirroredMapping` of ``length`` bytes, zero-filled.

    ``length`` must be a multiple of :data:`PAGE_SIZE`. The memory is
    process-local as ``np.empty`` memory is: a child made by ``fork`` gets a
    copy (at the same addresses), not a view of the parent's.
    """
    fd = os.memfd_create(f"lslacq-ring-{uuid.uuid4().hex[:8]}", os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, int(length))
        mapping = MirroredMapping(fd, 0, length)
    finally:
        os.close(fd)  # the mappings keep the memory alive
    _private_mappings.add(mapping)
    return mapping


def _copy_private_mappings_after_fork() -> None:
    # the two views of a mirrored ring must stay one memory, so they are shared mappings; without
    # this, a forked child and its parent would write into each other's "private" rings
    for mapping in list(_private_mappings):
        try:
            mapping._remap_private_copy()
        except OSError as exc:  # pragma: no cover - out of memory or fds in the child
            logger.error(
                "forked process: cannot copy a ring buffer's memory (%s); it stays shared with the parent", exc
            )


if _LIBC is not None:
    os.register_at_fork(after_in_child=_copy_private_mappings_after_fork)


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
    >>> peer = SharedMem(**owner.to_dict())  # in any process on this machine
    >>> owner.to_numpy(0, "float32", (256,))[:] = 1
    >>> float(peer.to_numpy(0, "float32", (256,))[0])
    1.0
    """

    shm_id: str
    inode: int | None  # of the memfd (Linux), checked when a peer opens it; None elsewhere
    mmap: mmap.mmap | memoryview | None  # the mapping (None once closed)

    def __init__(self, nbytes: int, shm_id: str | None = None, inode: int | None = None):
        nbytes = int(nbytes)
        if nbytes <= 0:
            raise ValueError(f"SharedMem: nbytes={nbytes} must be positive")
        self.nbytes = nbytes
        self.owner = shm_id is None
        self._fd: int | None = None
        self._shm: SharedMemory | None = None
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
            shm = shared_memory.SharedMemory(create=True, size=self.nbytes)
        else:
            shm = shared_memory.SharedMemory(name=shm_id)
            try:  # only the owner may unlink; stop the resource tracker doing it at our exit
                from multiprocessing import resource_tracker

                # the name the tracker registered (CPython's private attribute; typeshed does not declare it)
                resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
            except Exception:  # pragma: no cover - depends on the platform
                pass
        self._shm = shm
        self.shm_id = shm.name
        self.inode = None
        self.mmap = shm.buf

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

    def mirrored(self, offset: int, length: int) -> MirroredMapping:
        """Map ``length`` bytes from byte ``offset`` twice, back to back (see :class:`MirroredMapping`).

        Raises
        ------
        OSError
            Where mirrored mappings are not available (not Linux); check
            :func:`can_mirror` first.
        """
        if self._closed:
            raise ValueError(f"SharedMem {self.shm_id!r} is closed")
        if self._fd is None:
            raise OSError(f"SharedMem {self.shm_id!r}: mirrored mappings need a memfd (Linux)")
        if offset + length > self.nbytes:
            raise ValueError(
                f"SharedMem {self.shm_id!r}: region [{offset}, {offset + length}) is beyond its {self.nbytes} bytes"
            )
        return MirroredMapping(self._fd, offset, length)

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
