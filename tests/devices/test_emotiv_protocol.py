"""The pure Emotiv code: keys, AES-128-ECB, 14-bit fields, battery, quality, key detection, lost reports."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("Crypto")

from lslacq.devices.emotiv.protocol import (  # noqa: E402
    CHANNEL_NAMES,
    EmotivDecoder,
    EmotivKeyError,
    battery_percent,
    consistent_quality,
    decode_packets,
    decrypt,
    detect_key,
    encode_packet,
    encrypt,
    make_key,
    normalize_report,
    quality_channel,
)

SERIAL = "SN20120526998912"


def test_key_variants_for_a_known_serial():
    assert make_key(SERIAL, "consumer").hex(" ") == "32 00 31 54 39 10 38 42 32 00 31 48 39 00 38 50"
    assert make_key(SERIAL, "research_emokit").hex(" ") == "32 00 31 48 32 00 31 54 39 10 38 42 39 00 38 50"
    assert make_key(SERIAL, "consumer_doc").hex(" ") == "32 00 31 48 39 00 38 54 32 10 31 42 39 00 38 50"
    # the key Daeken read from a real headset, for a serial ending in 7851
    assert make_key("SN00000000007851").hex() == "31003554381037423100354838003750"
    with pytest.raises(ValueError, match="unknown Emotiv key variant 'epoc_plus'"):
        make_key(SERIAL, "epoc_plus")


def _emokit_level(data, bits):
    """The get_level of emokit, as reference for the bit layout."""
    level = 0
    for i in range(13, -1, -1):
        level = (level << 1) | ((int(data[bits[i] // 8 + 1]) >> (bits[i] % 8)) & 1)
    return level


EMOKIT_BITS = {
    "F3": [10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7],
    "AF3": [46, 47, 32, 33, 34, 35, 36, 37, 38, 39, 24, 25, 26, 27],
    "O1": [102, 103, 88, 89, 90, 91, 92, 93, 94, 95, 80, 81, 82, 83],
    "O2": [140, 141, 142, 143, 128, 129, 130, 131, 132, 133, 134, 135, 120, 121],
    "F4": [216, 217, 218, 219, 220, 221, 222, 223, 208, 209, 210, 211, 212, 213],
}


def test_fields_match_emokits_bit_tables():
    packets = np.random.default_rng(1).integers(0, 256, (64, 32), dtype=np.uint8)
    decoded = decode_packets(packets)
    for name, bits in EMOKIT_BITS.items():
        col = CHANNEL_NAMES.index(name)
        assert [_emokit_level(p, bits) for p in packets] == decoded.eeg[:, col].tolist(), name
    assert [_emokit_level(p, list(range(99, 113))) for p in packets] == decoded.quality.tolist()


def test_encode_decode_roundtrip_through_aes():
    eeg = [0, 1, 0x3FFF, 8192, 1234, 4321, 0x2AAA, 0x1555, 7, 8, 9, 10, 11, 12]
    quality = consistent_quality(1000, eeg[6])
    packet = encode_packet(42, eeg, quality=quality, gyro=(-3, 7))
    key = make_key(SERIAL, "consumer")
    wire = encrypt(packet, key)
    assert wire != packet and len(wire) == 32
    plain = decrypt(wire, key)
    assert plain.tobytes() == packet
    d = decode_packets(plain)
    assert d.counter.tolist() == [42] and d.eeg[0].tolist() == eeg
    assert d.quality.tolist() == [quality] and d.gyro[0].tolist() == [-3, 7]
    with pytest.raises(ValueError, match="not a whole number of 32-byte"):
        decrypt(wire[:20], key)


def test_windows_report_id_is_dropped():
    report = bytes(range(32))
    assert normalize_report(b"\x00" + report) == report
    with pytest.raises(ValueError, match="32 bytes, got 31"):
        normalize_report(report[:31])


def test_battery_and_quality_tables():
    assert battery_percent(0xFF) == 100 and battery_percent(0xF5) == 93 and battery_percent(226) == 1
    assert battery_percent(200) == 0
    assert [CHANNEL_NAMES[quality_channel(c)] for c in (0, 13, 14, 15, 64, 79, 80)] == [
        "F3",
        "F4",
        "F8",
        "AF4",
        "F3",
        "AF4",
        "FC6",
    ]
    assert quality_channel(40) == -1 and quality_channel(200) == -1


def _stream(n, variant="consumer", start=0, drop=()):
    from lslacq.devices.emotiv.emulator import expected_packet

    key = make_key(SERIAL, variant)
    return [encrypt(expected_packet(i), key) for i in range(start, start + n) if i not in drop]


@pytest.mark.parametrize("variant", ["consumer", "research_emokit", "consumer_doc"])
def test_key_auto_detection(variant):
    assert detect_key(b"".join(_stream(8, variant)), SERIAL) == variant
    decoder = EmotivDecoder(SERIAL, key="auto")
    chunk = decoder.feed(_stream(10, variant))
    assert decoder.variant == variant and len(chunk) == 10


def test_wrong_key_is_a_clear_error_naming_the_right_variant():
    decoder = EmotivDecoder(SERIAL, key="consumer")
    with pytest.raises(EmotivKeyError, match=r"do not decrypt with key variant 'consumer'.*'consumer_doc' works"):
        decoder.feed(_stream(8, "consumer_doc"))
    with pytest.raises(EmotivKeyError, match="none of the Emotiv key variants"):
        EmotivDecoder("SN00000000001111", key="auto").feed(_stream(8))


def test_counter_cycle_battery_lost_reports_and_held_values():
    from lslacq.devices.emotiv.emulator import expected_eeg

    decoder = EmotivDecoder(SERIAL)
    dropped = {5, 6, 300}
    chunks = [decoder.feed(r) for r in np.array_split(np.array(_stream(400, drop=dropped), dtype=object), 7)]
    positions = np.concatenate([c.positions for c in chunks])
    np.testing.assert_array_equal(positions, [i for i in range(400) if i not in dropped])  # 129-report cycle
    assert decoder.lost_packets == 3
    raw = np.concatenate([c.raw for c in chunks])
    expected = np.array([expected_eeg(i) for i in positions])
    np.testing.assert_array_equal(np.delete(raw, 6, axis=1), np.delete(expected, 6, axis=1))
    np.testing.assert_array_equal(raw[:, 6] >> 2, expected[:, 6] >> 2)  # O1's two LSBs carry contact quality
    eeg = np.concatenate([c.eeg for c in chunks])
    np.testing.assert_array_equal(eeg, ((raw.astype(np.float32) - 8192) * np.float32(0.51)))
    battery = np.concatenate([c.battery for c in chunks])[:, 0]
    assert np.isnan(battery[positions < 128]).all() and (battery[positions >= 128] == 93).all()
    quality = np.concatenate([c.quality for c in chunks])
    row = int(np.flatnonzero(positions == 20)[0])  # after counters 0..13: every electrode known
    assert quality[row, 0] == consistent_quality(100, expected_eeg(0)[6])
    assert quality[row, 13] == consistent_quality(1400, expected_eeg(13)[6])
    gyro = np.concatenate([c.gyro for c in chunks])
    np.testing.assert_array_equal(gyro[:, 0], positions % 20 - 10)


def test_the_older_module_paths_give_the_same_objects():
    pytest.importorskip("usb")
    import lslacq.devices.emotiv as package
    import lslacq.devices.emotiv.emulator as emulator
    import lslacq.devices.emotiv.protocol as protocol
    import lslacq.devices.emotiv_protocol as old_protocol
    import lslacq.devices.emulators.emotiv as old_emulator

    assert old_protocol.EmotivDecoder is protocol.EmotivDecoder is package.EmotivDecoder
    assert set(old_protocol.__all__) == set(protocol.__all__) <= set(dir(old_protocol))
    assert old_emulator.EmotivBackend is emulator.EmotivBackend is package.EmotivBackend
    assert set(old_emulator.__all__) == set(emulator.__all__) <= set(dir(old_emulator))
