"""ZeroMQ plumbing shared by every transfer mode.

A stream is one XPUB socket (output, bound) and any number of SUB sockets
(inputs, connected). Every data message starts with a 24-byte header
(absolute index of the last sample + 1, number of samples in the chunk, memory
order, run epoch, padding that keeps the payload 8-byte aligned). The epoch
(mod 256) changes each time the sender restarts its count
(``reset_buffer_index``), so readers tell a new run from stale messages. Three forms exist:

* header alone: sharedmem (the data is in shared memory);
* header + payload in one frame: small plaindata chunks (one copy is cheaper
  than a second zmq frame);
* header frame, then payload frame: large plaindata chunks (sent without copy).

Two control messages, shorter than a header, also travel: HELLO (broadcast by
an output when it registers new readers; a reader that receives it knows its
subscription is active, see admission.py) and CLOSED (sent by an output that
closes, so readers stop waiting).
"""

from __future__ import annotations

import os
import struct
import tempfile
import uuid

import zmq

from ..net import connectable_address  # one copy, shared with the RPC and log servers

__all__ = ["HEADER", "HELLO", "CLOSED", "get_context", "bind_address", "pack_header"]

HEADER = struct.Struct("<qqcB6x")  # index (last + 1), n samples, order b'C' | b'F', epoch, padding
HELLO = b"LSLACQ/HELLO/1"
CLOSED = b"LSLACQ/CLOSED/1"


def get_context() -> zmq.Context:
    """The process-wide zmq context (shared so inproc streams connect)."""
    return zmq.Context.instance()


def pack_header(index: int, nsamples: int, order: bytes = b"C", epoch: int = 0) -> bytes:
    return HEADER.pack(index, nsamples, order, epoch)



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
