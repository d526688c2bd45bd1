"""NumpyDeviceBuffer: a simulated analog device that streams a numpy buffer in a loop."""

from __future__ import annotations

import logging

import numpy as np

from ..core.configargs import Arg
from ..core.node import Node
from ..core.pacing import PacedLoop  # its home is lslacq.core.pacing; this import path keeps working

__all__ = ["NumpyDeviceBuffer", "PacedLoop"]

logger = logging.getLogger(__name__)


class NumpyDeviceBuffer(Node):
    """A fake analog signal device streaming a predefined buffer in an endless loop.

    Data is paced by a thread (not a Qt timer): one chunk of ``chunksize``
    samples every ``chunksize * sample_interval`` seconds, on an absolute
    schedule, so the long-run rate is exact.

    configure() parameters
    ----------------------
    nb_channel : int
        Number of output channels.
    sample_interval : float
        Seconds between samples (1 / sample rate).
    chunksize : int
        Samples per chunk.
    buffer : ndarray, optional
        ``(n_samples, nb_channel)`` data to loop over; a multi-sine test
        signal by default. ``n_samples`` must be a multiple of ``chunksize``.
    """

    live_source = True  # paced by the clock (sample_interval): never waits for a reader
    restarts_count = True  # each start() begins the sample count at 0

    _output_specs = {
        "signals": dict(streamtype="analogsignal", dtype="float32", shape=(-1, 16), compression="", sample_rate=1000.0)
    }

    #: types and ranges of the configure() arguments (checked by configure() and `lslacq check`)
    configure_args = {
        "nb_channel": Arg(int, ge=1, doc="channels"),
        "sample_interval": Arg(float, gt=0, doc="seconds between samples"),
        "chunksize": Arg(int, ge=1, doc="samples per chunk"),
    }

    def _configure(
        self,
        nb_channel: int = 16,
        sample_interval: float = 0.001,
        chunksize: int = 256,
        buffer: np.ndarray | None = None,
    ) -> None:
        nb_channel, chunksize = int(nb_channel), int(chunksize)
        if nb_channel <= 0 or chunksize <= 0 or not float(sample_interval) > 0:
            raise ValueError(
                f"{self.name}: nb_channel ({nb_channel}), chunksize ({chunksize}) and sample_interval "
                f"({sample_interval}) must be positive"
            )
        if buffer is None:
            n = chunksize * max(1, int(np.ceil(2.0 / (sample_interval * chunksize))))
            t = np.arange(n) * sample_interval
            freqs = 5.0 + 3.0 * np.arange(nb_channel)
            buffer = np.sin(2 * np.pi * t[:, None] * freqs[None, :]).astype("float32")
        buffer = np.asarray(buffer)
        if buffer.ndim != 2 or buffer.shape[1] != nb_channel:
            raise ValueError(f"{self.name}: buffer has shape {buffer.shape}; expected (n_samples, {nb_channel})")
        if buffer.shape[0] % chunksize:
            raise ValueError(
                f"{self.name}: buffer length {buffer.shape[0]} is not a multiple of "
                f"chunksize={chunksize}; trim or pad it"
            )
        self.nb_channel = nb_channel
        self.sample_interval = float(sample_interval)
        self.sample_rate = 1.0 / self.sample_interval
        self.chunksize = chunksize
        self.buffer = buffer
        spec = self.output.spec
        spec["shape"] = (-1, nb_channel)
        spec["dtype"] = buffer.dtype.str
        spec["sample_rate"] = self.sample_rate
        if len(spec.get("channel_names") or ()) != nb_channel:
            spec["channel_names"] = [f"ch{i}" for i in range(nb_channel)]
        # pyacq's per-channel metadata key (its NumpyDeviceBuffer sets it; pyacq scripts read it)
        spec["channel_info"] = [{"name": name} for name in spec["channel_names"]]

    def _initialize(self) -> None:
        self.head = 0

    def _start(self) -> None:
        self.head = 0
        self.add_worker(
            PacedLoop(
                self._send_chunk,
                self.chunksize * self.sample_interval,
                name=f"{self.name}-loop",
                context="sending a chunk",
            )
        )

    def _send_chunk(self) -> None:
        i = self.head % self.buffer.shape[0]
        self.head += self.chunksize
        self.output.send(self.buffer[i : i + self.chunksize], index=self.head)
