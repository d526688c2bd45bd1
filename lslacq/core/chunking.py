"""pyacq's ``core.tools`` helpers ThreadPollOutput and ChunkResizer.

- :class:`ThreadPollOutput` watches an OutputStream from the sending side: it
  connects its own InputStream to it and polls that, like
  :class:`~lslacq.core.tools.ThreadPollInput` (pyacq's DSP tests use it to
  collect a node's output).
- :class:`ChunkResizer` is a node that re-cuts a stream into chunks of a fixed
  number of samples, keeping the absolute sample indices.

Both are also importable from :mod:`lslacq.core.tools`, pyacq's path.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .stream import InputStream, OutputStream
from .tools import _PASSTHROUGH_KEYS, ThreadPollInput, _PollingNode

__all__ = ["ThreadPollOutput", "ChunkResizer"]

logger = logging.getLogger(__name__)


class ThreadPollOutput(ThreadPollInput):
    """Background thread reporting every chunk an OutputStream sends.

    It connects an InputStream of its own (:attr:`instream`) to the output
    and polls it exactly like :class:`ThreadPollInput` (``new_data`` signal,
    ``handler``, :meth:`process_data` to override). :meth:`close` (or the
    ``with`` block) stops the thread and closes that input.

    Parameters
    ----------
    output_stream : OutputStream or proxy
        A configured output (local, or a proxy to a remote one).
    **kwargs
        Passed to :class:`ThreadPollInput` (``timeout``, ``return_data``,
        ``handler``, ``name``...).

    Examples
    --------
    >>> poller = ThreadPollOutput(node.output, return_data=True)
    >>> poller.new_data.connect(lambda pos, data: print(pos, data.shape))
    >>> poller.start()
    >>> ...
    >>> poller.close()
    """

    def __init__(self, output_stream: OutputStream, **kwargs: Any):
        self.instream = InputStream(name=f"{getattr(output_stream, 'name', '') or 'output'}-monitor")
        self.instream.connect(output_stream)
        kwargs.setdefault("name", f"ThreadPollOutput-{self.instream.name}")
        super().__init__(self.instream, **kwargs)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread, wait for it (up to ``timeout`` s) and close the internal input."""
        self.stop()
        self.wait(timeout)
        self.instream.close()

    def __enter__(self) -> ThreadPollOutput:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ChunkResizer(_PollingNode):
    """Re-cut a stream into chunks of exactly ``chunksize`` samples (pyacq's ``core.tools.ChunkResizer``).

    Incoming samples are collected until ``chunksize`` are available, then
    sent as one chunk; the index sent with each chunk is the absolute index
    of its last sample + 1, as in the input stream. Samples lost upstream
    (an index gap) are filled with NaN (0 for integer dtypes) so the output
    stays continuous; the gap is logged.

    The output copies the input's dtype, frame shape, sample rate and channel
    metadata; configure its transfer (protocol, transfermode...) as usual.

    Examples
    --------
    >>> resizer = ChunkResizer()
    >>> resizer.configure(chunksize=256)
    >>> resizer.input.connect(device.output)
    >>> resizer.output.configure(protocol='tcp')
    >>> resizer.initialize()
    """

    _input_specs = {"signals": {}}
    _output_specs = {"signals": {}}

    def _configure(self, chunksize: int = 1024) -> None:
        if isinstance(chunksize, bool) or not isinstance(chunksize, (int, np.integer)) or chunksize <= 0:
            raise ValueError(f"{self.name}: chunksize={chunksize!r} must be a positive integer (samples per chunk)")
        self.chunksize = int(chunksize)

    def after_input_connect(self, inputname: str) -> None:
        params = self.input.params
        for key in _PASSTHROUGH_KEYS:
            if key in params and params[key] not in (None, ""):
                self.output.spec[key] = params[key]
        self.output.spec["shape"] = (-1,) + tuple(params.frame_shape)

    def _initialize(self) -> None:
        super()._initialize()
        params = self.input.params
        self._dtype = params.np_dtype
        self._frame_shape = tuple(params.frame_shape)
        self._fill = np.nan if self._dtype.kind in "fc" else 0
        self._pending = np.empty((self.chunksize,) + self._frame_shape, dtype=self._dtype)
        self._n_pending = 0
        self._next_index: int | None = None  # absolute index of the next expected sample

    def _start(self) -> None:
        self._n_pending = 0
        self._next_index = None
        super()._start()

    def _on_chunk(self, pos: int, data: np.ndarray) -> None:
        n = data.shape[0]
        start = pos - n
        if self._next_index is not None and start != self._next_index:
            if start > self._next_index:
                gap = start - self._next_index
                logger.warning("%s: %d samples missing before index %d; filled so chunks stay %d samples long",
                               self.name, gap, start, self.chunksize)
                self._append(np.full((gap,) + self._frame_shape, self._fill, dtype=self._dtype), start)
            else:  # the input started a new run: drop the partial chunk of the old one
                logger.info("%s: input index went back from %d to %d; starting a new run", self.name,
                            self._next_index, start)
                self._n_pending = 0
        self._next_index = pos
        self._append(data, pos)

    def _append(self, data: np.ndarray, end: int) -> None:
        """Add ``data`` (whose last sample has absolute index ``end - 1``); send every full chunk."""
        size, i = self.chunksize, 0
        n = data.shape[0]
        while i < n:
            take = min(size - self._n_pending, n - i)
            self._pending[self._n_pending:self._n_pending + take] = data[i:i + take]
            self._n_pending += take
            i += take
            if self._n_pending == size:
                # index of the last sample of this chunk + 1, on the input's clock
                index = end - (n - i)
                chunk, self._pending = self._pending, np.empty_like(self._pending)  # sent arrays stay untouched
                self._n_pending = 0
                self.output.send(chunk, index=index)
