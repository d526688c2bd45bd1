"""plaindata transfer: the chunk's memory travels in the message."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import zmq

from ...errors import BrokenStreamError
from .compression import get_codec
from .spec import StreamSpec
from .transport import HEADER, pack_header, pack_shape, unpack_shape

_pack_header = HEADER.pack
_unpack_header = HEADER.unpack_from
_HEADER_SIZE = HEADER.size
_NUMPY_ORDER: dict[bytes, Literal["C", "F"]] = {b"C": "C", b"F": "F"}  # memory order in the header -> numpy's

__all__ = ["PlainDataSender", "PlainDataReceiver"]

# Below this size one copy into a single frame beats a second, zero-copy frame.
ZERO_COPY_MIN_BYTES = 1 << 16


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
        """Return the keys this transfer mode adds to the stream parameters: none for plaindata."""
        return {}

    def encode(self, index: int, data: np.ndarray, epoch: int = 0, carry_shape: bool = False) -> tuple:
        """Return the message frames for a chunk (1 frame: copied; 2 frames: payload not copied).

        ``carry_shape``: put the chunk's frame shape in the header (it differs from the stream's).
        """
        if self._buffer_ok and data.flags.c_contiguous and not carry_shape:  # the common case, kept short
            if data.nbytes < ZERO_COPY_MIN_BYTES:
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
        raw = (data.T if order == b"F" else data).reshape(-1).view(np.uint8).data
        if self.codec is not None:
            return header, self.codec.compress(raw, self.itemsize)
        if data.nbytes < ZERO_COPY_MIN_BYTES:
            return (header + raw,)
        return header, raw

    def close(self) -> None:
        """Release nothing: a plaindata sender holds no resources of its own (the stream owns the socket)."""


class PlainDataReceiver:
    """Rebuild arrays from messages (zero copy: the array views the received frame)."""

    def __init__(self, params: StreamSpec):
        self.dtype = params.np_dtype
        self.frame_shape = params.frame_shape
        self.frame_bytes = int(np.prod(self.frame_shape, dtype=np.int64)) * self.dtype.itemsize
        self.codec = get_codec(params.compression)
        self.name = params.get("name", "")

    def is_stale(self, epoch: int) -> bool:
        """Return False: plaindata messages carry their data, they are never stale."""
        return False

    def decode(self, head, payload) -> tuple[int, int, int, np.ndarray]:
        """(index, n samples, epoch, array viewing the message) of a data message (frames: any buffer)."""
        size = len(head)
        if size < _HEADER_SIZE or (payload is None and self.codec is not None):
            raise BrokenStreamError(
                f"plaindata stream {self.name!r}: malformed message ({size}-byte first "
                f"frame, {'no' if payload is None else 'a'} payload frame); message dropped"
            )
        index, n, order, epoch, shape_flag = _unpack_header(head)
        if shape_flag:
            frame_shape, frame_bytes, head_size = self._carried_shape(head, shape_flag)
        else:
            frame_shape, frame_bytes, head_size = self.frame_shape, self.frame_bytes, _HEADER_SIZE
        if payload is None:  # packed: payload follows the header in the same frame
            payload, offset, nbytes = head, head_size, size - head_size
        else:
            if size != head_size:
                raise BrokenStreamError(
                    f"plaindata stream {self.name!r}: malformed {size}-byte header; message dropped"
                )
            if self.codec is not None:
                try:
                    payload = self.codec.decompress(bytes(payload))
                except Exception as exc:
                    raise BrokenStreamError(
                        f"stream {self.name!r}: cannot decompress chunk ending at {index} "
                        f"with {self.codec.name!r}: {exc}"
                    ) from None
            offset, nbytes = 0, len(payload)
        numpy_order = _NUMPY_ORDER.get(order)
        if nbytes != n * frame_bytes or n < 0 or numpy_order is None:
            raise BrokenStreamError(
                f"stream {self.name!r}: chunk ending at {index} announces {n} samples "
                f"({n * frame_bytes} bytes) but carries {nbytes} bytes; message dropped"
            )
        # the array views the message (positional arguments: numpy parses keywords slowly, ~1 us per chunk)
        try:
            return index, n, epoch, np.ndarray((n,) + frame_shape, self.dtype, payload, offset, None, numpy_order)
        except ValueError as exc:  # a carried shape numpy cannot make: > 64 dimensions, or too big even empty
            raise BrokenStreamError(
                f"plaindata stream {self.name!r}: chunk ending at {index} has frame shape "
                f"{frame_shape!r:.100}, which numpy cannot make ({exc}); message dropped"
            ) from None

    def _carried_shape(self, head, shape_flag: int) -> tuple[tuple, int, int]:
        """(frame shape, frame bytes, header size) of a chunk that carries its own frame shape."""
        try:
            frame_shape, extra = unpack_shape(head, shape_flag)
        except ValueError:
            extra = -1
        if extra < 0 or any(d < 0 for d in frame_shape):
            raise BrokenStreamError(
                f"plaindata stream {self.name!r}: malformed frame shape in the header; message dropped"
            )
        frame_bytes = math.prod(frame_shape) * self.dtype.itemsize  # Python ints: huge dimensions never wrap
        return frame_shape, frame_bytes, _HEADER_SIZE + extra
