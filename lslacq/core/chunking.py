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

from typing import Any

import numpy as np

from ..errors import NodeStateError
from .inputpoller import ThreadPollInput
from .processing import FORWARD_KEYS, ProcessingNode, copy_metadata
from .rechunk import Rechunker
from .stream import InputStream, OutputStream

__all__ = ["ThreadPollOutput", "ChunkResizer"]


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


class ChunkResizer(ProcessingNode):
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
    >>> resizer.output.configure(protocol="tcp")
    >>> resizer.initialize()
    """

    _input_specs = {"signals": {}}
    _output_specs = {"signals": {}}

    def _configure(self, chunksize: int = 1024) -> None:
        self.chunksize = Rechunker(chunksize, name=self.name).chunksize  # checks it

    def after_input_connect(self, inputname: str) -> None:
        """Give the output the input's dtype, shape and metadata."""
        params = self.input.params
        if params is None:  # (called by connect() once the input has the output's params)
            raise NodeStateError(f"{self.name}: input {inputname!r} is not connected")
        copy_metadata(params, self.output.spec, FORWARD_KEYS)
        self.output.spec["shape"] = (-1,) + tuple(params.frame_shape)

    def _start(self) -> None:
        self._rechunker = Rechunker(self.chunksize, on_gap="fill", name=self.name)
        super()._start()

    def _process(self, input_name: str, index: int, data: np.ndarray) -> None:
        for end, block in self._rechunker.push(index, data):
            self.output.send(block, index=end)
