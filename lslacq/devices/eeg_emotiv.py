"""Emotiv EPOC (original 14-channel headset) through its USB dongle: pyusb, or Linux hidraw."""

from __future__ import annotations

import logging
import os
import select
import time

from ..errors import LslacqError
from .emotiv.protocol import CHANNEL_NAMES, REPORT_SIZE, EmotivDecoder, EmotivKeyError, make_key, normalize_report
from .reader import BlockingDevice

__all__ = ["Emotiv", "EmotivError", "EmotivKeyError", "PyUSBTransport", "HidrawTransport", "DONGLE_IDS"]

logger = logging.getLogger(__name__)

#: (vendor, product) of the EPOC dongles: consumer, and the developer ("research") dongle.
DONGLE_IDS = ((0x21A1, 0x0001), (0x1234, 0xED02))
DATA_INTERFACE = 1
DATA_ENDPOINT = 0x82


class EmotivError(LslacqError, OSError):
    """No dongle, no permission, or the dongle failed."""


class PyUSBTransport:
    """Reads the dongle's raw reports with pyusb (libusb): find, detach the HID driver, claim, read 0x82.

    Parameters
    ----------
    backend : usb.backend.IBackend, optional
        pyusb backend (default: libusb's); e.g. :class:`lslacq.devices.emotiv.EmotivBackend`.
    serial : str, optional
        Pick the dongle with this serial number when several are plugged in.
    """

    def __init__(self, backend=None, serial: str | None = None):
        self.backend = backend
        self.wanted_serial = serial
        self.serial = ""
        self.device = None
        self._endpoint = None
        self._detached: list[int] = []
        self._claimed: list[int] = []

    def open(self) -> PyUSBTransport:
        """Find the dongle, detach the kernel HID driver, claim the interfaces; return self.

        Raises
        ------
        EmotivError
            No libusb backend, no dongle (or not the one with ``serial``), or no permission on it.
        """
        try:
            import usb.core
            import usb.util
        except ImportError:
            raise ImportError("the Emotiv node needs pyusb: pip install 'lslacq[devices]'") from None
        try:
            candidates = list(usb.core.find(find_all=True, backend=self.backend, custom_match=_is_emotiv))
        except usb.core.NoBackendError:
            raise EmotivError(
                "pyusb has no backend: install libusb (apt install libusb-1.0-0), or read the dongle "
                "through Linux hidraw with device_handle='/dev/hidrawN'"
            ) from None
        found = []
        for dev in candidates:
            try:
                serial = usb.util.get_string(dev, dev.iSerialNumber) or ""
            except (usb.core.USBError, ValueError) as exc:
                raise EmotivError(
                    f"found an Emotiv dongle ({dev.idVendor:04x}:{dev.idProduct:04x}) but cannot read "
                    f"its serial number: {exc}. Without root, install the udev rule of "
                    "docs/eeg_devices.md and replug the dongle"
                ) from exc
            found.append((dev, serial))
        if self.wanted_serial is not None:
            found = [(d, s) for d, s in found if s == self.wanted_serial]
        if not found:
            which = f" with serial {self.wanted_serial!r}" if self.wanted_serial else ""
            raise EmotivError(
                f"no Emotiv EPOC dongle{which} found (looked for USB "
                f"{', '.join(f'{v:04x}:{p:04x}' for v, p in DONGLE_IDS)} and manufacturer 'Emotiv "
                "Systems'). Is it plugged in? `lsusb` lists it"
            )
        self.device, self.serial = found[0]
        try:
            self._claim()
        except Exception:
            self.close()
            raise
        return self

    def _claim(self) -> None:
        import usb.core
        import usb.util

        dev = self.device
        cfg = dev.get_active_configuration()
        for intf in cfg:
            number = intf.bInterfaceNumber
            try:
                if dev.is_kernel_driver_active(number):
                    dev.detach_kernel_driver(number)
                    self._detached.append(number)
            except NotImplementedError:  # not on Linux: no kernel driver to detach
                pass
            except usb.core.USBError as exc:
                raise EmotivError(
                    f"cannot detach the kernel HID driver from interface {number} of the Emotiv "
                    f"dongle: {exc}. Run with permission on the device (udev rule, "
                    "docs/eeg_devices.md)"
                ) from exc
            try:
                usb.util.claim_interface(dev, number)
            except usb.core.USBError as exc:
                raise EmotivError(f"cannot claim interface {number} of the Emotiv dongle: {exc}") from exc
            self._claimed.append(number)
        self._endpoint = usb.util.find_descriptor(cfg[(DATA_INTERFACE, 0)], bEndpointAddress=DATA_ENDPOINT)
        if self._endpoint is None:
            raise EmotivError("the Emotiv dongle has no endpoint 0x82 on interface 1: is it an EPOC dongle?")

    def read(self, timeout: float) -> bytes | None:
        """Return one report (32 bytes), or None if none came within ``timeout`` seconds."""
        import usb.core

        try:
            return bytes(self._endpoint.read(REPORT_SIZE, max(1, int(timeout * 1000))))
        except usb.core.USBTimeoutError:
            return None
        except usb.core.USBError as exc:
            if exc.errno == 110:  # some backends time out with a plain USBError
                return None
            raise EmotivError(f"reading the Emotiv dongle failed: {exc} (unplugged?)") from exc

    def close(self) -> None:
        """Release the interfaces and give them back to the kernel driver (quietly if unplugged)."""
        if self.device is None:
            return
        import usb.util

        for number in self._claimed:
            try:
                usb.util.release_interface(self.device, number)
            except Exception as exc:  # noqa: BLE001 - unplugged: nothing to release
                logger.debug("release interface %d: %s", number, exc)
        for number in self._detached:
            try:
                self.device.attach_kernel_driver(number)  # give the interface back to usbhid
            except Exception as exc:  # noqa: BLE001
                logger.debug("reattach kernel driver %d: %s", number, exc)
        self._claimed, self._detached = [], []
        usb.util.dispose_resources(self.device)
        self.device = None


