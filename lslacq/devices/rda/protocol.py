r"""The BrainVision Recorder RDA (Remote Data Access) wire protocol.

Every RDA message is little-endian and unpadded. It starts with a 24-byte
header: a 16-byte GUID, ``uint32 nSize`` (size of the whole message, header
included) and ``uint32 nType``. The message types are:

================  =====  ==============================================================
type              nType  body after the header
================  =====  ==============================================================
START             1      uint32 nChannels, float64 sampling interval (us),
                         float64 resolutions[nChannels], nChannels NUL-terminated names
DATA16            2      uint32 nBlock, uint32 nPoints, uint32 nMarkers,
                         int16 data[nPoints * nChannels] (multiplexed), markers
STOP              3      (empty)
DATA32            4      as DATA16 with float32 data
(other)           5..    anything else (10000 is a keep-alive): skipped using nSize
================  =====  ==============================================================

A marker is ``uint32 nSize, uint32 nPosition (relative to the block),
uint32 nPoints, int32 nChannel (-1 = all channels)`` followed by
``"type\0description\0"``. Values in microvolts are ``raw * resolution``.

This module only converts between bytes and message objects; it has no
sockets and no threads. :class:`RdaParser` turns an arbitrarily fragmented
byte stream into messages; the ``build_*`` functions produce the bytes a
Recorder would send.
"""

from __future__ import annotations

import logging
import math
import struct
from dataclasses import dataclass, field

import numpy as np

from ...errors import BrokenStreamError

__all__ = [
    "RDA_GUID",
    "HEADER_SIZE",
    "MSG_START",
    "MSG_DATA16",
    "MSG_STOP",
    "MSG_DATA32",
    "MSG_KEEPALIVE",
    "DEFAULT_PORT_INT16",
    "DEFAULT_PORT_FLOAT32",
    "MARKER_DTYPE",
    "RdaProtocolError",
    "StartMessage",
    "DataMessage",
    "StopMessage",
    "OtherMessage",
    "Marker",
    "RdaParser",
    "build_header",
    "build_start",
    "build_data",
    "build_stop",
    "build_message",
    "markers_to_array",
]

logger = logging.getLogger(__name__)

#: The GUID that opens every RDA message.
RDA_GUID = bytes.fromhex("8E45584396C9864CAF4A98BBF6C91450")
HEADER_SIZE = 24
MSG_START = 1
MSG_DATA16 = 2
MSG_STOP = 3
MSG_DATA32 = 4
MSG_KEEPALIVE = 10000
#: Recorder's RDA ports: 16-bit integer data and 32-bit float data.
DEFAULT_PORT_INT16 = 51234
DEFAULT_PORT_FLOAT32 = 51244

#: Upper bounds that reject corrupted headers before memory is allocated.
DEFAULT_MAX_CHANNELS = 4096
DEFAULT_MAX_MESSAGE_SIZE = 256 * 1024 * 1024

_HEADER = struct.Struct("<16sII")
_START_HEAD = struct.Struct("<Id")
_DATA_HEAD = struct.Struct("<III")
_MARKER_HEAD = struct.Struct("<IIIi")
_DATA_DTYPES = {MSG_DATA16: np.dtype("<i2"), MSG_DATA32: np.dtype("<f4")}

#: numpy dtype of marker records (pyacq's BrainAmpSocket trigger fields).
#: ``pos`` is an absolute sample index when produced by the client or node.
MARKER_DTYPE = np.dtype(
    [
        ("pos", "int64"),
        ("points", "int64"),
        ("channel", "int64"),
        ("type", "S32"),
        ("description", "S64"),
    ]
)


class RdaProtocolError(BrokenStreamError):
    """Bytes received from an RDA server do not form a valid RDA message.

    After this error the byte stream cannot be re-synchronised: the
    connection must be closed and opened again.
    """


