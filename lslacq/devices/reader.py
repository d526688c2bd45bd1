"""BlockingDevice and DeviceReader: the read loop every device with a blocking read shares.

A device node that reads its hardware with a blocking call (a serial port, a
USB HID report, a socket) writes three things:

- ``_configure(...)``: check arguments, set the output specs;
- ``read()``: one read with a short timeout: the data read, None if nothing
  came, or :data:`END` when the input ended (a file, a finished URL);
- ``handle(data)``: decode it and send it (default: ``self.output.send(data)``).

and optionally ``_open()`` / ``_close_device()`` (connect and make the
hardware stream; release it). The base does the rest: a
:class:`DeviceReader` worker calls ``read()`` until the node stops; when
``read()`` raises one of :attr:`BlockingDevice.lost_errors` (the device was
unplugged), the node fails with an error naming the device, or, with
``reconnect=True``, keeps running, reopens the device every
:attr:`~BlockingDevice.reconnect_interval` seconds, counts ``reconnects`` and
accounts the time without data as a gap (``lost_samples``; readers see it as
an index jump) through the node's :class:`SampleCounter`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..core.node import Node
from ..core.workers import Worker
from .segments import contiguous_runs

__all__ = ["BlockingDevice", "DeviceReader", "SampleCounter", "END"]

logger = logging.getLogger(__name__)

#: what ``read()`` returns when the input ended for good (the read loop ends without a failure)
END = object()


class SampleCounter:
    """Absolute sample indexes of a device across lost packets and reconnections.

    A decoder numbers its samples from 0 at each (re)connection; the counter
    adds an offset so indexes keep growing, and counts the samples that never
    arrived (``lost_samples``): holes in the decoder's positions and the time
    without the device.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start a new run: indexes from 0, nothing lost."""
        self.offset = 0  # added to decoder positions (grows at each reconnection)
        self.next_index = 0  # index after the last sample sent
        self.lost_samples = 0

    def runs(self, positions: np.ndarray) -> Iterator[tuple[int, int, int]]:
        """Yield ``(start, stop, index)`` for each contiguous run of decoder ``positions``.

        ``index`` is the absolute index after the run's last sample (the
        ``index=`` of its send); samples skipped before the run are counted
        in :attr:`lost_samples`. The caller sends the rows ``start:stop``.
        """
        for start, stop in contiguous_runs(positions):
            first = self.offset + int(positions[start])
            self.lost_samples += max(0, first - self.next_index)
            index = self.offset + int(positions[stop - 1]) + 1
            yield start, stop, index
            self.next_index = index

    def advance(self, n_samples: int) -> int:
        """Indexes for ``n_samples`` more contiguous samples: return the index after them."""
        self.next_index += int(n_samples)
        return self.next_index

    def skip(self, n_samples: int) -> None:
        """``n_samples`` never arrived (a reconnection): the decoder's next position 0 comes after them."""
        self.offset = self.next_index + int(n_samples)


class DeviceReader(Worker):
    """The read loop of a :class:`BlockingDevice`: read, hand on, reopen when the device is lost."""

    def __init__(self, device: BlockingDevice):
        super().__init__(f"{device.name}-read", context=device.read_context)
        self.device = device
        self.join_timeout = device.stop_timeout

    def run(self) -> None:
        """Call the device's ``read()`` and ``handle()`` until the node stops, the input ends or the device is lost.

        A lost device fails the worker with the device's :meth:`~BlockingDevice.lost_error`, or, with
        ``reconnect``, is reopened.
        """
        device = self.device
        while not self.stopping:
            try:
                data = device.read()
            except device.lost_errors as exc:
                if self.stopping:
                    return  # closed under the read by stop()
                error = device.lost_error(exc)
                if not device.reconnect:
                    raise error from exc
                every = f" every {device.reconnect_interval:g} s" if device.reconnect_interval else ""
                logger.warning("%s; trying to reopen it%s", error, every)
                if not self._reopen():
                    return
                continue
            if data is END:
                device.input_ended()
                return
            if data is not None:
                device.handle(data)

    def _reopen(self) -> bool:
        """Reopen the device until it works (True) or the node stops (False)."""
        device = self.device
        lost_at = time.monotonic()
        device.close_quietly()
        while not self.sleep(device.reconnect_interval):
            try:
                device._open(reopening=True)
            except device.open_errors as exc:
                logger.debug("%s: reconnection failed: %s", device.name, exc)
                continue
            device.reconnects += 1
            gap = int(round((time.monotonic() - lost_at) * device.gap_rate()))
            device.samples.skip(gap)
            logger.info("%s: %s is back; %d samples of gap", device.name, device.device_description(), gap)
            return True
        return False


