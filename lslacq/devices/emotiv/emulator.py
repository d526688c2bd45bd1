"""An Emotiv EPOC USB dongle as a pyusb backend: the real pyusb code path, without the hardware.

:class:`EmotivBackend` is a :class:`usb.backend.IBackend`: give it to
``usb.core.find(backend=...)`` (or to the :class:`~lslacq.devices.Emotiv`
node as ``backend=``) and pyusb enumerates a dongle with the real
descriptors (VID:PID 0x21A1:0x0001, or 0x1234:0xED02 with ``research=True``;
manufacturer "Emotiv Systems Pty Ltd"; interface 1 "Emotiv RAW DATA" with
interrupt endpoint 0x82, 32 bytes), string descriptors read with control
transfers, kernel drivers to detach and interfaces to claim. Reading
endpoint 0x82 gives 32-byte reports at 128 Hz in real time, encrypted with
the key variant chosen, carrying known data::

    EEG field of channel c, report n:  8192 + round(1000 * sin(2 pi (c + 1) n / 128)), O1's two LSBs aside
    counter sequence: 0..127, then a battery report (byte 0 = ``battery``, 0xF5 = 93 %), then 0...
    gyro: X = n % 20 - 10, Y = 5
    contact quality: 100 * (electrode + 1) for the electrode the counter selects

(:func:`expected_packet` gives the decrypted report for a report number.)

Faults: ``drop_every`` (reports lost in the radio link), :meth:`EmotivBackend.unplug`
(reads fail with ENODEV) and :meth:`EmotivBackend.replug`, :meth:`EmotivBackend.switch_off`
(reads time out, as with a headset that is off).
"""

from __future__ import annotations

import array
import errno
import math
import threading
import time
from types import SimpleNamespace

import numpy as np
import usb.backend
import usb.core

from .protocol import (
    EEG_BIT_OFFSETS,
    consistent_quality,
    encode_packet,
    encrypt,
    make_key,
    quality_channel,
)

__all__ = ["EmotivBackend", "expected_packet", "expected_eeg", "expected_reports"]

MANUFACTURER = "Emotiv Systems Pty Ltd"
PRODUCT = "Receiver Dongle L01"
_STRINGS_BASE = {1: MANUFACTURER, 2: PRODUCT, 4: "Emotiv RAW DATA"}


def expected_eeg(n: int) -> list[int]:
    """Return the 14 EEG fields of report ``n`` (before O1's two LSBs are shared with contact quality)."""
    return [8192 + round(1000 * math.sin(2 * math.pi * (c + 1) * n / 128)) for c in range(len(EEG_BIT_OFFSETS))]


def _counter(n: int, battery: int) -> int:
    phase = n % 129
    return battery if phase == 128 else phase


def expected_packet(n: int, battery: int = 0xF5) -> bytes:
    """Return the decrypted report number ``n`` (0 = the first one read)."""
    counter = _counter(n, battery)
    eeg = expected_eeg(n)
    ch = quality_channel(counter) if counter < 128 else -1
    quality = consistent_quality(100 * (ch + 1), eeg[6]) if ch >= 0 else consistent_quality(0, eeg[6])
    return encode_packet(counter, eeg, quality=quality, gyro=(n % 20 - 10, 5))


