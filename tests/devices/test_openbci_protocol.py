"""The pure OpenBCI decoder: counts, scaling, footers, resynchronisation, lost packets, Daisy pairing."""

from __future__ import annotations

import numpy as np
import pytest

from lslacq.devices.openbci.protocol import (
    ACCEL_SCALE,
    CytonDecoder,
    decode_counts,
    encode_packet,
    microvolts_per_count,
    parse_channel_reply,
)

UV24 = 4.5 / 24 / (2**23 - 1) * 1e6


def _packets(numbers, counts=lambda n: np.arange(1, 9) * 1000 + n, aux=lambda n: b"\0" * 6, footer=lambda n: 0xC0):
    return [encode_packet(n, counts(n), aux(n), footer(n)) for n in numbers]


def test_sign_edge_cases_give_exact_microvolts():
    edges = [0x7FFFFF, 0x800000, 0xFFFFFF, 0x000000, 0x000001, 0x7F0000, 0x80FFFF, 0x123456]
    expected = np.array([8388607, -8388608, -1, 0, 1, 0x7F0000, 0x80FFFF - 2**24, 0x123456])
    raw = np.array([[(v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF] for v in edges], np.uint8)
    np.testing.assert_array_equal(decode_counts(raw), expected)
    # the same values on the wire (two packets + the next header confirming the second)
    packet = bytes([0xA0, 7]) + raw.tobytes() + b"\0" * 6 + b"\xc0"
    decoder = CytonDecoder()
    chunk = decoder.feed(packet + packet[:1])
    np.testing.assert_array_equal(chunk.counts[0], expected)
    assert chunk.microvolts.dtype == np.float32
    np.testing.assert_array_equal(chunk.microvolts[0], (expected * np.float32(UV24)).astype(np.float32))
    assert chunk.microvolts[0, 0] == pytest.approx(187500.0, rel=1e-6)  # full scale: 4.5 V / 24
    assert chunk.microvolts[0, 1] == pytest.approx(-187500.0 * 8388608 / 8388607, rel=1e-6)


def test_scale_per_gain_and_bad_gain():
    assert microvolts_per_count(24) == pytest.approx(0.0223517, rel=1e-5)
    assert microvolts_per_count(1) == pytest.approx(24 * 0.0223517, rel=1e-5)
    decoder = CytonDecoder(gain=12)
    chunk = decoder.feed(b"".join(_packets([0, 1], counts=lambda n: [1000] * 8)))
    assert chunk.microvolts[0, 0] == pytest.approx(1000 * 4.5 / 12 / (2**23 - 1) * 1e6, rel=1e-6)
    with pytest.raises(ValueError, match=r"gain 5 is not an ADS1299 gain; use one of \(1, 2, 4, 6, 8, 12, 24\)"):
        CytonDecoder(gain=5)


def test_any_split_of_the_bytes_gives_the_same_samples():
    stream = b"".join(_packets(range(20)))
    whole = CytonDecoder().feed(stream)
    assert len(whole) == 19  # the last packet waits for the next header
    bytewise = CytonDecoder()
    parts = [bytewise.feed(stream[i : i + 1]) for i in range(len(stream))]
    np.testing.assert_array_equal(np.concatenate([p.counts for p in parts]), whole.counts)
    np.testing.assert_array_equal(whole.positions, np.arange(19))
    np.testing.assert_array_equal(whole.counts[:, 0], 1000 + np.arange(19))


@pytest.mark.parametrize("footer", range(0xC0, 0xC7))
def test_every_footer_is_a_packet(footer):
    chunk = CytonDecoder().feed(b"".join(_packets(range(11), footer=lambda n: footer)))
    assert len(chunk) == 10 and chunk.garbage_bytes == 0 and chunk.lost_packets == 0
    assert set(chunk.footers.tolist()) == {footer}


def test_accelerometer_c0_is_held_between_values():
    def aux(n):
        return (np.array([n + 1, -(n + 1), 8000]) & 0xFFFF).astype(">u2").tobytes() if n % 10 == 0 else b"\0" * 6

    decoder = CytonDecoder()
    first = decoder.feed(b"".join(_packets(range(15), aux=aux)))
    np.testing.assert_array_equal(first.accel[0], np.float32([1, -1, 8000]) * np.float32(ACCEL_SCALE))
    np.testing.assert_array_equal(first.accel[9], first.accel[0])  # held
    np.testing.assert_allclose(first.accel[10], np.array([11, -11, 8000]) * ACCEL_SCALE, rtol=1e-6)
    later = decoder.feed(b"".join(_packets(range(15, 18), aux=aux)))  # held across calls too
    np.testing.assert_array_equal(later.accel[0], first.accel[-1])


def test_timestamped_footers_interleave_the_accelerometer_and_carry_board_time():
    accel = {0: 300, 1: -2, 2: 8000}

    def aux(n):
        if n < 6:
            axis, low = divmod(n, 2)
            value = accel[axis] & 0xFFFF
            head = bytes([b"XYZ"[axis] + 32 * low, value & 0xFF if low else value >> 8])
        else:
            head = b"\0\0"
        return head + (1000 + 4 * n).to_bytes(4, "big")

    chunk = CytonDecoder().feed(b"".join(_packets(range(9), aux=aux, footer=lambda n: 0xC4 if n else 0xC3)))
    np.testing.assert_array_equal(chunk.board_time_ms, 1000 + 4 * np.arange(8))
    assert np.isnan(chunk.accel[0]).all()  # only the high byte of X so far
    np.testing.assert_allclose(chunk.accel[5], np.array([300, -2, 8000]) * ACCEL_SCALE, rtol=1e-6)
    assert chunk.accel[1, 0] == pytest.approx(300 * ACCEL_SCALE) and np.isnan(chunk.accel[1, 1])


def test_raw_aux_footers_keep_the_bytes():
    chunk = CytonDecoder().feed(
        b"".join(_packets(range(3), aux=lambda n: bytes([n, 1, 2, 3, 4, 5]), footer=lambda n: 0xC1))
    )
    np.testing.assert_array_equal(chunk.aux_bytes[1], [1, 1, 2, 3, 4, 5])
    assert (chunk.board_time_ms == -1).all() and np.isnan(chunk.accel).all()


def test_resynchronises_after_garbage_and_torn_packets_and_counts_lost_ones():
    packets = _packets(range(30))
    garbage = bytes([0xA0, 0x11, 0xC0, 0xA0]) + b"\xa0" * 40 + b"\xc0" * 3  # looks like packet bytes
    stream = (
        b"junk"
        + b"".join(packets[:5])
        + garbage
        + b"".join(packets[5:10])
        + packets[10][:17]
        + b"".join(packets[11:20])
        + b"".join(packets[22:30])
    )
    decoder = CytonDecoder()
    chunks = [decoder.feed(stream[i : i + 50]) for i in range(0, len(stream), 50)]
    numbers = np.concatenate([c.sample_numbers for c in chunks]).astype(int)
    np.testing.assert_array_equal(numbers, [*range(10), *range(11, 20), *range(22, 29)])
    counts = np.concatenate([c.counts for c in chunks])
    np.testing.assert_array_equal(counts[:, 3], 4000 + numbers)  # every kept sample is intact
    assert decoder.lost_packets == 3  # 10 (torn), 20 and 21 (dropped)
    assert decoder.garbage_bytes == 4 + len(garbage) + 17
    positions = np.concatenate([c.positions for c in chunks])
    np.testing.assert_array_equal(positions, numbers)  # lost packets are gaps


def test_counter_wraps_without_loss():
    chunk = CytonDecoder().feed(b"".join(_packets(range(250, 270))))
    assert chunk.lost_packets == 0
    np.testing.assert_array_equal(chunk.positions, np.arange(19))


def _daisy_counts(n):
    values = np.arange(1, 9) * 1000 + n
    return values if n % 2 else -values


def test_daisy_pairs_even_with_the_next_odd_packet():
    decoder = CytonDecoder(daisy=True)
    stream = b"".join(_packets(range(41), counts=_daisy_counts))
    chunks = [decoder.feed(stream[i : i + 100]) for i in range(0, len(stream), 100)]  # pairs cut across calls
    counts = np.concatenate([c.counts for c in chunks])
    assert counts.shape == (20, 16)
    np.testing.assert_array_equal(counts[:, 0], 1000 + np.arange(1, 40, 2))  # board: odd packets
    np.testing.assert_array_equal(counts[:, 8], -(1000 + np.arange(0, 40, 2)))  # Daisy: the even one before
    np.testing.assert_array_equal(np.concatenate([c.positions for c in chunks]), np.arange(20))
    assert decoder.unpaired_packets == 0


def test_daisy_drops_unpaired_packets():
    numbers = [1, 2, 3, 4, 6, 7, 8, 10, 11]  # starts odd; 5 and 9 lost
    chunk = CytonDecoder(daisy=True).feed(b"".join(_packets([*numbers, 12], counts=_daisy_counts)))
    np.testing.assert_array_equal(chunk.counts[:, 0], [1003, 1007, 1011])
    np.testing.assert_array_equal(chunk.counts[:, 8], [-1002, -1006, -1010])
    assert chunk.unpaired_packets == 3  # 1 (no Daisy packet before it), 4 and 8 (board packet lost)
    assert chunk.lost_packets == 2
    np.testing.assert_array_equal(chunk.positions, [1, 3, 5])


def test_channel_replies():
    assert parse_channel_reply(b"16$$$") == 16
    assert parse_channel_reply(b"daisy attached16$$$") == 16
    assert parse_channel_reply(b"no daisy to attach!8$$$") == 8
    assert parse_channel_reply(b"daisy removed$$$") == 8
    assert parse_channel_reply(b"") is None


def test_encode_rejects_bad_values():
    with pytest.raises(ValueError, match="24 bits"):
        encode_packet(0, [2**23] + [0] * 7)
    with pytest.raises(ValueError, match="8 channels"):
        encode_packet(0, [0] * 7)


def test_the_older_module_paths_give_the_same_objects():
    import lslacq.devices.emulators.openbci as old_emulator
    import lslacq.devices.openbci as package
    import lslacq.devices.openbci.emulator as emulator
    import lslacq.devices.openbci.protocol as protocol
    import lslacq.devices.openbci_protocol as old_protocol

    assert old_protocol.CytonDecoder is protocol.CytonDecoder is package.CytonDecoder
    assert set(old_protocol.__all__) == set(protocol.__all__) <= set(dir(old_protocol))
    assert old_emulator.CytonEmulator is emulator.CytonEmulator is package.CytonEmulator
    assert set(old_emulator.__all__) == set(emulator.__all__) <= set(dir(old_emulator))
