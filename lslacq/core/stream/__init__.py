"""Streams between nodes: specs, output/input ends, ring buffers, shared memory."""

from . import plaindatastream, sharedarray  # noqa: F401  (pyacq module paths, manual 5.1)
from .compression import available_codecs, compression_methods
from .inputstream import InputStream
from .outputstream import OutputStream, all_transfermodes
from .plaindata import PlainDataReceiver, PlainDataSender
from .ringbuffer import RingBuffer
from .sharedmem import SharedMem
from .sharedmemstream import SharedMemReceiver, SharedMemSender
from .spec import StreamSpec

__all__ = [
    "StreamSpec",
    "OutputStream",
    "InputStream",
    "RingBuffer",
    "SharedMem",
    "PlainDataSender",
    "PlainDataReceiver",
    "SharedMemSender",
    "SharedMemReceiver",
    "all_transfermodes",
    "available_codecs",
    "compression_methods",
]