class EmotivBackend(usb.backend.IBackend):
    """A pyusb backend with one Emotiv EPOC dongle (see the module docstring).

    Parameters
    ----------
    serial : str
        The dongle's serial number (iSerialNumber, 16 characters).
    key_variant : str
        Key layout used to encrypt (``'consumer'``, ``'research_emokit'``, ``'consumer_doc'``).
    research : bool
        Enumerate as 0x1234:0xED02 (the developer dongle) instead of 0x21A1:0x0001.
    battery : int
        Byte 0 of the battery reports (0xF5 = 93 %).
    drop_every : int
        Lose every N-th report (0 = never); the counter still advances.
    realtime : bool
        Pace reports at ``sample_rate`` (False: as fast as they are read).
    sample_rate : float
        Reports per second (128).
    kernel_driver : bool
        The HID driver holds the interfaces until detached (as usbhid does on Linux).

    Attributes
    ----------
    reports_read, dropped : int
    detached, claimed : set of int
        Interfaces the client detached from the kernel driver / claimed.
    """

    def __init__(
        self,
        serial: str = "SN20120526998912",
        key_variant: str = "consumer",
        research: bool = False,
        battery: int = 0xF5,
        drop_every: int = 0,
        realtime: bool = True,
        sample_rate: float = 128.0,
        kernel_driver: bool = True,
    ):
        self.serial = str(serial)
        self.key = make_key(self.serial, key_variant)
        self.key_variant = key_variant
        self.vid, self.pid = (0x1234, 0xED02) if research else (0x21A1, 0x0001)
        self.battery = int(battery)
        self.drop_every = int(drop_every)
        self.realtime = bool(realtime)
        self.sample_rate = float(sample_rate)
        self._kernel_driver = bool(kernel_driver)
        self._kernel = {0: bool(kernel_driver), 1: bool(kernel_driver)}
        self.detached: set[int] = set()
        self.claimed: set[int] = set()
        self.reports_read = self.dropped = 0
        self._n = 0
        self._t0: float | None = None
        self._unplugged = False
        self._off = False
        self._lock = threading.Lock()
        self._strings = {**_STRINGS_BASE, 3: self.serial}
        self._device = SimpleNamespace(name="emotiv-dongle")

    # -- faults -------------------------------------------------------------------
    def unplug(self) -> None:
        """Pull the dongle out: every call fails with ENODEV."""
        self._unplugged = True

    def replug(self) -> None:
        """Plug the dongle in again: a fresh device (kernel driver attached, nothing claimed)."""
        with self._lock:
            self._kernel = {0: True, 1: True} if self._kernel_driver else {0: False, 1: False}
            self.claimed.clear()
            self._t0 = None  # the headset's counter runs on; pacing restarts from now
            self._unplugged = False

    def switch_off(self, off: bool = True) -> None:
        """Switch the headset off (True) or on again: reads time out while off."""
        self._off = bool(off)

    def _check(self) -> None:
        if self._unplugged:
            raise usb.core.USBError("No such device (it may have been disconnected)", error_code=-4, errno=errno.ENODEV)

    # -- enumeration and descriptors ----------------------------------------------------
    def enumerate_devices(self):
        """List the one dongle (none while unplugged)."""
        return [] if self._unplugged else [self._device]

    def get_parent(self, dev):
        """Return None: the dongle has no parent hub here."""
        return None

    def get_device_descriptor(self, dev):
        """Return the dongle's device descriptor (its vendor and product ids)."""
        return SimpleNamespace(
            bLength=18,
            bDescriptorType=1,
            bcdUSB=0x0110,
            bDeviceClass=0,
            bDeviceSubClass=0,
            bDeviceProtocol=0,
            bMaxPacketSize0=8,
            idVendor=self.vid,
            idProduct=self.pid,
            bcdDevice=0x0003,
            iManufacturer=1,
            iProduct=2,
            iSerialNumber=3,
            bNumConfigurations=1,
            address=5,
            bus=1,
            port_number=2,
            port_numbers=(2,),
            speed=2,
        )

    def get_configuration_descriptor(self, dev, config):
        """Return the dongle's one configuration."""
        if config != 0:
            raise IndexError(f"the Emotiv dongle has one configuration, not {config + 1}")
        return SimpleNamespace(
            bLength=9,
            bDescriptorType=2,
            wTotalLength=59,
            bNumInterfaces=2,
            bConfigurationValue=1,
            iConfiguration=0,
            bmAttributes=0x80,
            bMaxPower=50,
            extra_descriptors=[],
        )

    def get_interface_descriptor(self, dev, intf, alt, config):
        """Return the descriptor of interface 0 or 1 (1 carries the raw data)."""
        if config != 0 or alt != 0 or intf not in (0, 1):
            raise IndexError("no such interface/alternate setting")  # pyusb probes until IndexError
        return SimpleNamespace(
            bLength=9,
            bDescriptorType=4,
            bInterfaceNumber=intf,
            bAlternateSetting=0,
            bNumEndpoints=1,
            bInterfaceClass=3,
            bInterfaceSubClass=0,
            bInterfaceProtocol=0,
            iInterface=4 if intf == 1 else 0,
            extra_descriptors=[],
        )

    def get_endpoint_descriptor(self, dev, ep, intf, alt, config):
        """Return the interface's one endpoint (0x82 on interface 1, the data; 0x81 on 0)."""
        if config != 0 or alt != 0 or intf not in (0, 1) or ep != 0:
            raise IndexError("no such endpoint")
        address, size = (0x82, 32) if intf == 1 else (0x81, 8)
        return SimpleNamespace(
            bLength=7,
            bDescriptorType=5,
            bEndpointAddress=address,
            bmAttributes=3,
            wMaxPacketSize=size,
            bInterval=1,
            bRefresh=0,
            bSynchAddress=0,
            extra_descriptors=[],
        )

    # -- handles, configuration, interfaces -----------------------------------------------
    def open_device(self, dev):
        """Return a handle on the dongle."""
        self._check()
        return SimpleNamespace(device=dev)

    def close_device(self, dev_handle):
        """Do nothing (no resource is held)."""

    def get_configuration(self, dev_handle):
        """Return 1, the configuration in use."""
        self._check()
        return 1

    def set_configuration(self, dev_handle, config_value):
        """Accept any configuration (there is one)."""
        self._check()

    def set_interface_altsetting(self, dev_handle, intf, altsetting):
        """Accept any alternate setting (there is one)."""
        self._check()

    def is_kernel_driver_active(self, dev_handle, intf):
        """Tell whether the kernel HID driver holds interface ``intf``."""
        self._check()
        return self._kernel.get(intf, False)

    def detach_kernel_driver(self, dev_handle, intf):
        """Take interface ``intf`` from the kernel HID driver."""
        self._check()
        self._kernel[intf] = False
        self.detached.add(intf)

    def attach_kernel_driver(self, dev_handle, intf):
        """Give interface ``intf`` back to the kernel HID driver."""
        self._kernel[intf] = True

    def claim_interface(self, dev_handle, intf):
        """Claim interface ``intf`` (EBUSY while the kernel driver holds it)."""
        self._check()
        if self._kernel.get(intf):
            raise usb.core.USBError(
                "Resource busy (the kernel HID driver holds the interface)", error_code=-6, errno=errno.EBUSY
            )
        self.claimed.add(intf)

    def release_interface(self, dev_handle, intf):
        """Release interface ``intf``."""
        self.claimed.discard(intf)

    def clear_halt(self, dev_handle, ep):
        """Do nothing (no endpoint stalls)."""

    def reset_device(self, dev_handle):
        """Do nothing."""

    # -- transfers ----------------------------------------------------------------------------
    def ctrl_transfer(self, dev_handle, bmRequestType, bRequest, wValue, wIndex, data, timeout):
        """Answer GET_DESCRIPTOR(STRING) with the dongle's strings; accept other requests."""
        self._check()
        if bmRequestType & 0x80 and bRequest == 0x06 and (wValue >> 8) == 3:  # GET_DESCRIPTOR(STRING)
            index = wValue & 0xFF
            if index == 0:
                payload = bytes([4, 3]) + (0x0409).to_bytes(2, "little")
            elif index in self._strings:
                text = self._strings[index].encode("utf-16-le")
                payload = bytes([2 + len(text), 3]) + text
            else:
                raise usb.core.USBError("Pipe error (no such string)", error_code=-9, errno=errno.EPIPE)
            n = min(len(payload), len(data))
            data[:n] = array.array("B", payload[:n])
            return n
        if bmRequestType & 0x80:
            return 0
        return len(data)

    def intr_write(self, dev_handle, ep, intf, data, timeout):
        """Fail with EPIPE: the dongle is read-only."""
        raise usb.core.USBError("the Emotiv dongle is read-only", error_code=-9, errno=errno.EPIPE)

    def intr_read(self, dev_handle, ep, intf, buff, timeout):
        """Fill ``buff`` with the next encrypted report, paced at ``sample_rate`` when ``realtime``."""
        self._check()
        if intf not in self.claimed:
            raise usb.core.USBError("interface not claimed", error_code=-6, errno=errno.EBUSY)
        deadline = time.monotonic() + (timeout / 1000.0 if timeout else 1e9)
        if ep != 0x82 or self._off:
            time.sleep(max(0.0, min(deadline - time.monotonic(), 0.5)))
            raise usb.core.USBTimeoutError("Operation timed out", error_code=-7, errno=errno.ETIMEDOUT)
        with self._lock:
            while self.drop_every and self._n % self.drop_every == self.drop_every - 1:
                self._n += 1
                self.dropped += 1
            n = self._n
            if self._t0 is None:
                self._t0 = time.monotonic()
            due = self._t0 + n / self.sample_rate
        if self.realtime:
            wait = due - time.monotonic()
            if wait > 0:
                if time.monotonic() + wait > deadline:
                    time.sleep(max(0.0, deadline - time.monotonic()))
                    raise usb.core.USBTimeoutError("Operation timed out", error_code=-7, errno=errno.ETIMEDOUT)
                time.sleep(wait)
            self._check()
        with self._lock:
            self._n = n + 1
            self.reports_read += 1
        report = encrypt(expected_packet(n, self.battery), self.key)
        count = min(len(report), len(buff))
        buff[:count] = array.array("B", report[:count])
        return count


def expected_reports(count: int, battery: int = 0xF5) -> np.ndarray:
    """``(count, 32)`` decrypted reports 0..count-1 (what the emulator sends without drops)."""
    return np.frombuffer(b"".join(expected_packet(n, battery) for n in range(count)), np.uint8).reshape(-1, 32)
