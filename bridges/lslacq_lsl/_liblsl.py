"""Prototyped liblsl calls for the hot paths: numeric chunk pulls and pushes.

pylsl builds a ctypes object for every argument of every call
(``c_void_p(...)``, ``c_size_t(...)``, ``byref(...)``) and goes through a
Python method first. On a busy machine, where each call starts with cold
caches, that costs several times the liblsl work itself (measured: a pull
of 100 x 32 floats every 10 ms took 33 us through pylsl's objects and 13 us
through these functions). Here each liblsl function gets its own function
pointer with ``argtypes`` declared once, so callers pass plain ints (buffer
addresses) and floats, and ctypes converts them in C.

The function pointers are private copies (``lib[name]``), so pylsl's own
functions keep their settings.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pylsl

from ._pylsl import fmt2string, handle_error, liblsl

__all__ = ["ChunkPuller", "ChunkPusher"]

_SUFFIXES = {"float32": "f", "double64": "d", "int32": "i", "int16": "s", "int8": "c", "int64": "l"}


def _prototype(name: str, restype, argtypes: list):
    try:
        fn = liblsl[name]
    except (AttributeError, KeyError):
        return None
    fn.restype = restype
    fn.argtypes = argtypes
    return fn


_samples_available = _prototype("lsl_samples_available", ctypes.c_uint32, [ctypes.c_void_p])


def _suffix(channel_format: int | str) -> str:
    name = channel_format if isinstance(channel_format, str) else fmt2string[channel_format]
    try:
        return _SUFFIXES[name]
    except KeyError:
        raise ValueError(
            f"no numeric liblsl chunk functions for channel format {name!r}; numeric formats are {sorted(_SUFFIXES)}"
        ) from None


def _handle(obj) -> int:
    """Return the liblsl handle of a pylsl object as a plain int."""
    value = obj.obj.value if isinstance(obj.obj, ctypes.c_void_p) else obj.obj
    if not value:
        raise ValueError(f"{type(obj).__name__} has no liblsl object (already destroyed?)")
    return int(value)


class ChunkPuller:
    """Pull numeric samples of one inlet straight into numpy memory.

    Parameters
    ----------
    inlet : pylsl.StreamInlet
        Kept alive by the puller.
    n_channels : int
        Channels per sample.
    channel_format : str or int
        The stream's channel format (``'float32'``, ``pylsl.cf_float32``...).
        For ``'string'`` streams only :meth:`available` works (pull strings
        with pylsl).
    """

    def __init__(self, inlet: pylsl.StreamInlet, n_channels: int, channel_format: int | str):
        self.inlet = inlet
        self.n_channels = int(n_channels)
        self._handle = _handle(inlet)
        self._err = ctypes.c_int()
        self._pull = None
        if channel_format not in ("string", pylsl.cf_string):  # strings: available() only
            suffix = _suffix(channel_format)
            self._pull = _prototype(
                f"lsl_pull_chunk_{suffix}",
                ctypes.c_ulong,
                [
                    ctypes.c_void_p,
                    ctypes.c_void_p,
                    ctypes.c_void_p,
                    ctypes.c_size_t,
                    ctypes.c_size_t,
                    ctypes.c_double,
                    ctypes.POINTER(ctypes.c_int),
                ],
            )
            if self._pull is None:
                raise ValueError(f"this liblsl has no lsl_pull_chunk_{suffix}; update liblsl")

    def available(self) -> int:
        """Return how many samples are queued in the inlet (0 if none; 1 may mean "some" on old liblsl)."""
        return _samples_available(self._handle)

    def pull_into(self, data_address: int, timestamps_address: int, max_samples: int, timeout: float = 0.0) -> int:
        """Pull up to ``max_samples`` samples; return how many were written.

        ``data_address`` points at ``max_samples * n_channels`` values of the
        stream's type, ``timestamps_address`` at ``max_samples`` float64. Waits
        up to ``timeout`` s for the first sample.

        Raises
        ------
        pylsl.LostError
            The stream is gone and cannot be recovered.
        """
        if self._pull is None:
            raise TypeError("ChunkPuller.pull_into: string streams are pulled with pylsl's pull_chunk")
        err = self._err
        got = self._pull(
            self._handle, data_address, timestamps_address, max_samples * self.n_channels, max_samples, timeout, err
        )
        if err.value:
            handle_error(err)
        return got // self.n_channels

    def pull_array(
        self, data: np.ndarray, timestamps: np.ndarray, start: int = 0, stop: int | None = None, timeout: float = 0.0
    ) -> int:
        """Pull into rows ``start:stop`` of a C-contiguous ``(n, n_channels)`` array and its timestamps."""
        stop = len(data) if stop is None else stop
        return self.pull_into(
            data.ctypes.data + start * data.strides[0], timestamps.ctypes.data + start * 8, stop - start, timeout
        )


class ChunkPusher:
    """Push numeric chunks to one outlet from numpy memory.

    Parameters
    ----------
    outlet : pylsl.StreamOutlet
        Kept alive by the pusher.
    channel_format : str or int
        The outlet's channel format.
    """

    def __init__(self, outlet: pylsl.StreamOutlet, channel_format: int | str):
        self.outlet = outlet
        self._handle = _handle(outlet)
        suffix = _suffix(channel_format)
        self._push_one = _prototype(
            f"lsl_push_chunk_{suffix}tp",
            ctypes.c_int,
            [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_double, ctypes.c_int],
        )
        self._push_each = _prototype(
            f"lsl_push_chunk_{suffix}tnp",
            ctypes.c_int,
            [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_int],
        )
        if self._push_one is None or self._push_each is None:
            raise ValueError(f"this liblsl has no lsl_push_chunk_{suffix}tp/tnp; update liblsl")

    def push(self, data: np.ndarray, timestamp: float = 0.0, pushthrough: bool = True) -> None:
        """Push a C-contiguous chunk in the outlet's dtype; ``timestamp`` is the newest sample's (0: now).

        liblsl derives the other samples' timestamps at exactly ``1 / nominal_srate``.
        """
        handle_error(self._push_one(self._handle, data.ctypes.data, data.size, timestamp, pushthrough))

    def push_stamped(self, data: np.ndarray, timestamps: np.ndarray, pushthrough: bool = True) -> None:
        """Push a C-contiguous chunk with one timestamp per sample."""
        timestamps = np.ascontiguousarray(timestamps, dtype=np.float64)
        if len(timestamps) != len(data):
            raise ValueError(f"push_stamped: {len(data)} samples but {len(timestamps)} timestamps")
        handle_error(self._push_each(self._handle, data.ctypes.data, data.size, timestamps.ctypes.data, pushthrough))