class BlockingDevice(Node):
    """Base of the devices read by a blocking call in a thread (see the module docstring).

    Subclasses write ``_configure``, ``read()`` and ``handle(data)``, and
    ``_open(reopening)`` / ``_close_device()`` when the hardware needs them.
    ``configure(reconnect=True)`` (set :attr:`reconnect` in ``_configure``)
    keeps the node running through an unplug.

    Attributes
    ----------
    samples : SampleCounter
        Absolute indexes and ``lost_samples`` (use :meth:`SampleCounter.runs`
        to send decoded runs).
    reconnects : int
        Times the device was reopened in this run.
    """

    live_source = True  # paced by the hardware: never waits for a reader
    restarts_count = True
    #: exceptions of read() meaning the device is gone
    lost_errors: tuple[type[BaseException], ...] = (OSError,)
    #: exceptions of _open() meaning the device is not back yet (retried with reconnect=True)
    open_errors: tuple[type[BaseException], ...] = (OSError,)
    #: what the read loop does, for error messages
    read_context = "reading the device"
    reconnect: bool = False
    reconnect_interval: float = 1.0
    #: seconds stop() waits for the read loop (a read's timeout must be shorter)
    stop_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.samples = SampleCounter()
        self.reconnects = 0

    @property
    def lost_samples(self) -> int:
        """Samples that never arrived in this run (lost packets, time without the device)."""
        return self.samples.lost_samples

    # -- hooks -----------------------------------------------------------------------
    def _open(self, reopening: bool = False) -> None:
        """Connect and make the hardware stream (at start, and at each reconnection when ``reopening``)."""

    def read(self) -> Any:
        """One read with a short timeout (in the reader thread): the data, or None if nothing came."""
        raise NotImplementedError(f"{type(self).__name__} must implement read()")

    def handle(self, data: Any) -> None:
        """Decode ``data`` and send it (in the reader thread); default: send it as it is."""
        self.output.send(data, index=self.samples.advance(len(data)))

    def _close_device(self) -> None:
        """Release the hardware (after the read loop ended, and before each reconnection)."""

    def input_ended(self) -> None:
        """``read()`` returned :data:`END` (in the reader thread): the input ended; default: log it."""
        logger.info("%s: end of the input %s", self.name, self.device_description())

    def device_description(self) -> str:
        """Name the device in messages (default: ``device_handle`` if the node has one)."""
        return str(getattr(self, "device_handle", None) or type(self).__name__)

    def lost_error(self, exc: BaseException) -> BaseException:
        """Return the error a lost device raises (subclasses return their own type)."""
        return OSError(f"{self.name}: lost {self.device_description()}: {exc}")

    def gap_rate(self) -> float:
        """Return the samples per second of the indexes (to count the time without the device)."""
        return float(getattr(self, "sample_rate", 0.0) or 0.0)

    # -- lifecycle -------------------------------------------------------------------------
    def _start(self) -> None:
        self.samples.reset()
        self.reconnects = 0
        self._open(reopening=False)
        self.add_worker(DeviceReader(self))

    def _stop(self) -> None:
        self._close_device()

    def _close(self) -> None:
        self.close_quietly()

    def close_quietly(self) -> None:
        """:meth:`_close_device`, logging (not raising) what a gone device raises."""
        try:
            self._close_device()
        except Exception as exc:  # noqa: BLE001 - the device is gone anyway
            logger.debug("%s: closing %s: %s", self.name, self.device_description(), exc)

    def counters(self) -> dict:
        """Node counters; ``lost_samples`` from the device's :attr:`samples`, plus ``reconnects``."""
        base = super().counters()
        base["lost_samples"] = int(self.samples.lost_samples)
        base["reconnects"] = int(self.reconnects)
        return base