@dataclass
class StartMessage:
    """Recorder's START message: the channel layout of the data that follows.

    Attributes
    ----------
    n_channels : int
        Number of channels.
    sampling_interval : float
        Sampling interval in microseconds.
    resolutions : ndarray of float64, shape (n_channels,)
        Microvolts per raw unit, per channel.
    channel_names : list of str
        Channel names.
    """

    n_channels: int
    sampling_interval: float
    resolutions: np.ndarray
    channel_names: list

    @property
    def sample_rate(self) -> float:
        """Sampling rate in Hz (``1e6 / sampling_interval``)."""
        return 1e6 / self.sampling_interval

    # the field names of rdaclient's ``rda_msg_start_full_t``, for ported code
    @property
    def nChannels(self) -> int:
        """Same as :attr:`n_channels` (rdaclient's name)."""
        return self.n_channels

    @property
    def dSamplingInterval(self) -> float:
        """Same as :attr:`sampling_interval` (rdaclient's name)."""
        return self.sampling_interval

    @property
    def dResolutions(self) -> np.ndarray:
        """Same as :attr:`resolutions` (rdaclient's name)."""
        return self.resolutions

    @property
    def sChannelNames(self) -> list:
        """Same as :attr:`channel_names` (rdaclient's name)."""
        return self.channel_names

    def same_layout(self, other: StartMessage | None) -> bool:
        """Tell whether ``other`` has the same channel count and sampling interval."""
        return (
            other is not None
            and other.n_channels == self.n_channels
            and other.sampling_interval == self.sampling_interval
        )

    def __str__(self) -> str:
        names = ", ".join(self.channel_names[:8]) + (", ..." if self.n_channels > 8 else "")
        return f"{self.n_channels} channels at {self.sample_rate:g} Hz ({names})"


@dataclass
class Marker:
    """One RDA marker.

    Attributes
    ----------
    position : int
        Sample position relative to the first sample of its data block.
    points : int
        Duration in samples.
    channel : int
        Channel number the marker applies to, -1 for all channels.
    type : str
        Marker type, e.g. ``"Stimulus"``, ``"Response"``, ``"New Segment"``.
    description : str
        Marker description, e.g. ``"S  1"``.
    """

    position: int
    points: int = 1
    channel: int = -1
    type: str = "Stimulus"
    description: str = ""


@dataclass
class DataMessage:
    """A DATA16 or DATA32 block.

    Attributes
    ----------
    block : int
        Block counter of the server (consecutive unless blocks were dropped).
    n_points : int
        Number of samples in the block.
    data : ndarray or None
        Raw values, shape ``(n_points, n_channels)``, int16 or float32. It may
        be a view into the parser's receive buffer, valid only until the
        parser receives more bytes: copy it (or scale it) before that.
        ``None`` when the block arrived before any START message (its
        channel count is unknown).
    markers : list of Marker
        Markers of the block, positions relative to the block.
    msg_type : int
        :data:`MSG_DATA16` or :data:`MSG_DATA32`.
    """

    block: int
    n_points: int
    data: np.ndarray | None
    markers: list = field(default_factory=list)
    msg_type: int = MSG_DATA32


@dataclass
class StopMessage:
    """Recorder's STOP message: acquisition (monitoring) stopped."""


@dataclass
class OtherMessage:
    """A message of a type this module does not interpret (keep-alive, ...)."""

    msg_type: int
    size: int


def build_header(msg_type: int, body_size: int, guid: bytes = RDA_GUID) -> bytes:
    """Return the 24-byte header of a message whose body has ``body_size`` bytes."""
    return _HEADER.pack(guid, HEADER_SIZE + body_size, msg_type)


def build_message(msg_type: int, body: bytes = b"") -> bytes:
    """Return a complete message of any type (used for keep-alives and tests)."""
    return build_header(msg_type, len(body)) + bytes(body)