def _is_emotiv(dev) -> bool:
    if (dev.idVendor, dev.idProduct) in DONGLE_IDS:
        return True
    try:
        import usb.util

        return (usb.util.get_string(dev, dev.iManufacturer) or "").startswith("Emotiv Systems")
    except Exception:  # noqa: BLE001 - no permission to read strings of other devices
        return False


class HidrawTransport:
    """Reads reports from a Linux ``/dev/hidrawN`` node (pyacq's way), serial from sysfs.

    Parameters
    ----------
    path : str
        The hidraw node of the dongle's data interface (interface 1, "Emotiv RAW DATA").
    serial : str, optional
        The dongle's serial number; read from sysfs by default.
    """

    def __init__(self, path: str, serial: str | None = None):
        self.path = str(path)
        self.serial = serial or ""
        self._fd = -1

    def open(self) -> HidrawTransport:
        """Open the hidraw node (and read the serial from sysfs if not given); return self.

        Raises
        ------
        EmotivError
            The node cannot be opened, or sysfs has no serial for it.
        """
        try:
            self._fd = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            raise EmotivError(
                f"cannot open {self.path}: {exc}. Is it the Emotiv dongle's hidraw node "
                "(ls /sys/class/hidraw/*/device/uevent)? Without root, see the udev rule in "
                "docs/eeg_devices.md"
            ) from exc
        if not self.serial:
            self.serial = self._sysfs_serial()
        return self

    def _sysfs_serial(self) -> str:
        name = os.path.basename(self.path)
        here = os.path.realpath(f"/sys/class/hidraw/{name}/device")
        for _ in range(4):
            candidate = os.path.join(here, "serial")
            if os.path.isfile(candidate):
                with open(candidate) as f:
                    return f.read().strip()
            here = os.path.dirname(here)
        self.close()
        raise EmotivError(
            f"cannot find the serial number of {self.path} in sysfs; give serial='SN...' "
            "(printed on the dongle, or `lsusb -v -d 21a1:` iSerial)"
        )

    def read(self, timeout: float) -> bytes | None:
        """Return one report (32 bytes), or None if none came within ``timeout`` seconds."""
        readable, _, _ = select.select([self._fd], [], [], timeout)
        if not readable:
            return None
        try:
            data = os.read(self._fd, REPORT_SIZE)  # one report per read (the EPOC has no report IDs)
        except OSError as exc:
            raise EmotivError(f"reading {self.path} failed: {exc} (dongle unplugged?)") from exc
        if not data:
            raise EmotivError(f"{self.path} was closed (dongle unplugged?)")
        return data

    def close(self) -> None:
        """Close the hidraw node (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _spec(n, names, units, optional=False):
    return dict(
        streamtype="analogsignal",
        dtype="float32",
        shape=(-1, n),
        sample_rate=128.0,
        units=units,
        nb_channel=n,
        channel_names=list(names),
        channel_units=[units] * n,
        manufacturer="Emotiv",
        model="EPOC",
        optional=optional,
    )


class Emotiv(BlockingDevice):
    """Emotiv EPOC headset (14 EEG channels at 128 Hz) through its USB dongle.

    The transport is pyusb (libusb) by default: the node finds the dongle
    (0x21A1:0x0001 or 0x1234:0xED02, manufacturer "Emotiv Systems"), reads
    its serial number, detaches the kernel HID driver, claims the interfaces
    and reads 32-byte reports from endpoint 0x82. ``device_handle=
    '/dev/hidrawN'`` reads Linux hidraw instead (pyacq's way). Reports are
    AES-128-ECB encrypted (pycryptodome) with a key derived from the serial:
    three key variants exist (see :mod:`lslacq.devices.emotiv.protocol`);
    ``key='auto'`` picks the one whose counter runs 0..127. The first
    ``check_reports`` reports are checked in ``start()``, so a wrong key is
    an :class:`EmotivKeyError` there, naming the variant that works.

    Outputs
    -------
    signals : float32 (-1, 14), microvolts, 128 Hz
        ``(field - 8192) * 0.51`` (the 14-bit fields are unsigned: an
        electrode offset remains; high-pass filter it). Channel names
        F3 FC5 AF3 F7 T7 P7 O1 O2 P8 T8 F8 AF4 FC6 F4.
    quality : float32 (-1, 14), optional (alias ``impedances``, pyacq's name)
        Contact quality per electrode (raw value; emokit calls >= ~430 good),
        holding each electrode's last value; NaN until known.
    gyro : float32 (-1, 2), optional
        Gyro X, Y (bytes 29, 30 minus 106 and 105).
    battery : float32 (-1, 1), optional
        Battery %, from the battery report (once per 129 reports), held.

    Every output has one row per report, with the same indices; lost
    reports (counter jumps) are gaps in the indices and counted in
    :meth:`counters`.
    """

    lost_errors = (EmotivError,)
    open_errors = (EmotivError,)
    read_context = "reading the Emotiv dongle"
    #: the headset's report rate (indexes count reports)
    report_rate = 128.0

    _output_specs = {
        "signals": _spec(14, CHANNEL_NAMES, "microvolts"),
        "quality": _spec(14, CHANNEL_NAMES, "counts", optional=True),
        "gyro": _spec(2, ("GyroX", "GyroY"), "counts", optional=True),
        "battery": _spec(1, ("Battery",), "percent", optional=True),
    }

    _output_aliases = {"impedances": "quality"}  # pyacq's name

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._transport = None
        self._decoder: EmotivDecoder | None = None
        self.serial = ""
        self.lost_packets = 0
        self.battery = float("nan")

    def _configure(
        self,
        device_handle: str | None = None,
        key: str | bytes = "consumer",
        backend=None,
        serial: str | None = None,
        timeout: float = 5.0,
        check_reports: int = 8,
        reconnect: bool = False,
        device_info: dict | None = None,
        **kwargs,
    ) -> None:
        """Open the dongle once (no dongle, no permission fail here) and set the outputs.

        Parameters
        ----------
        device_handle : str, optional
            None (or ``'usb'``): pyusb; ``'/dev/hidrawN'``: Linux hidraw.
        key : str or bytes
            ``'consumer'`` (default), ``'research_emokit'``, ``'consumer_doc'``,
            ``'auto'`` (detect), or the 16 key bytes.
        backend : usb.backend.IBackend, optional
            pyusb backend, e.g. the shipped emulator
            (:class:`lslacq.devices.emotiv.EmotivBackend`).
        serial : str, optional
            Dongle serial: picks one of several dongles (pyusb), or gives the
            serial when sysfs cannot (hidraw).
        timeout : float
            Seconds to wait for the first reports in ``start()``; silences
            longer than this while running are logged (headset off?).
        check_reports : int
            Reports used to check (or detect) the key.
        reconnect : bool
            When the dongle fails (unplugged), keep running and look for it
            every second; the time without data is a gap in the indices.
        device_info : dict, optional
            pyacq's form: ``{'path': '/dev/hidrawN', 'serial': 'SN...'}``.
        """
        if kwargs:
            raise TypeError(
                f"{self.name}: unexpected configure() arguments {sorted(kwargs)}; accepted: device_handle, "
                "key, backend, serial, timeout, check_reports, reconnect, device_info"
            )
        if device_info:
            device_handle = device_info.get("path", device_handle)
            serial = device_info.get("serial", serial)
        if isinstance(key, str) and key != "auto":
            make_key("SN00000000000000", key)  # validates the variant name
        elif isinstance(key, (bytes, bytearray)) and len(key) != 16:
            raise ValueError(f"{self.name}: key must be a variant name, 'auto' or 16 bytes; got {len(key)} bytes")
        if not float(timeout) > 0:
            raise ValueError(f"{self.name}: timeout={timeout!r} must be positive")
        self.device_handle = None if device_handle in (None, "usb") else str(device_handle)
        self.key = key
        self.backend = backend
        self.wanted_serial = serial
        self.timeout = float(timeout)
        self.check_reports = int(check_reports)
        self.reconnect = bool(reconnect)
        transport = self._make_transport().open()  # fail early (no dongle, no permission); learn the serial
        try:
            self.serial = transport.serial
        finally:
            transport.close()
        for output in self.outputs.values():
            output.spec["serial_number"] = self.serial
        logger.info("%s: Emotiv dongle %s via %s", self.name, self.serial, self.device_handle or "pyusb")

    def _make_transport(self):
        if self.device_handle is None:
            return PyUSBTransport(backend=self.backend, serial=self.wanted_serial)
        return HidrawTransport(self.device_handle, serial=self.wanted_serial)

    # -- lifecycle (BlockingDevice hooks) ---------------------------------------------------
    def _start(self) -> None:
        self.lost_packets = 0
        super()._start()

    def _open(self, reopening: bool = False) -> None:
        transport = self._make_transport().open()
        self._silent_since, self._warned = time.monotonic(), False
        if reopening:
            self._transport = transport
            key = self._decoder.variant or self._decoder.key or self.key  # keep the key found (auto-detected)
            self._decoder = EmotivDecoder(transport.serial, key=key, check_reports=self.check_reports)
            return
        self._transport = transport
        try:
            self._decoder = EmotivDecoder(transport.serial, key=self.key, check_reports=self.check_reports)
            first = []
            deadline = time.monotonic() + self.timeout
            while len(first) < self.check_reports:
                report = transport.read(max(0.01, deadline - time.monotonic()))
                if report is None:
                    raise EmotivError(
                        f"{self.name}: no data from the Emotiv headset within {self.timeout:g} s: is "
                        "it switched on and near the dongle?"
                    )
                first.append(normalize_report(report))
            self._send(self._decoder.feed(first))  # checks (or detects) the key
        except BaseException:
            self._close_device()
            raise
        if self._decoder.variant:
            logger.info("%s: decrypting with the %r key of %s", self.name, self._decoder.variant, self.serial)

    def _close_device(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    @property
    def key_variant(self) -> str | None:
        """The key variant in use (after ``start()``; None for raw key bytes)."""
        return self._decoder.variant if self._decoder is not None else None

    # -- the reader thread's hooks -------------------------------------------------------------
    def read(self) -> bytes | None:
        """Return one report, or None after 0.2 s without one (warn once when the headset stays silent)."""
        report = self._transport.read(0.2)
        if report is None:
            if not self._warned and time.monotonic() - self._silent_since > self.timeout:
                logger.warning(
                    "%s: no data from the Emotiv headset for %.0f s (switched off, out of range "
                    "or battery empty?); still waiting",
                    self.name,
                    self.timeout,
                )
                self._warned = True
            return None
        if self._warned:
            logger.info("%s: the Emotiv headset sends again", self.name)
        self._silent_since, self._warned = time.monotonic(), False
        return report

    def handle(self, report: bytes) -> None:
        """Decrypt and decode the report and send what it gives."""
        self._send(self._decoder.feed([report]))

    def lost_error(self, exc: BaseException) -> BaseException:
        """Return ``exc`` itself: the transport's EmotivError names the dongle already."""
        return exc

    def device_description(self) -> str:
        """Name the device in messages."""
        return "the Emotiv dongle"

    def gap_rate(self) -> float:
        """Return the report rate (one sample per report), to count the time without the dongle."""
        return self.report_rate

    def _send(self, chunk) -> None:
        if chunk.lost_packets:
            self.lost_packets += chunk.lost_packets
            logger.warning(
                "%s: %d Emotiv reports lost (counter jump; total %d)", self.name, chunk.lost_packets, self.lost_packets
            )
        if len(chunk):
            self.battery = float(chunk.battery[-1, 0])
        outputs = [
            (self.outputs["signals"], chunk.eeg),
            (self.outputs["quality"], chunk.quality),
            (self.outputs["gyro"], chunk.gyro),
            (self.outputs["battery"], chunk.battery),
        ]
        for a, b, index in self.samples.runs(chunk.positions):
            for output, data in outputs:
                if output.configured:
                    output.send(data[a:b], index=index)

    def counters(self) -> dict:
        """Node counters plus ``lost_packets``, ``battery`` (%) and ``reconnects``.

        ``lost_samples`` counts the samples missing from the outputs: lost
        reports and the time without the dongle (``reconnect=True``).
        """
        base = super().counters()
        signals = self.outputs["signals"]
        base["samples_out"] = int(signals.last_index) if signals.configured else 0
        base.update(lost_packets=int(self.lost_packets), battery=self.battery)
        return base
