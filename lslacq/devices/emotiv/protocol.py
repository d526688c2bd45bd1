"""Emotiv EPOC (original, 14 channels, 128 Hz) reports: keys, decryption and decoding, no I/O.

The dongle sends 32-byte reports encrypted with AES-128 in ECB mode, with a
key built from the last four characters of the dongle's serial number. Three
key layouts exist in the wild (:data:`KEY_VARIANTS`); :func:`detect_key`
finds the right one from the counter continuity of a few decrypted reports.

Decrypted layout (bit 0 = most significant bit of byte 0)::

    byte 0        counter 0..127, or a battery report (bit 7 set) once a cycle: 0..127, battery, 0, ...
    14-bit fields EEG, unsigned, big-endian, at bits F3 8, FC5 22, AF3 36, F7 50, T7 64, P7 78, O1 92,
                  O2 134, P8 148, T8 162, F8 176, AF4 190, FC6 204, F4 218
    contact quality  a 14-bit value (emokit's bits 99..112) for the electrode the counter selects
    bytes 29, 30  gyro X, Y (offsets 106 and 105 as in emokit and pyacq)
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..segments import contiguous_runs

__all__ = [
    "CHANNEL_NAMES",
    "EEG_BIT_OFFSETS",
    "KEY_VARIANTS",
    "MICROVOLTS_PER_COUNT",
    "EEG_OFFSET",
    "REPORT_SIZE",
    "EmotivKeyError",
    "EmotivChunk",
    "EmotivDecoder",
    "make_key",
    "decrypt",
    "encrypt",
    "normalize_report",
    "decode_packets",
    "encode_packet",
    "detect_key",
    "battery_percent",
    "quality_channel",
]

REPORT_SIZE = 32
CHANNEL_NAMES = ("F3", "FC5", "AF3", "F7", "T7", "P7", "O1", "O2", "P8", "T8", "F8", "AF4", "FC6", "F4")
EEG_BIT_OFFSETS = (8, 22, 36, 50, 64, 78, 92, 134, 148, 162, 176, 190, 204, 218)
#: emokit's quality bits (``get_level`` numbering: bit b is bit b % 8 of byte b // 8 + 1), value LSB first.
QUALITY_BITS = tuple(range(99, 113))
#: python-emotiv's resolution (emokit uses 0.51515).
MICROVOLTS_PER_COUNT = 0.51
#: Mid-scale of the 14-bit fields, subtracted before scaling (the signal keeps its electrode offset).
EEG_OFFSET = 8192
GYRO_OFFSETS = (106, 105)

#: key layouts: which serial character (-1..-4) or constant byte goes in each of the 16 key bytes.
KEY_VARIANTS: dict[str, tuple] = {
    # emokit python (is_research=False), pyacq, and the key read from a real headset
    "consumer": (-1, 0x00, -2, "T", -3, 0x10, -4, "B", -1, 0x00, -2, "H", -3, 0x00, -4, "P"),
    # emokit python is_research=True (and emokit-c's EMOKIT_CONSUMER)
    "research_emokit": (-1, 0x00, -2, "H", -1, 0x00, -2, "T", -3, 0x10, -4, "B", -3, 0x00, -4, "P"),
    # emokit's protocol document and python-emotiv "consumer"
    "consumer_doc": (-1, 0x00, -2, "H", -3, 0x00, -4, "T", -1, 0x10, -2, "B", -3, 0x00, -4, "P"),
}

_BATTERY = {
    247: 99,
    246: 97,
    245: 93,
    244: 89,
    243: 85,
    242: 82,
    241: 77,
    240: 72,
    239: 66,
    238: 62,
    237: 55,
    236: 46,
    235: 32,
    234: 20,
    233: 12,
    232: 6,
    231: 4,
    230: 3,
    229: 2,
    228: 1,
    227: 1,
    226: 1,
}

# electrode whose contact quality a report carries, by counter (-1: none known)
_QUALITY_CHANNEL = np.full(128, -1, np.int64)
_QUALITY_CHANNEL[0:14] = np.arange(14)
_QUALITY_CHANNEL[14], _QUALITY_CHANNEL[15] = 10, 11  # F8, AF4
_QUALITY_CHANNEL[64:78] = np.arange(14)
_QUALITY_CHANNEL[78], _QUALITY_CHANNEL[79], _QUALITY_CHANNEL[80] = 10, 11, 12  # F8, AF4, FC6


class EmotivKeyError(ValueError):
    """The reports do not decrypt with the key (wrong serial or key variant)."""


def make_key(serial: str, variant: str = "consumer") -> bytes:
    """Return the 16-byte AES key for a dongle serial number.

    Parameters
    ----------
    serial : str
        The dongle's serial (16 characters, ``SN`` + 14 digits); only the last 4 are used.
    variant : str
        One of :data:`KEY_VARIANTS`.
    """
    if variant not in KEY_VARIANTS:
        raise ValueError(
            f"unknown Emotiv key variant {variant!r}; use one of {sorted(KEY_VARIANTS)}, 'auto', "
            "or give the 16 key bytes"
        )
    serial = str(serial)
    if len(serial) < 4 or not serial.isascii():
        raise ValueError(f"Emotiv serial {serial!r} is not a dongle serial number (e.g. 'SN20120526998912')")
    out = bytearray()
    for item in KEY_VARIANTS[variant]:
        if isinstance(item, str):
            out.append(ord(item))
        elif item < 0:
            out.append(ord(serial[item]))
        else:
            out.append(item)
    return bytes(out)


def _cipher(key: bytes):
    try:
        from Crypto.Cipher import AES
    except ImportError:
        raise ImportError("Emotiv decryption needs pycryptodome: pip install 'lslacq[devices]'") from None
    key = bytes(key)
    if len(key) != 16:
        raise ValueError(f"an Emotiv key is 16 bytes (AES-128); got {len(key)}")
    return AES.new(key, AES.MODE_ECB)


def decrypt(reports: bytes, key: bytes) -> np.ndarray:
    """Decrypt whole 32-byte reports (AES-128-ECB); return ``(n, 32)`` uint8."""
    reports = bytes(reports)
    if len(reports) % REPORT_SIZE:
        raise ValueError(f"{len(reports)} bytes is not a whole number of 32-byte Emotiv reports")
    plain = _cipher(key).decrypt(reports)
    return np.frombuffer(plain, np.uint8).reshape(-1, REPORT_SIZE)


def encrypt(packets: np.ndarray | bytes, key: bytes) -> bytes:
    """Encrypt decrypted packets (the emulator's side)."""
    return _cipher(key).encrypt(
        bytes(np.asarray(packets, np.uint8).tobytes() if isinstance(packets, np.ndarray) else packets)
    )


def normalize_report(report: bytes) -> bytes:
    """32 bytes from a report, dropping the leading report ID 0 that Windows HID APIs add (33 bytes)."""
    report = bytes(report)
    if len(report) == REPORT_SIZE + 1 and report[0] == 0:
        report = report[1:]
    if len(report) != REPORT_SIZE:
        raise ValueError(f"an Emotiv report is 32 bytes, got {len(report)}: {report[:8].hex()}...")
    return report


def battery_percent(value: int) -> int:
    """Battery charge in % from a battery report's byte 0 (128..255)."""
    value = int(value)
    if value >= 248:
        return 100
    return _BATTERY.get(value, 0)


def quality_channel(counter: int) -> int:
    """Index in :data:`CHANNEL_NAMES` of the electrode whose contact quality the report carries, -1 if none."""
    return int(_QUALITY_CHANNEL[counter]) if 0 <= counter < 128 else -1


# absolute (MSB-first) bit numbers of each value's bits, MSB first, for np.unpackbits
_EEG_BITS = np.array([[off + j for j in range(14)] for off in EEG_BIT_OFFSETS])
_EEG_WEIGHTS = (1 << np.arange(13, -1, -1)).astype(np.int64)
_QUALITY_BITS = np.array([(b // 8 + 1) * 8 + 7 - b % 8 for b in QUALITY_BITS])  # value bit i, LSB first
_QUALITY_WEIGHTS = (1 << np.arange(14)).astype(np.int64)


def _fields(p: np.ndarray) -> np.ndarray:
    """Return the 14 EEG fields of ``(n, 32)`` packets, uint16 ``(n, 14)``."""
    bits = np.unpackbits(p, axis=1)
    return (bits[:, _EEG_BITS].astype(np.int64) @ _EEG_WEIGHTS).astype(np.uint16)


def _quality(p: np.ndarray) -> np.ndarray:
    bits = np.unpackbits(p, axis=1)
    return bits[:, _QUALITY_BITS].astype(np.int64) @ _QUALITY_WEIGHTS


@dataclasses.dataclass
class DecodedPackets:
    """Fields of decrypted packets (see :func:`decode_packets`)."""

    counter: np.ndarray  # byte 0: 0..127 counter, >= 128 battery report
    eeg: np.ndarray  # (n, 14) uint16 raw fields
    quality: np.ndarray  # (n,) raw contact quality value
    gyro: np.ndarray  # (n, 2) int16: X = b29 - 106, Y = b30 - 105


def decode_packets(p: np.ndarray) -> DecodedPackets:
    """Decode ``(n, 32)`` decrypted packets (vectorised)."""
    p = np.asarray(p, np.uint8).reshape(-1, REPORT_SIZE)
    gyro = np.stack([p[:, 29].astype(np.int16) - GYRO_OFFSETS[0], p[:, 30].astype(np.int16) - GYRO_OFFSETS[1]], axis=1)
    return DecodedPackets(counter=p[:, 0].astype(np.int64), eeg=_fields(p), quality=_quality(p), gyro=gyro)


def encode_packet(counter: int, eeg, quality: int = 0, gyro=(0, 0)) -> bytes:
    """Build a decrypted packet (the emulator's side).

    ``quality`` value bits 3 and 4 share the wire with O1's two lowest bits:
    O1 is written last, so give a quality that agrees (see :func:`consistent_quality`).
    """
    eeg = [int(v) for v in eeg]
    if len(eeg) != 14 or any(not 0 <= v < 2**14 for v in eeg):
        raise ValueError("an Emotiv packet carries 14 EEG values of 0..16383")
    p = bytearray(REPORT_SIZE)
    p[0] = int(counter) & 0xFF
    for i, bit in enumerate(QUALITY_BITS):
        if (int(quality) >> i) & 1:
            p[bit // 8 + 1] |= 1 << (bit % 8)
    value = int.from_bytes(p, "big")
    for v, off in zip(eeg, EEG_BIT_OFFSETS, strict=True):
        shift = 256 - off - 14
        value = (value & ~(0x3FFF << shift)) | (v << shift)
    p = bytearray(value.to_bytes(REPORT_SIZE, "big"))
    p[29] = (int(gyro[0]) + GYRO_OFFSETS[0]) & 0xFF
    p[30] = (int(gyro[1]) + GYRO_OFFSETS[1]) & 0xFF
    return bytes(p)


def consistent_quality(quality: int, o1: int) -> int:
    """``quality`` with its bits 3 and 4 replaced by O1's bits 0 and 1 (they are the same bits on the wire)."""
    return (int(quality) & ~0b11000) | ((int(o1) & 1) << 3) | (((int(o1) >> 1) & 1) << 4)


def _phase(counter: np.ndarray) -> np.ndarray:
    """Position in the 129-report cycle: the counter, 128 for the battery report."""
    return np.where(counter >= 128, 128, counter)


def _continuity(counter: np.ndarray) -> int:
    """How many consecutive pairs follow each other in the 0..127, battery cycle."""
    phase = _phase(counter)
    return int(np.sum((np.diff(phase) % 129) == 1))


def detect_key(reports: bytes, serial: str, variants=None) -> str:
    """Find the key variant under which ``reports`` (several consecutive reports) have a continuous counter.

    Raises
    ------
    EmotivKeyError
        If no variant gives a counter that follows 0..127 (at most one break allowed).
    """
    n = len(reports) // REPORT_SIZE
    if n < 3:
        raise ValueError("key detection needs at least 3 consecutive reports")
    scores = {}
    for variant in variants or KEY_VARIANTS:
        counter = decrypt(reports, make_key(serial, variant))[:, 0].astype(np.int64)
        scores[variant] = _continuity(counter)
    best = max(scores, key=scores.get)
    if scores[best] < n - 2:
        raise EmotivKeyError(
            f"none of the Emotiv key variants {sorted(scores)} decrypts the reports of the dongle with serial "
            f"{serial!r} (counter continuity {scores} of {n - 1}). Is it an original EPOC (EPOC+ uses other keys)? "
            "Check the serial, or give the 16 key bytes as key="
        )
    return best


@dataclasses.dataclass
class EmotivChunk:
    """Samples decoded by one :meth:`EmotivDecoder.feed` call (one row per report).

    Attributes
    ----------
    eeg : ndarray, float32, (n, 14)
        ``(field - 8192) * 0.51`` microvolts.
    raw : ndarray, uint16, (n, 14)
        The 14-bit fields.
    quality : ndarray, float32, (n, 14)
        Contact quality per electrode (raw value; ~540 per 0.1 of emokit's old 0..1 scale... see docs),
        each holding its last value; NaN until known.
    gyro : ndarray, float32, (n, 2)
    battery : ndarray, float32, (n, 1)
        Battery %, holding the last battery report; NaN until the first.
    positions : ndarray, int64, (n,)
        Report positions since the start, lost reports being gaps.
    counter : ndarray, int64, (n,)
    lost_packets : int
    """

    eeg: np.ndarray
    raw: np.ndarray
    quality: np.ndarray
    gyro: np.ndarray
    battery: np.ndarray
    positions: np.ndarray
    counter: np.ndarray
    lost_packets: int = 0

    def __len__(self) -> int:
        return len(self.positions)

    def segments(self):
        """Yield ``(start, stop)`` row ranges with contiguous positions."""
        return contiguous_runs(self.positions)


class EmotivDecoder:
    """Decrypts and decodes reports, counts lost ones, holds battery and contact quality.

    Parameters
    ----------
    serial : str
        The dongle's serial number.
    key : str or bytes
        A variant name (:data:`KEY_VARIANTS`, default ``'consumer'``), ``'auto'``
        (detected from the first :attr:`check_reports` reports), or 16 key bytes.
    check_reports : int
        Reports checked (counter continuity) before decoding starts; a key
        that does not decrypt them raises :class:`EmotivKeyError`.

    Attributes
    ----------
    variant : str or None
        The key variant in use (None for raw key bytes, or before auto-detection).
    """

    def __init__(self, serial: str, key: str | bytes = "consumer", check_reports: int = 8):
        self.serial = str(serial)
        self.check_reports = max(3, int(check_reports))
        if isinstance(key, (bytes, bytearray)):
            self.key, self.variant = bytes(key), None
            _cipher(self.key)
        elif key == "auto":
            self.key, self.variant = None, None
        else:
            self.key, self.variant = make_key(self.serial, key), str(key)
        self._requested = key
        self._aes = None
        self._pending = bytearray()
        self._checked = False
        self._last_phase: int | None = None
        self._last_pos = -1
        self._quality = np.full(14, np.nan, np.float32)
        self._battery = np.float32(np.nan)
        self.packets = self.lost_packets = 0

    def feed(self, reports) -> EmotivChunk:
        """Decode reports: ``bytes`` (n * 32) or a sequence of 32/33-byte reports."""
        if isinstance(reports, (bytes, bytearray, memoryview)):
            data = bytes(reports)
            if len(data) % REPORT_SIZE:
                raise ValueError(f"{len(data)} bytes is not a whole number of 32-byte Emotiv reports")
        else:
            data = b"".join(normalize_report(r) for r in reports)
        if not self._checked:
            self._pending += data
            if len(self._pending) < self.check_reports * REPORT_SIZE:
                return self._empty()
            data, self._pending = bytes(self._pending), bytearray()
            self._check(data)
        if not data:
            return self._empty()
        if self._aes is None:
            self._aes = _cipher(self.key)  # one cipher object for the run (creating one costs more than decrypting)
        return self._decode(np.frombuffer(self._aes.decrypt(data), np.uint8).reshape(-1, REPORT_SIZE))

    def _check(self, data: bytes) -> None:
        if self.key is None:
            self.variant = detect_key(data, self.serial)
            self.key = make_key(self.serial, self.variant)
        else:
            counter = decrypt(data, self.key)[:, 0].astype(np.int64)
            n = len(counter)
            if _continuity(counter) < n - 2:
                try:
                    hint = f"; key variant {detect_key(data, self.serial)!r} works: configure key='auto' or that"
                except EmotivKeyError:
                    hint = "; no known key variant works either: check the serial or give the key bytes"
                what = f"key variant {self.variant!r}" if self.variant else "the given key"
                raise EmotivKeyError(
                    f"the Emotiv reports do not decrypt with {what} for serial {self.serial!r} "
                    f"(the counter is random, not 0..127){hint}"
                )
        self._checked = True

    def _empty(self) -> EmotivChunk:
        z = np.zeros
        return EmotivChunk(
            eeg=z((0, 14), np.float32),
            raw=z((0, 14), np.uint16),
            quality=z((0, 14), np.float32),
            gyro=z((0, 2), np.float32),
            battery=z((0, 1), np.float32),
            positions=z(0, np.int64),
            counter=z(0, np.int64),
        )

    def _decode(self, p: np.ndarray) -> EmotivChunk:
        k = len(p)
        if not k:
            return self._empty()
        d = decode_packets(p)
        self.packets += k
        phase = _phase(d.counter)
        prev = phase[:1] - 1 if self._last_phase is None else np.array([self._last_phase])
        steps = np.diff(np.concatenate([prev, phase])) % 129
        steps[steps == 0] = 129
        lost = int(np.sum(steps - 1))
        self.lost_packets += lost
        positions = self._last_pos + np.cumsum(steps)
        self._last_phase, self._last_pos = int(phase[-1]), int(positions[-1])
        # battery (held)
        battery = np.empty((k, 1), np.float32)
        level = self._battery
        for i in range(k):  # 128 Hz: a Python loop is fine, and battery reports are 1 in 129
            if d.counter[i] >= 128:
                level = np.float32(battery_percent(d.counter[i]))
            battery[i, 0] = level
        self._battery = level
        # contact quality (held per electrode)
        quality = np.empty((k, 14), np.float32)
        held = self._quality.copy()
        for i in range(k):
            ch = quality_channel(int(d.counter[i]))
            if ch >= 0:
                held[ch] = d.quality[i]
            quality[i] = held
        self._quality = held
        eeg = (d.eeg.astype(np.float32) - EEG_OFFSET) * np.float32(MICROVOLTS_PER_COUNT)
        return EmotivChunk(
            eeg=eeg,
            raw=d.eeg,
            quality=quality,
            gyro=d.gyro.astype(np.float32),
            battery=battery,
            positions=positions,
            counter=d.counter,
            lost_packets=lost,
        )