def build_start(sampling_interval: float, resolutions, channel_names) -> bytes:
    """Return a START message.

    Parameters
    ----------
    sampling_interval : float
        Sampling interval in microseconds (``1e6 / sample_rate``).
    resolutions : sequence of float
        Microvolts per raw unit, one per channel.
    channel_names : sequence of str
        One name per channel.
    """
    resolutions = np.asarray(resolutions, dtype="<f8")
    names = list(channel_names)
    if resolutions.ndim != 1 or len(names) != resolutions.size:
        raise ValueError(
            f"build_start: {resolutions.size} resolutions for {len(names)} channel names; give one per channel"
        )
    body = (
        _START_HEAD.pack(len(names), float(sampling_interval))
        + resolutions.tobytes()
        + b"".join(str(n).encode("utf-8") + b"\0" for n in names)
    )
    return build_message(MSG_START, body)


def build_data(block: int, data, markers=(), int16: bool | None = None) -> bytes:
    """Return a DATA32 (float32) or DATA16 (int16) message.

    Parameters
    ----------
    block : int
        Block counter.
    data : array_like, shape (n_points, n_channels)
        Raw values. Their dtype picks the message type unless ``int16`` is given.
    markers : iterable of Marker
        Markers with positions relative to the block.
    int16 : bool, optional
        Force DATA16 (True) or DATA32 (False).
    """
    data = np.asarray(data)
    if data.ndim != 2:
        raise ValueError(f"build_data: data must be 2-D (n_points, n_channels), got shape {data.shape}")
    if int16 is None:
        int16 = data.dtype.kind in "iu"
    msg_type = MSG_DATA16 if int16 else MSG_DATA32
    raw = np.ascontiguousarray(data, dtype=_DATA_DTYPES[msg_type]).tobytes()
    parts = [_DATA_HEAD.pack(block & 0xFFFFFFFF, data.shape[0], len(markers)), raw]
    for m in markers:
        text = m.type.encode("utf-8") + b"\0" + m.description.encode("utf-8") + b"\0"
        parts.append(_MARKER_HEAD.pack(_MARKER_HEAD.size + len(text), m.position, m.points, m.channel) + text)
    return build_message(msg_type, b"".join(parts))


def build_stop() -> bytes:
    """Return a STOP message."""
    return build_message(MSG_STOP)


def markers_to_array(markers, offset: int = 0) -> np.ndarray:
    """Return markers as a :data:`MARKER_DTYPE` array with ``pos = offset + position``."""
    out = np.zeros(len(markers), dtype=MARKER_DTYPE)
    for i, m in enumerate(markers):
        out[i] = (
            offset + m.position,
            m.points,
            m.channel,
            m.type.encode("utf-8")[:32],
            m.description.encode("utf-8")[:64],
        )
    return out


def _decode_start(body: memoryview, max_channels: int) -> StartMessage:
    if len(body) < _START_HEAD.size:
        raise RdaProtocolError(
            f"RDA START message truncated: body has {len(body)} bytes, needs at least {_START_HEAD.size}"
        )
    n_channels, interval = _START_HEAD.unpack_from(body, 0)
    if not 0 < n_channels <= max_channels:
        raise RdaProtocolError(
            f"RDA START message announces {n_channels} channels (allowed 1..{max_channels}); "
            "the stream is corrupted or not an RDA server (raise max_channels if this is real)"
        )
    if not (math.isfinite(interval) and interval > 0):
        raise RdaProtocolError(f"RDA START message has sampling interval {interval!r} us; it must be > 0")
    end_res = _START_HEAD.size + 8 * n_channels
    if len(body) < end_res:
        raise RdaProtocolError(
            f"RDA START message truncated: {n_channels} channels need {end_res} bytes of "
            f"sampling interval and resolutions, the body has {len(body)}"
        )
    resolutions = np.frombuffer(body, dtype="<f8", count=n_channels, offset=_START_HEAD.size).astype(np.float64)
    names = bytes(body[end_res:]).split(b"\0")
    if len(names) < n_channels + 1:
        raise RdaProtocolError(
            f"RDA START message truncated: found {len(names) - 1} NUL-terminated channel names "
            f"for {n_channels} channels"
        )
    channel_names = [n.decode("utf-8", errors="replace") for n in names[:n_channels]]
    return StartMessage(int(n_channels), float(interval), resolutions, channel_names)


