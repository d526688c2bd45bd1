"""ZeroMQ plumbing shared by every transfer mode.

A stream is one ROUTER socket (output, bound) and any number of DEALER
sockets (inputs, connected). A reader announces itself with a JOIN message
carrying its options (JSON: pid, host, name, flow-control bounds); the output
registers it and answers HELLO, after which every chunk it sends reaches that
reader (see flowcontrol.py). A reader that closes sends LEAVE.

Every data message starts with a 24-byte header (absolute index of the last
sample + 1, number of samples in the chunk, memory order, run epoch, frame
shape flag, padding that keeps the payload 8-byte aligned). The epoch (mod
256) changes each time the sender restarts its count (``reset_buffer_index``),
so readers tell a new run from stale messages. The frame shape flag is 0 when
the chunk has the stream's frame shape; otherwise it is 1 + ndim and ndim
int64 dimensions follow the header (plaindata streams whose shape nobody
configured carry each chunk's shape, as pyacq's do). Three forms exist:

* header alone: sharedmem (the data is in shared memory);
* header + payload in one frame: small plaindata chunks (one copy is cheaper
  than a second zmq frame);
* header frame, then payload frame: large plaindata chunks (sent without copy).

Control messages, shorter than a header, also travel: HELLO (sent by an output
to a reader it has just registered: a reader that receives it knows every
later chunk reaches it), CLOSED (sent by an output that closes, so readers
stop waiting), SYNC (the output's count of what it sent, to a reader whose
credit is exhausted), and from readers JOIN, LEAVE and ACK (the number of data
messages and bytes the reader has taken so far: the credit that lets the
output send more, see flowcontrol.py).
"""

from __future__ import annotations

import os
import struct
import tempfile
import uuid

import zmq

from ..net import connectable_address  # noqa: F401  (re-exported: one copy, shared with the RPC and log servers)

__all__ = [
    "HEADER",
    "HELLO",
    "CLOSED",
    "JOIN",
    "LEAVE",
    "ACK",
    "ACK_COUNTS",
    "SYNC",
    "get_context",
    "bind_address",
    "pack_header",
    "pack_shape",
    "unpack_shape",
]

# index (last + 1), n samples, order b'C' | b'F', epoch, frame shape flag (0 or 1 + ndim), padding
HEADER = struct.Struct("<qqcBB5x")
HELLO = b"LSLACQ/HELLO/1"
CLOSED = b"LSLACQ/CLOSED/1"
JOIN = b"LSLACQ/JOIN/1"
LEAVE = b"LSLACQ/LEAVE/1"
ACK = b"LSLACQ/ACK/1"  # + ACK_COUNTS: data messages and bytes received so far (cumulative)
ACK_COUNTS = struct.Struct("<qq")
# output -> a reader whose credit window is full: SYNC + ACK_COUNTS, the data messages and bytes sent to it
# before this one. Messages stay in order, so everything counted there has arrived or was lost in transit
# (a connection that broke and came back): the reader takes the counts as its own and acknowledges them.
# Shorter than a header, like every control message.
SYNC = b"LSLSYNC"
_DIM = struct.Struct("<q")


def get_context() -> zmq.Context:
    """Return the process-wide zmq context (shared so inproc streams connect)."""
    return zmq.Context.instance()


def pack_header(index: int, nsamples: int, order: bytes = b"C", epoch: int = 0, shape_flag: int = 0) -> bytes:
    """Return the header of a data message (see :data:`HEADER`).

    Parameters
    ----------
    index : int
        Absolute index of the chunk's last sample + 1.
    nsamples : int
        Samples in the chunk.
    order : bytes
        Memory order of the payload, ``b"C"`` or ``b"F"``.
    epoch : int
        The sender's run (0-255), incremented when it restarts its count.
    shape_flag : int
        0, or 1 + the number of frame dimensions that follow the header (see :func:`pack_shape`).
    """
    return HEADER.pack(index, nsamples, order, epoch, shape_flag)


def pack_shape(frame_shape: tuple) -> tuple[int, bytes]:
    """Return (shape flag, bytes) that carry ``frame_shape`` after a header."""
    return 1 + len(frame_shape), b"".join(_DIM.pack(int(d)) for d in frame_shape)


def unpack_shape(buffer, flag: int) -> tuple[tuple, int]:
    """Read the frame shape that follows a header; return (shape, bytes used)."""
    ndim = flag - 1
    nbytes = ndim * _DIM.size
    if len(buffer) < HEADER.size + nbytes:
        raise ValueError("message too short for its frame shape")
    shape = tuple(_DIM.unpack_from(buffer, HEADER.size + k * _DIM.size)[0] for k in range(ndim))
    return shape, nbytes


def bind_address(protocol: str, interface: str, port) -> str:
    """Return the zmq address an output binds for ``protocol``/``interface``/``port``.

    tcp: ``tcp://interface:port`` (``port='*'`` picks a free port); ipc: a
    fresh socket file in the temp dir unless ``interface`` names a path;
    inproc: a unique name unless ``interface`` gives one.
    """
    if protocol == "tcp":
        return f"tcp://{interface or '127.0.0.1'}:{port if port not in (None, '') else '*'}"
    if protocol == "ipc":
        if interface and interface not in ("127.0.0.1", "localhost", "*"):
            path = interface
        else:
            path = os.path.join(tempfile.gettempdir(), f"lslacq-{uuid.uuid4().hex[:12]}.ipc")
        return f"ipc://{path}"
    if protocol == "inproc":
        name = interface if interface and interface not in ("127.0.0.1", "localhost", "*") else uuid.uuid4().hex
        return f"inproc://lslacq-{name}"
    raise ValueError(f"unknown protocol {protocol!r}; expected 'tcp', 'ipc' or 'inproc'")
