"""OpenBCI Cyton and Cyton+Daisy binary protocol: pure, vectorised decoding (no I/O).

A Cyton streams 33-byte packets (OpenBCI "Cyton Data Format")::

    byte 0       0xA0 header
    byte 1       sample number, 0..255, wrapping
    bytes 2-25   8 channels, 24-bit signed, MSB first
    bytes 26-31  6 aux bytes, meaning given by the footer
    byte 32      footer 0xCX: C0 accel X/Y/Z int16; C1/C2 raw aux; C3/C4 time-stamped
                 with one accel byte (code 'X','x','Y','y','Z','z' + value) and a uint32 board time
                 in ms; C5/C6 time-stamped with raw aux

:class:`CytonDecoder` turns any stream of bytes (whatever the read sizes) into
samples in microvolts, many packets per numpy call so it keeps up with the
board's fastest mode (16 kHz over WiFi). It resynchronises after garbage or a
torn packet (a packet is accepted only when its header, its footer and the
next packet's header line up), counts the packets missing from the sample
counter, and with a Daisy pairs each even (Daisy, channels 9-16) packet with
the following odd (board, channels 1-8) packet, dropping unpaired ones.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from ..segments import contiguous_runs

__all__ = [
    "PACKET_SIZE",
    "HEADER",
    "GAINS",
    "ACCEL_SCALE",
    "microvolts_per_count",
    "decode_counts",
    "encode_packet",
    "CytonChunk",
    "CytonDecoder",
    "parse_channel_reply",
]

PACKET_SIZE = 33
HEADER = 0xA0
#: ADS1299 programmable gains (the ``x`` command's gain codes 0..6).
GAINS = (1, 2, 4, 6, 8, 12, 24)
#: g per accelerometer count (LIS3DH at +-4 g: 2 mg per digit, left-justified 12 bits).
ACCEL_SCALE = 0.002 / 2**4
_ACCEL_CODES = {
    ord("X"): (0, 0),
    ord("x"): (0, 1),
    ord("Y"): (1, 0),
    ord("y"): (1, 1),
    ord("Z"): (2, 0),
    ord("z"): (2, 1),
}


def microvolts_per_count(gain: float = 24) -> float:
    """Scale factor of the ADS1299: ``4.5 V / gain / (2**23 - 1)``, in microvolts per count.

    Parameters
    ----------
    gain : float
        Programmable gain of the channel: one of 1, 2, 4, 6, 8, 12, 24 (the
        board's default is 24, i.e. 0.02235 uV per count).
    """
    try:
        gain_value = float(gain)
    except (TypeError, ValueError):
        gain_value = float("nan")
    if gain_value not in GAINS:
        raise ValueError(f"OpenBCI gain {gain!r} is not an ADS1299 gain; use one of {GAINS}")
    return 4.5 / gain_value / (2**23 - 1) * 1e6


def decode_counts(raw: np.ndarray) -> np.ndarray:
    """24-bit big-endian two's-complement values to int32.

    Parameters
    ----------
    raw : ndarray of uint8, shape (..., 3)
    """
    raw = raw.astype(np.int32)
    value = (raw[..., 0] << 16) | (raw[..., 1] << 8) | raw[..., 2]
    return (value ^ 0x800000) - 0x800000


def encode_packet(sample_number: int, counts, aux: bytes = b"\x00" * 6, footer: int = 0xC0) -> bytes:
    """Build one 33-byte packet (used by the emulator and the tests).

    Parameters
    ----------
    sample_number : int
        Packet counter; taken modulo 256.
    counts : sequence of 8 ints
        Channel values, -2**23 .. 2**23 - 1 (two's complement on the wire).
    aux : bytes
        The 6 aux bytes.
    footer : int
        0xC0 .. 0xCF.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.shape != (8,):
        raise ValueError(f"an OpenBCI packet carries 8 channels; got counts of shape {counts.shape}")
    if np.any(counts < -(2**23)) or np.any(counts >= 2**23):
        raise ValueError("OpenBCI counts must fit in 24 bits signed (-8388608 .. 8388607)")
    if len(aux) != 6 or (footer & 0xF0) != 0xC0:
        raise ValueError("an OpenBCI packet needs 6 aux bytes and a footer 0xC0..0xCF")
    u = counts & 0xFFFFFF
    body = np.stack([(u >> 16) & 0xFF, (u >> 8) & 0xFF, u & 0xFF], axis=1).astype(np.uint8).tobytes()
    return bytes([HEADER, sample_number % 256]) + body + bytes(aux) + bytes([footer])


@dataclasses.dataclass
class CytonChunk:
    """Samples decoded by one :meth:`CytonDecoder.feed` call.

    Attributes
    ----------
    counts : ndarray, int32, (n, n_channels)
        Raw ADC counts (8 channels, or 16 with a Daisy: board 1-8 then Daisy 9-16).
    microvolts : ndarray, float32, (n, n_channels)
        ``counts * microvolts_per_count(gain)``.
    accel : ndarray, float32, (n, 3)
        Accelerometer X, Y, Z in g, holding the last value received (the
        board sends it at ~25 Hz); NaN until the first value.
    positions : ndarray, int64, (n,)
        Sample positions since the decoder started, counting missing packets
        (so a lost packet is a gap). With a Daisy, one position per pair.
    sample_numbers : ndarray, uint8, (n,)
        The board's packet counter (of the board packet, with a Daisy).
    footers : ndarray, uint8, (n,)
    aux_bytes : ndarray, uint8, (n, 6)
        The raw aux bytes (user-defined data with footers C1, C2, C5, C6).
    board_time_ms : ndarray, int64, (n,)
        Board time in ms with footers C3-C6, -1 otherwise.
    lost_packets, garbage_bytes, unpaired_packets : int
        What this call found missing, skipped or could not pair.
    """

    counts: np.ndarray
    microvolts: np.ndarray
    accel: np.ndarray
    positions: np.ndarray
    sample_numbers: np.ndarray
    footers: np.ndarray
    aux_bytes: np.ndarray
    board_time_ms: np.ndarray
    lost_packets: int = 0
    garbage_bytes: int = 0
    unpaired_packets: int = 0

    def __len__(self) -> int:
        return len(self.positions)

    def segments(self):
        """Yield ``(start, stop)`` row ranges with contiguous positions (split at lost samples)."""
        return contiguous_runs(self.positions)


class CytonDecoder:
    """Incremental decoder of a Cyton (8 channels) or Cyton+Daisy (16 channels) byte stream.

    Parameters
    ----------
    daisy : bool
        True when the board streams 16 channels (a Daisy is attached and ``C`` was sent).
    gain : float
        ADS1299 gain of the channels (24 after ``v`` or ``d``), for the scale to microvolts.

    Attributes
    ----------
    packets, lost_packets, garbage_bytes, unpaired_packets, samples : int
        Totals since construction (or :meth:`reset`).
    """

    def __init__(self, daisy: bool = False, gain: float = 24):
        self.daisy = bool(daisy)
        self.n_channels = 16 if self.daisy else 8
        self.gain = gain
        self.scale = np.float32(microvolts_per_count(gain))
        self.reset()

    def reset(self) -> None:
        """Forget buffered bytes, counters and held values (a new stream)."""
        self._tail = np.zeros(0, np.uint8)
        self._last_seq: int | None = None
        self._in_sync = False
        self._last_pos = -1
        self._accel = np.full(3, np.nan, np.float32)
        self._accel_hi = [None, None, None]
        self._pending: dict | None = None  # a Daisy (even) packet waiting for its board packet
        self.packets = self.lost_packets = self.garbage_bytes = self.unpaired_packets = self.samples = 0

    # -- framing ------------------------------------------------------------------
    def _frame(self, buf: np.ndarray) -> tuple[np.ndarray, int, int]:
        """Return (packet start offsets, bytes consumed, garbage bytes skipped).

        A packet is accepted when its header and footer are right and the
        next packet's header follows it. Right after an accepted packet (in
        sync), a packet whose counter follows the last one is also accepted
        when garbage follows it, provided no confirmed packet starts inside
        it (which would mean it is torn).
        """
        m = len(buf) - PACKET_SIZE  # a start p is decidable when byte p + 33 (next header) is known
        if m <= 0:
            return np.zeros(0, np.intp), 0, 0
        ok = (buf[:m] == HEADER) & ((buf[32 : 32 + m] & 0xF0) == 0xC0) & (buf[33 : 33 + m] == HEADER)
        runs = []
        pos = garbage = 0
        prev_seq = self._last_seq
        in_sync = self._in_sync
        resynced = False
        while pos < m:
            run = ok[pos::PACKET_SIZE]
            bad = np.flatnonzero(~run)
            length = int(bad[0]) if len(bad) else len(run)
            if resynced and length >= 2 and prev_seq is not None:
                # garbage that happens to frame as a packet just before a real one: its counter does not
                # follow the last packet's, and the next packet's does
                if (int(buf[pos + 1]) - prev_seq) % 256 != 1 and 1 <= (int(buf[pos + 34]) - prev_seq) % 256 <= 2:
                    garbage += PACKET_SIZE
                    pos += PACKET_SIZE
                    length -= 1
            resynced = False
            if length:
                runs.append(pos + PACKET_SIZE * np.arange(length))
                pos += PACKET_SIZE * length
                prev_seq = int(buf[pos - PACKET_SIZE + 1])
                in_sync = True
            if pos >= m:
                break
            if (
                in_sync
                and prev_seq is not None
                and buf[pos] == HEADER
                and (buf[pos + 32] & 0xF0) == 0xC0
                and 1 <= (int(buf[pos + 1]) - prev_seq) % 256 <= 16
            ):
                if pos + PACKET_SIZE > m:
                    break  # decide when the bytes after it are known
                if not self._starts_inside(buf, pos, ok):  # followed by garbage, not torn
                    runs.append(np.array([pos]))
                    prev_seq = int(buf[pos + 1])
                    pos += PACKET_SIZE
                    continue
            following = np.flatnonzero(ok[pos + 1 :])
            skip = int(following[0]) + 1 if len(following) else m - pos
            if in_sync and prev_seq is not None:
                # inside the garbage, a packet whose counter follows the last one (itself followed by garbage)
                # is looked at by the in-sync test above rather than skipped with the garbage
                inner = np.arange(pos + 1, min(pos + skip, m))
                step = (buf[inner + 1].astype(np.int64) - prev_seq) % 256
                hits = np.flatnonzero(
                    (buf[inner] == HEADER) & ((buf[inner + 32] & 0xF0) == 0xC0) & (step >= 1) & (step <= 16)
                )
                if len(hits):
                    skip = int(inner[hits[0]]) - pos
                    garbage += skip
                    pos += skip
                    continue
            garbage += skip
            pos += skip
            if len(following):  # resynchronised on a confirmed packet (else the rest is not decidable yet)
                resynced = True
                in_sync = False
        self._in_sync = in_sync
        starts = np.concatenate(runs) if runs else np.zeros(0, np.intp)
        return starts, pos, garbage

    @staticmethod
    def _starts_inside(buf: np.ndarray, pos: int, ok: np.ndarray) -> bool:
        """Tell whether a packet seems to start inside the one at ``pos`` (which is then torn)."""
        if ok[pos + 1 : pos + PACKET_SIZE].any():
            return True
        inner = np.arange(pos + 1, pos + PACKET_SIZE)
        seq = int(buf[pos + 1])
        looks = (buf[inner] == HEADER) & ((buf[inner + 32] & 0xF0) == 0xC0) & (buf[inner + 1] == (seq + 1) % 256)
        return bool(looks.any())

    # -- decoding -----------------------------------------------------------------
    def feed(self, data: bytes | bytearray | memoryview | np.ndarray) -> CytonChunk:
        """Decode the packets completed by ``data``; keep the rest for the next call.

        A packet is emitted once the first byte of the next one has arrived
        (that byte confirms the packet's boundaries), so the latency is one
        packet period.
        """
        new = np.frombuffer(data, np.uint8) if not isinstance(data, np.ndarray) else data.astype(np.uint8, copy=False)
        buf = np.concatenate([self._tail, new]) if len(self._tail) else new
        starts, consumed, garbage = self._frame(buf)
        self._tail = buf[consumed:].copy()
        self.garbage_bytes += garbage
        packets = buf[starts[:, None] + np.arange(PACKET_SIZE)] if len(starts) else np.zeros((0, PACKET_SIZE), np.uint8)
        chunk = self._decode(packets)
        chunk.garbage_bytes = garbage
        return chunk

    def _decode(self, p: np.ndarray) -> CytonChunk:
        k = len(p)
        self.packets += k
        counts = decode_counts(p[:, 2:26].reshape(k, 8, 3))
        seq = p[:, 1].astype(np.int64)
        footers = p[:, 32]
        # positions from the counter: a step of d means d - 1 packets were lost (0 = a repeat, taken as 255 lost)
        prev = seq[:1] - 1 if self._last_seq is None else np.array([self._last_seq])
        steps = np.diff(np.concatenate([prev, seq])) % 256 if k else np.zeros(0, np.int64)
        steps[steps == 0] = 256
        lost = int(np.sum(steps - 1))
        self.lost_packets += lost
        positions = self._last_pos + np.cumsum(steps)
        if k:
            self._last_seq = int(seq[-1])
            self._last_pos = int(positions[-1])
        accel = self._accel_held(p, footers)
        board_time = np.full(k, -1, np.int64)
        timed = (footers >= 0xC3) & (footers <= 0xC6)
        if timed.any():
            t = p[timed, 28:32].astype(np.int64)
            board_time[timed] = (t[:, 0] << 24) | (t[:, 1] << 16) | (t[:, 2] << 8) | t[:, 3]
        aux = p[:, 26:32]
        unpaired = 0
        if self.daisy:
            counts, accel, positions, seq, footers, aux, board_time, unpaired = self._pair(
                counts, accel, positions, seq, footers, aux, board_time
            )
        self.samples += len(positions)
        return CytonChunk(
            counts=counts,
            microvolts=counts.astype(np.float32) * self.scale,
            accel=accel,
            positions=positions,
            sample_numbers=seq.astype(np.uint8),
            footers=footers,
            aux_bytes=aux,
            board_time_ms=board_time,
            lost_packets=lost,
            unpaired_packets=unpaired,
        )

    def _accel_held(self, p: np.ndarray, footers: np.ndarray) -> np.ndarray:
        """Accelerometer per packet in g, each axis holding its last value."""
        k = len(p)
        held = np.repeat(self._accel[None, :], k, axis=0)
        c0 = footers == 0xC0
        c0_rows = np.flatnonzero(c0 & p[:, 26:32].any(axis=1))  # all zeros: no value in this packet
        timed_rows = np.flatnonzero((footers == 0xC3) | (footers == 0xC4))
        if not (len(c0_rows) or len(timed_rows)):
            return held
        events = []  # (row, axes, values in g), applied in row order: each holds until the next
        if len(c0_rows):
            raw = p[c0_rows, 26:32].astype(np.int32)
            values = (raw[:, 0::2] << 8) | raw[:, 1::2]  # int16 BE per axis
            values -= (values >= 0x8000) * 0x10000
            events += [(int(r), slice(None), v) for r, v in zip(c0_rows, values * np.float32(ACCEL_SCALE), strict=True)]
        for row in timed_rows:  # one accel byte per packet: 'X' high byte, 'x' low byte...
            code = _ACCEL_CODES.get(int(p[row, 26]))
            if code is None:
                continue
            axis, low = code
            if not low:
                self._accel_hi[axis] = int(p[row, 27])
            elif self._accel_hi[axis] is not None:
                value = (self._accel_hi[axis] << 8) | int(p[row, 27])
                events.append(
                    (int(row), axis, np.float32((value - 0x10000 if value >= 0x8000 else value) * ACCEL_SCALE))
                )
                self._accel_hi[axis] = None
        for row, axes, values in sorted(events, key=lambda e: e[0]):
            held[row:, axes] = values
        self._accel = held[-1].copy()
        return held

    def _pair(self, counts, accel, positions, seq, footers, aux, board_time):
        """Pair each even (Daisy) packet with the next odd (board) packet numbered one more."""
        if self._pending is not None:  # the Daisy packet left over from the previous call
            pend = self._pending
            counts = np.concatenate([pend["counts"], counts])
            accel = np.concatenate([pend["accel"], accel])
            positions = np.concatenate([pend["positions"], positions])
            seq = np.concatenate([pend["seq"], seq])
            footers = np.concatenate([pend["footers"], footers])
            aux = np.concatenate([pend["aux"], aux])
            board_time = np.concatenate([pend["board_time"], board_time])
            self._pending = None
        k = len(seq)
        if k and seq[-1] % 2 == 0:  # may pair with the next call's first packet
            self._pending = dict(
                counts=counts[-1:],
                accel=accel[-1:],
                positions=positions[-1:],
                seq=seq[-1:],
                footers=footers[-1:],
                aux=aux[-1:],
                board_time=board_time[-1:],
            )
            considered = k - 1
        else:
            considered = k
        if k >= 2:
            d = np.flatnonzero(
                (seq[:-1] % 2 == 0) & (seq[1:] == (seq[:-1] + 1) % 256) & (positions[1:] == positions[:-1] + 1)
            )
        else:
            d = np.zeros(0, np.intp)
        b = d + 1
        unpaired = considered - 2 * len(d)
        self.unpaired_packets += unpaired
        paired = np.concatenate([counts[b], counts[d]], axis=1)
        return (paired, accel[b], positions[b] // 2, seq[b], footers[b], aux[b], board_time[b], unpaired)


_REPLY_CHANNELS = re.compile(rb"(8|16)\$\$\$")


def parse_channel_reply(reply: bytes) -> int | None:
    """Return the number of channels from the board's reply to ``C`` (or ``c``), None if it says nothing.

    ``16$$$`` / ``daisy attached16$$$`` -> 16, ``no daisy to attach!8$$$`` -> 8,
    ``daisy removed$$$`` -> 8.
    """
    if b"daisy removed" in reply:
        return 8
    match = _REPLY_CHANNELS.search(reply)
    return int(match.group(1)) if match else None
