"""plaindata transfer: the chunk's memory travels in the message."""

from __future__ import annotations

import numpy as np
import zmq

from ...errors import BrokenStreamError
from .compression import get_codec
from .spec import StreamSpec
from .transport import HEADER, pack_header

__all__ = ["PlainDataSender", "PlainDataReceiver"]

# Below this size zmq's copying send is faster than tracking a zero-copy buffer.
_ZERO_COPY_MIN_BYTES = 1 << 16


class PlainDataSender:
    """Send chunks as ``[header, data]``: the array's memory as is, no copy for
    C- or F-contiguous arrays (other layouts are made contiguous first).

    Not instantiated directly: use ``OutputStream.configure(transfermode='plaindata')``.
    """

    def __init__(self, socket: zmq.Socket, params: StreamSpec):
        self.socket = socket
        self.codec = get_codec(params.compression)
        self.itemsize = params.np_dtype.itemsize

    def extra_params(self) -> dict:
        return {}

    def encode(self, index: int, data: np.ndarray) -> tuple[tuple, bool]:
        """Return the message frames for a chunk and whether zmq should copy them."""
        if data.flags.c_contiguous:
            order = b"C"
        elif data.flags.f_contiguous and data.ndim > 1:
            order = b"F"
        else:
            data = np.ascontiguousarray(data)
            order = b"C"
        header = pack_header(index, data.shape[0], order)
        # the transpose of an F-ordered array is C-ordered: same bytes, exportable buffer
        raw = memoryview(data.T if order == b"F" else data).cast("B")
        if self.codec is not None:
            return (header, self.codec.compress(raw, self.itemsize)), True
        return (header, raw), data.nbytes < _ZERO_COPY_MIN_BYTES

    def close(self) -> None:
        pass


class PlainDataReceiver:
    """Rebuild arrays from ``[header, data]`` messages (zero copy: the array views the message)."""

    def __init__(self, params: StreamSpec):
        self.dtype = params.np_dtype
        self.frame_shape = params.frame_shape
        self.frame_bytes = int(np.prod(self.frame_shape, dtype=np.int64)) * self.dtype.itemsize
        self.codec = get_codec(params.compression)
        self.name = params.get("name", "")

    def decode(self, frames) -> tuple[int, int, np.ndarray]:
        if len(frames) != 2 or len(frames[0]) != HEADER.size:
            raise BrokenStreamError(f"plaindata stream {self.name!r}: malformed message with {len(frames)} frames "
                                    f"(expected a {HEADER.size}-byte header and a payload); message dropped")
        index, n, order = HEADER.unpack(frames[0].buffer)
        payload = frames[1].buffer
        if self.codec is not None:
            try:
                payload = self.codec.decompress(bytes(payload))
            except Exception as exc:
                raise BrokenStreamError(f"stream {self.name!r}: cannot decompress chunk ending at {index} with "
                                        f"{self.codec.name!r}: {exc}") from None
        expected = n * self.frame_bytes
        if n < 0 or len(payload) != expected or order not in (b"C", b"F"):
            raise BrokenStreamError(f"stream {self.name!r}: chunk ending at {index} announces {n} samples "
                                    f"({expected} bytes) but carries {len(payload)} bytes; message dropped")
        data = np.frombuffer(payload, dtype=self.dtype)
        data = data.reshape((n,) + self.frame_shape, order="F" if order == b"F" else "C")
        return index, n, data
