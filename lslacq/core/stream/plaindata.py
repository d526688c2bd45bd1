"""plaindata transfer: the chunk's memory travels in the message."""

from __future__ import annotations

import numpy as np
import zmq

from ...errors import BrokenStreamError
from .compression import get_codec
from .spec import StreamSpec
from .transport import HEADER, pack_header, pack_shape, unpack_shape

_pack_header = HEADER.pack

__all__ = ["PlainDataSender", "PlainDataReceiver"]

# Below this size one copy into a single frame beats a second, zero-copy frame.
_ZERO_COPY_MIN_BYTES = 1 << 16


class PlainDataSender:
    """Send chunks exactly as they are in memory.

    C- and F-contiguous arrays are sent as is (large ones without any copy;
    do not modify them after sending); other layouts are made contiguous
    first. Small chunks travel in one frame behind the header, large ones in
    a second frame. Supports compression. A chunk whose frame shape differs
    from the stream's (allowed when nobody configured ``shape``, as in
    pyacq) carries its shape in its header.

    Not instantiated directly: use ``OutputStream.configure(transfermode='plaindata')``.
    """

    def __init__(self, socket: zmq.Socket, params: StreamSpec):
        self.socket = socket
        self.codec = get_codec(params.compression)
        self.itemsize = params.np_dtype.itemsize
        self.stopping = False
        # C-contiguous chunks of plain numeric dtypes go into the frame as they are (buffer
        # protocol), without the uint8 view that datetime64 and some records need
        self._buffer_ok = self.codec is None and params.np_dtype.kind in "biufc"

    def extra_params(self) -> dict:
        return {}

    def encode(self, index: int, data: np.ndarray, epoch: int = 0, carry_shape: bool = False) -> tuple:
        """Return the message frames for a chunk (1 frame: copied; 2 frames: payload not copied).

        ``carry_shape``: put the chunk's frame shape in the header (it differs from the stream's).
        """
        if self._buffer_ok and data.flags.c_contiguous and not carry_shape:  # the common case, kept short
            if data.nbytes < _ZERO_COPY_MIN_BYTES:
                return (_pack_header(index, data.shape[0], b"C", epoch, 0) + data.data,)
            return _pack_header(index, data.shape[0], b"C", epoch, 0), data
        if data.flags.c_contiguous:
            order = b"C"
        elif data.flags.f_contiguous and data.ndim > 1:
            order = b"F"
        else:
            data = np.ascontiguousarray(data)
            order = b"C"
        if carry_shape:
            flag, dims = pack_shape(data.shape[1:])
            header = pack_header(index, data.shape[0], order, epoch, flag) + dims
        else:
            header = pack_header(index, data.shape[0], order, epoch)
        # bytes in memory order (the transpose of an F-ordered array is C-ordered); viewing them as
        # uint8 also exports dtypes the buffer protocol refuses (datetime64, timedelta64)
        raw = memoryview((data.T if order == b"F" else data).reshape(-1).view(np.uint8))
        if self.codec is not None:
            return header, self.codec.compress(raw, self.itemsize)
        if data.nbytes < _ZERO_COPY_MIN_BYTES:
            return (header + raw,)
        return header, raw

    def close(self) -> None:
        pass


class PlainDataReceiver:
    """Rebuild arrays from messages (zero copy: the array views the received frame)."""

    def __init__(self, params: StreamSpec):
        self.dtype = params.np_dtype
        self.frame_shape = params.frame_shape
        self.frame_bytes = int(np.prod(self.frame_shape, dtype=np.int64)) * self.dtype.itemsize
        self.codec = get_codec(params.compression)
        self.name = params.get("name", "")

    def is_stale(self, epoch: int) -> bool:
        """plaindata messages carry their data: never stale."""
        return False

    def decode(self, head: memoryview, payload: memoryview | None) -> tuple[int, int, int, np.ndarray]:
        if len(head) < HEADER.size or (payload is None and self.codec is not None):
            raise BrokenStreamError(f"plaindata stream {self.name!r}: malformed message ({len(head)}-byte first "
                                    f"frame, {'no' if payload is None else 'a'} payload frame); message dropped")
        index, n, order, epoch, shape_flag = HEADER.unpack_from(head)
        frame_shape, frame_bytes, head_size = self.frame_shape, self.frame_bytes, HEADER.size
        if shape_flag:  # the chunk carries its own frame shape
            try:
                frame_shape, extra = unpack_shape(head, shape_flag)
            except ValueError:
                extra = -1
            if extra < 0 or any(d < 0 for d in frame_shape):
                raise BrokenStreamError(f"plaindata stream {self.name!r}: malformed frame shape in the header; "
                                        "message dropped")
            frame_bytes = int(np.prod(frame_shape, dtype=np.int64)) * self.dtype.itemsize
            head_size += extra
        offset = 0
        if payload is None:  # packed: payload follows the header in the same frame
            payload, offset = head, head_size
        elif len(head) != head_size:
            raise BrokenStreamError(f"plaindata stream {self.name!r}: malformed {len(head)}-byte header; "
                                    "message dropped")
        if self.codec is not None:
            try:
                payload = self.codec.decompress(bytes(payload))
            except Exception as exc:
                raise BrokenStreamError(f"stream {self.name!r}: cannot decompress chunk ending at {index} with "
                                        f"{self.codec.name!r}: {exc}") from None
        expected = n * frame_bytes
        if n < 0 or len(payload) - offset != expected or order not in (b"C", b"F"):
            raise BrokenStreamError(f"stream {self.name!r}: chunk ending at {index} announces {n} samples "
                                    f"({expected} bytes) but carries {len(payload) - offset} bytes; message dropped")
        data = np.frombuffer(payload, dtype=self.dtype, count=expected // self.dtype.itemsize, offset=offset)
        if order == b"F":
            return index, n, epoch, data.reshape((n,) + frame_shape, order="F")
        return index, n, epoch, data.reshape((n,) + frame_shape)
