"""pyacq's module ``pyacq.core.stream.sharedarray``: :class:`SharedMem` (manual 5.1.3) and :class:`SharedArray`."""

from __future__ import annotations

import math

import numpy as np

from .sharedmem import SharedMem

__all__ = ["SharedMem", "SharedArray"]


class SharedArray:
    """A numpy array in shared memory that other processes open from its :meth:`to_dict` (pyacq).

    Parameters
    ----------
    shape : int or tuple of int
        Shape of the array.
    dtype : str, list or numpy.dtype
        Its dtype (anything ``numpy.dtype()`` accepts).
    shm_id : str or None
        ``None`` creates new, zero-filled shared memory owned by this object;
        an id from another ``SharedArray``'s :meth:`to_dict` opens that one.
    inode : int or None
        Passed through from :meth:`to_dict` (identifies the memory on Linux).

    Examples
    --------
    >>> a = SharedArray(shape=(10,), dtype="int32")
    >>> a.to_numpy()[:] = range(10)
    >>> b = SharedArray(**a.to_dict())  # in any process on this machine
    >>> int(b.to_numpy()[3])
    3
    """

    def __init__(self, shape=(1,), dtype="float64", shm_id: str | None = None, inode: int | None = None):
        self.shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(n) for n in shape)
        if any(n < 0 for n in self.shape):
            raise ValueError(f"SharedArray: shape={shape!r} must not have negative sizes")
        self.dtype = np.dtype(dtype if not isinstance(dtype, list) else [tuple(f) for f in dtype])
        nbytes = max(1, math.prod(self.shape) * self.dtype.itemsize)
        self.shmem = SharedMem(nbytes, shm_id=shm_id, inode=inode)

    def to_dict(self) -> dict:
        """Return what another process passes to ``SharedArray(**d)`` to open this array."""
        dtype = self.dtype.str if self.dtype.fields is None else self.dtype.descr
        info = self.shmem.to_dict()
        return {"shape": self.shape, "dtype": dtype, "shm_id": info["shm_id"], "inode": info.get("inode")}

    def to_numpy(self) -> np.ndarray:
        """Return the array (a view of the shared memory, not a copy)."""
        return self.shmem.to_numpy(0, self.dtype, self.shape)

    def close(self) -> None:
        """Release the shared memory (the owner frees it once no process uses it)."""
        self.shmem.close()

    def __enter__(self) -> SharedArray:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
