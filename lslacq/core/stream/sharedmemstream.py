"""sharedmem transfer: chunks go into a shared ring buffer; messages carry only indices."""

from __future__ import annotations

import numpy as np
import zmq

from ...errors import BrokenStreamError
from .ringbuffer import RingBuffer
from .spec import StreamSpec
from .transport import HEADER, pack_header

__all__ = ["SharedMemSender", "SharedMemReceiver", "default_buffer_size"]


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
    """

    def __init__(self, socket: zmq.Socket, params: StreamSpec):
        self.socket = socket
        if params.buffer_size is None:
            params.buffer_size = default_buffer_size(params)
        self.ring = RingBuffer((int(params.buffer_size),) + params.frame_shape, params.np_dtype,
                               double=params.double, shmem=True, fill=params.fill, axisorder=params.axisorder)

    def extra_params(self) -> dict:
        return {"shm": self.ring.shm.to_dict()}

    def encode(self, index: int, data: np.ndarray) -> tuple[tuple, bool]:
        """Write the chunk into the shared ring; return the index-only message."""
        self.ring.new_chunk(data, index)
        return (pack_header(index, data.shape[0], b"C"),), True

    def reset_index(self) -> None:
        self.ring.reset_index()

    def close(self) -> None:
        self.ring.close()


class SharedMemReceiver:
    """Map the sender's ring buffer; :meth:`decode` returns indices, data on request."""

    def __init__(self, params: StreamSpec):
        shm = params.get("shm")
        if not shm:
            raise BrokenStreamError(f"sharedmem stream {params.get('name', '')!r}: params carry no 'shm' "
                                    "description; was the output configured?")
        self.ring = RingBuffer((int(params.buffer_size),) + params.frame_shape, params.np_dtype,
                               double=params.double, shmem=shm, fill=params.fill, axisorder=params.axisorder)
        self.name = params.get("name", "")

    def decode(self, frames) -> tuple[int, int, None]:
        if len(frames) != 1 or len(frames[0]) != HEADER.size:
            raise BrokenStreamError(f"sharedmem stream {self.name!r}: malformed message with {len(frames)} frames "
                                    f"(expected one {HEADER.size}-byte header); message dropped")
        index, n, _order = HEADER.unpack(frames[0].buffer)
        return index, n, None