def _decode_markers(body: memoryview, offset: int, n_markers: int, block: int) -> list:
    markers = []
    size = len(body)
    for i in range(n_markers):
        if offset + _MARKER_HEAD.size > size:
            raise RdaProtocolError(
                f"RDA data block {block}: marker {i + 1}/{n_markers} truncated at byte {offset} of {size}"
            )
        m_size, position, points, channel = _MARKER_HEAD.unpack_from(body, offset)
        if m_size < _MARKER_HEAD.size or offset + m_size > size:
            raise RdaProtocolError(
                f"RDA data block {block}: marker {i + 1}/{n_markers} has nSize={m_size}, "
                f"which is outside {_MARKER_HEAD.size}..{size - offset}"
            )
        text = bytes(body[offset + _MARKER_HEAD.size : offset + m_size]).split(b"\0")
        mtype = text[0].decode("utf-8", errors="replace")
        desc = text[1].decode("utf-8", errors="replace") if len(text) > 1 else ""
        markers.append(Marker(position, points, channel, mtype, desc))
        offset += m_size
    return markers


def _decode_data(msg_type: int, body: memoryview, n_channels: int | None) -> DataMessage:
    if len(body) < _DATA_HEAD.size:
        raise RdaProtocolError(
            f"RDA data message truncated: body has {len(body)} bytes, needs at least {_DATA_HEAD.size}"
        )
    block, n_points, n_markers = _DATA_HEAD.unpack_from(body, 0)
    if n_channels is None:
        return DataMessage(block, n_points, None, [], msg_type)
    dtype = _DATA_DTYPES[msg_type]
    data_end = _DATA_HEAD.size + n_points * n_channels * dtype.itemsize
    if data_end > len(body):
        raise RdaProtocolError(
            f"RDA data block {block}: {n_points} points x {n_channels} channels need {data_end} bytes, "
            f"the message body has {len(body)}. The server's channel count differs from its START message "
            "or the message is truncated."
        )
    data = np.frombuffer(body, dtype=dtype, count=n_points * n_channels, offset=_DATA_HEAD.size)
    data = data.reshape(n_points, n_channels)
    markers = _decode_markers(body, data_end, n_markers, block) if n_markers else []
    return DataMessage(block, n_points, data, markers, msg_type)


