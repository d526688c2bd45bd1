"""Keep a growing recording from filling the page cache: written pages are let go once they are on disk.

A recorder writes hundreds of MB per second that nobody reads back while it
records. Left alone, the kernel keeps every written page cached until memory
runs short, so an hour of 16 Neuropixels-like probes (369 MB/s) pushes 1.3 TB
through the page cache, evicting what other programs had cached, and every
write takes a page the kernel has to find and clear. On virtual machines that
back guest memory lazily (the benchmark VM among them) a page the guest never
touched before costs a host fault: writing 8 GB there costs 2.8-3.9 ms of
kernel CPU per MB against 0.3-0.4 ms/MB when the written pages are let go
(``benchmarks/scale.py``).

:class:`PageCacheRelease` asks the kernel (``posix_fadvise(POSIX_FADV_DONTNEED)``)
to start writing back what was written and to drop the pages that are clean,
every ``every`` bytes, over the range of the last few calls, so a page handed
to writeback by one call is dropped by a later one. It never waits for the
disk and does not change what is on disk or when data reaches it (Linux starts
the write-back earlier than it otherwise would: crash safety can only gain).
On systems without ``posix_fadvise`` it does nothing.
"""

from __future__ import annotations

import collections
import logging
import os

__all__ = ["DEFAULT_RELEASE_BYTES", "PageCacheRelease"]

logger = logging.getLogger(__name__)

#: bytes written between two releases of one file: few system calls (11 per second for 369 MB/s), few cached pages
DEFAULT_RELEASE_BYTES = 32 << 20
#: calls whose ranges each call covers again: pages still under write-back at one call are dropped by a later one
_CALLS_COVERED = 3
_FADVISE = getattr(os, "posix_fadvise", None)
_DONTNEED = getattr(os, "POSIX_FADV_DONTNEED", None)


class PageCacheRelease:
    """Let the kernel drop the written pages of an append-only file from its cache once they are on disk.

    Parameters
    ----------
    fd : int
        The file descriptor written to (appending; what the file held before
        is left alone).
    every : int, optional
        Bytes written between two releases (None: :data:`DEFAULT_RELEASE_BYTES`);
        0 disables the release.

    Examples
    --------
    >>> import os, tempfile
    >>> fd, path = tempfile.mkstemp()
    >>> release = PageCacheRelease(fd, every=4096)
    >>> release.written(os.write(fd, bytes(8192)))
    >>> release.close()
    >>> os.close(fd)
    >>> os.unlink(path)
    """

    def __init__(self, fd: int, every: int | None = None):
        if every is None:
            every = DEFAULT_RELEASE_BYTES
        if every < 0:
            raise ValueError(f"PageCacheRelease: every must be >= 0 bytes (0 disables it), not {every!r}")
        self.fd = fd
        self.every = int(every)
        self.enabled = bool(self.every) and _FADVISE is not None and _DONTNEED is not None
        self.calls = 0
        try:
            start = os.fstat(fd).st_size
        except OSError:
            start = 0
        self._end = start  # the file's size as far as this object has seen it grow
        self._unreleased = 0
        self._ends = collections.deque([start], maxlen=_CALLS_COVERED)

    def written(self, nbytes: int) -> None:
        """Count ``nbytes`` just appended; every ``every`` bytes, release the pages written so far."""
        self._end += nbytes
        self._unreleased += nbytes
        if self.enabled and self._unreleased >= self.every:
            self.release()

    def release(self) -> None:
        """Start write-back of, and drop the clean pages of, the file's last few release ranges now."""
        if not self.enabled:
            return
        start = self._ends[0]
        self._ends.append(self._end)
        self._unreleased = 0
        if self._end <= start:
            return
        try:
            _FADVISE(self.fd, start, self._end - start, _DONTNEED)  # type: ignore[misc]
            self.calls += 1
        except OSError as exc:  # a file system without it: recording goes on with a full page cache
            logger.debug("posix_fadvise on fd %d failed (%s): page cache release off for this file", self.fd, exc)
            self.enabled = False

    def close(self) -> None:
        """Release what is left (call before closing the file descriptor)."""
        if self.enabled and self._end > self._ends[0]:
            self.release()