class RdaParser:
    """Incremental RDA message parser that accepts any TCP fragmentation.

    Bytes enter through :meth:`feed` (a copy) or, without a copy, through
    :meth:`recv_into_from` (a socket's ``recv_into``). Complete messages come
    out of :meth:`next_message` / :meth:`messages`. The parser remembers the
    last START message, which gives data blocks their channel count.

    Parameters
    ----------
    max_channels : int
        START messages announcing more channels are rejected.
    max_message_size : int
        Headers announcing larger messages are rejected (before any memory
        is allocated for them).
    buffer_size : int
        Initial receive buffer size in bytes; it grows to hold the largest message.

    Notes
    -----
    A :class:`RdaProtocolError` means the byte stream is corrupted; the
    parser cannot find the next message boundary and must be discarded
    together with its connection.
    """

    def __init__(
        self,
        max_channels: int = DEFAULT_MAX_CHANNELS,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        buffer_size: int = 1 << 20,
    ):
        self.max_channels = int(max_channels)
        self.max_message_size = int(max_message_size)
        self._buf = np.empty(max(int(buffer_size), 4096), dtype=np.uint8)
        self._start = 0  # first unparsed byte
        self._end = 0  # one past the last received byte
        self.start_message: StartMessage | None = None
        self.bytes_received = 0
        self.messages_parsed = 0

    @property
    def pending_bytes(self) -> int:
        """Number of received bytes not yet consumed as complete messages."""
        return self._end - self._start

    def _reserve(self, nbytes: int) -> None:
        """Make room for ``nbytes`` more bytes after the pending ones.

        This may overwrite the bytes of messages returned earlier (whose
        ``data`` arrays are views into this buffer).
        """
        if self._start == self._end:
            self._start = self._end = 0
        if self._end + nbytes <= self._buf.size:
            return
        pending = self._end - self._start
        if pending + nbytes <= self._buf.size:
            self._buf[:pending] = self._buf[self._start : self._end]  # numpy handles the overlap
        else:
            new = np.empty(max(2 * self._buf.size, pending + nbytes), dtype=np.uint8)
            new[:pending] = self._buf[self._start : self._end]
            self._buf = new
        self._start, self._end = 0, pending

    def feed(self, data) -> None:
        """Append received bytes (any fragment of the stream)."""
        data = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
        self._reserve(data.size)
        self._buf[self._end : self._end + data.size] = data
        self._end += data.size
        self.bytes_received += data.size

    def recv_into_from(self, sock, nbytes: int = 1 << 16) -> int:
        """Receive up to ``nbytes`` from ``sock`` straight into the buffer.

        Returns the number of bytes received (0 when the peer closed the
        connection). Socket exceptions (timeouts, resets) propagate.
        """
        wanted = max(nbytes, self._missing_bytes())
        self._reserve(wanted)
        view = memoryview(self._buf)[self._end : self._end + wanted]
        n = sock.recv_into(view)
        self._end += n
        self.bytes_received += n
        return n

    def _missing_bytes(self) -> int:
        """Bytes still needed to complete the message being received."""
        pending = self._end - self._start
        if pending < HEADER_SIZE:
            return HEADER_SIZE - pending
        guid, size, msg_type = _HEADER.unpack_from(self._buf, self._start)
        self._check_header(guid, size, msg_type)
        return max(size - pending, 0)

    def _check_header(self, guid: bytes, size: int, msg_type: int) -> None:
        if guid != RDA_GUID:
            raise RdaProtocolError(
                f"RDA message header has GUID {guid.hex()}, expected {RDA_GUID.hex()} "
                f"(after {self.messages_parsed} valid messages): the peer is not an RDA server "
                "or the stream lost its framing; reconnect"
            )
        if size < HEADER_SIZE:
            raise RdaProtocolError(
                f"RDA message of type {msg_type} has nSize={size}, smaller than the "
                f"{HEADER_SIZE}-byte header: the stream is corrupted; reconnect"
            )
        if size > self.max_message_size:
            raise RdaProtocolError(
                f"RDA message of type {msg_type} announces nSize={size} bytes, more than "
                f"max_message_size={self.max_message_size}: the stream is corrupted "
                "(raise max_message_size if such blocks are real)"
            )

    def next_message(self):
        """Return the next complete message, or None if more bytes are needed.

        Returns
        -------
        StartMessage, DataMessage, StopMessage, OtherMessage or None

        Raises
        ------
        RdaProtocolError
            If the bytes are not a valid RDA message.
        """
        pending = self._end - self._start
        if pending < HEADER_SIZE:
            return None
        guid, size, msg_type = _HEADER.unpack_from(self._buf, self._start)
        self._check_header(guid, size, msg_type)
        if pending < size:
            return None
        body = memoryview(self._buf)[self._start + HEADER_SIZE : self._start + size]
        self._start += size
        self.messages_parsed += 1
        return self._decode(msg_type, body, size)

    def messages(self):
        """Yield every complete message received so far."""
        while True:
            msg = self.next_message()
            if msg is None:
                return
            yield msg

    def _decode(self, msg_type: int, body: memoryview, size: int):
        if msg_type == MSG_START:
            self.start_message = _decode_start(body, self.max_channels)
            return self.start_message
        if msg_type in _DATA_DTYPES:
            n_channels = self.start_message.n_channels if self.start_message else None
            return _decode_data(msg_type, body, n_channels)
        if msg_type == MSG_STOP:
            return StopMessage()
        return OtherMessage(msg_type, size)
