"""Device byte streams fed garbage and any fragmentation: RDA (BrainVision), OpenBCI Cyton, Emotiv EPOC.

Good packets come out whatever the fragmentation and whatever garbage sits
between them (where the framing allows resynchronising); corruption raises the
parser's own error (RdaProtocolError, ValueError naming the length), never an
IndexError or struct.error.
"""

from __future__ import annotations

import numpy as np
import pytest
from fuzz_profiles import PROFILES, check_named, fuzz_settings
from hypothesis import example, given
from hypothesis import strategies as st

from lslacq.devices import emotiv_protocol as emo
from lslacq.devices import openbci_protocol as obci
from lslacq.devices.rda import protocol as rda


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets (modulo its length): any TCP/serial fragmentation."""
    points = sorted({c % (len(data) + 1) for c in cuts}) if data else []
    pieces, start = [], 0
    for p in points + [len(data)]:
        pieces.append(data[start:p])
        start = p
    return pieces


cuts = st.lists(st.integers(0, 10_000), max_size=10)

# -- RDA ---------------------------------------------------------------------------------------------------------

_names = st.lists(
    st.text(st.characters(blacklist_characters="\0", max_codepoint=0x2FF), max_size=6), min_size=1, max_size=4
)


@st.composite
def rda_sessions(draw):
    """(bytes, expected messages) of a START, data blocks with markers, keep-alives and a STOP."""
    names = draw(_names)
    n = len(names)
    interval = draw(st.sampled_from([1000.0, 200.0, 33.3]))
    resolutions = draw(st.lists(st.floats(0.01, 10), min_size=n, max_size=n))
    stream = rda.build_start(interval, resolutions, names)
    expected = [("start", n)]
    for block in range(draw(st.integers(0, 5))):
        points = draw(st.integers(0, 6))
        int16 = draw(st.booleans())
        data = np.arange(points * n).reshape(points, n) + block
        markers = [
            rda.Marker(draw(st.integers(0, 5)), 1, -1, draw(st.text(max_size=5)), draw(st.text(max_size=5)))
            for _ in range(draw(st.integers(0, 2)))
        ]
        markers = [m for m in markers if "\0" not in m.type + m.description]
        stream += rda.build_data(block, data.astype(np.int16 if int16 else np.float32), markers, int16=int16)
        expected.append(("data", block, data.tolist(), [(m.position, m.type, m.description) for m in markers]))
        if draw(st.booleans()):
            stream += rda.build_message(10000)  # a keep-alive / unknown type
            expected.append(("other", 10000))
    stream += rda.build_stop()
    expected.append(("stop",))
    return stream, expected


def _summary(msg):
    if isinstance(msg, rda.StartMessage):
        return ("start", msg.n_channels)
    if isinstance(msg, rda.DataMessage):
        return (
            "data",
            msg.block,
            msg.data.astype(np.int64).tolist(),
            [(m.position, m.type, m.description) for m in msg.markers],
        )
    if isinstance(msg, rda.StopMessage):
        return ("stop",)
    return ("other", msg.msg_type)


@pytest.mark.parametrize("profile", PROFILES)
def test_rda_parser_gives_every_message_whatever_the_fragmentation(profile):
    @fuzz_settings(profile, scale=0.5)
    @given(session=rda_sessions(), cuts=cuts)
    def check(session, cuts):
        stream, expected = session
        parser = rda.RdaParser(buffer_size=64)
        got = []
        for piece in _split(stream, cuts):
            parser.feed(piece)
            got += [_summary(m) for m in parser.messages()]  # summarised now: data views the buffer
        assert got == expected and parser.pending_bytes == 0

    check()


@pytest.mark.parametrize("profile", PROFILES)
def test_rda_corruption_raises_rda_protocol_error_after_the_good_messages(profile):
    @fuzz_settings(profile)
    @given(
        session=rda_sessions(),
        at=st.integers(0, 10_000),
        garbage=st.binary(min_size=1, max_size=40),
        cuts=cuts,
        max_channels=st.sampled_from([2, 256]),
    )
    @example(
        session=(rda.build_start(1000.0, [1.0], ["a"]), [("start", 1)]),
        at=40,
        garbage=b"\xff\xff\xff\x7f",
        cuts=[],
        max_channels=256,
    )  # 2**31 channels announced
    def check(session, at, garbage, cuts, max_channels):
        stream, _ = session
        at %= len(stream) + 1
        corrupted = stream[:at] + garbage + stream[at:]
        parser = rda.RdaParser(max_channels=max_channels, max_message_size=1 << 16, buffer_size=64)
        try:
            for piece in _split(corrupted, cuts):
                parser.feed(piece)
                for msg in parser.messages():
                    if isinstance(msg, rda.DataMessage) and msg.data is not None:
                        assert msg.data.shape == (msg.n_points, parser.start_message.n_channels)
        except rda.RdaProtocolError as exc:
            check_named(exc, "RDA")
            return

    check()


# -- OpenBCI Cyton -------------------------------------------------------------------------------------------------

_counts = st.lists(st.integers(-(2**23), 2**23 - 1), min_size=8, max_size=8)


def _cyton_packets(seqs, counts):
    return [obci.encode_packet(s, c) for s, c in zip(seqs, counts, strict=True)]


_clean_counts = st.lists(
    st.integers(-(2**23), 2**23 - 1).filter(lambda v: obci.HEADER not in (v & 0xFFFFFF).to_bytes(3, "big")),
    min_size=8,
    max_size=8,
)


@st.composite
def cyton_streams(draw, clean=False):
    """(counters, counts) of consecutive packets; ``clean``: no 0xA0 byte inside any packet."""
    n = draw(st.integers(1, 12))
    first = draw(st.integers(0, obci.HEADER - 13) if clean else st.integers(0, 255))
    seqs = [(first + k) % 256 for k in range(n)]
    counts = [draw(_clean_counts if clean else _counts) for _ in range(n)]
    return seqs, counts


def _decode_all(decoder, pieces):
    chunks = [decoder.feed(p) for p in pieces]
    return (
        np.concatenate([c.counts for c in chunks]),
        np.concatenate([c.positions for c in chunks]),
        sum(c.garbage_bytes for c in chunks),
    )


@pytest.mark.parametrize("profile", PROFILES)
def test_cyton_decodes_every_packet_whatever_the_fragmentation(profile):
    @fuzz_settings(profile, scale=0.5)
    @given(stream=cyton_streams(), cuts=cuts)
    def check(stream, cuts):
        seqs, counts = stream
        data = b"".join(_cyton_packets(seqs, counts)) + bytes([obci.HEADER])  # the next header confirms the last
        got, positions, garbage = _decode_all(obci.CytonDecoder(), _split(data, cuts))
        assert got.tolist() == counts and positions.tolist() == list(range(len(seqs))) and garbage == 0

    check()


_no_header = st.binary(min_size=1, max_size=40).map(lambda b: b.replace(bytes([obci.HEADER]), b"\x00"))


@pytest.mark.parametrize("profile", PROFILES)
def test_cyton_keeps_the_good_packets_around_garbage(profile):
    """Garbage between packets (without the 0xA0 header byte, so it cannot pose as a packet start) loses none.

    Before the first packet and from the third on: the decoder accepts a packet followed by garbage only once it
    is in sync (a packet confirmed by the next one's header), so the very first packet of a stream, followed by
    garbage, is dropped as unconfirmed (by design: it cannot tell it from garbage that looks like a packet).
    Packets without a 0xA0 byte inside: one inside a packet next to garbage can look like a packet starting
    inside it, and the decoder then drops the packet as torn (also by design).
    """

    @fuzz_settings(profile, scale=0.5)
    @given(
        stream=cyton_streams(clean=True),
        cuts=cuts,
        garbage=st.dictionaries(st.sampled_from([0] + list(range(2, 13))), _no_header, max_size=3),
    )
    @example(stream=([0, 1, 2, 3], [[0] * 8] * 4), garbage={2: b"\0", 3: b"\0"}, cuts=[])  # a packet between garbage
    @example(stream=(list(range(6)), [[0] * 8] * 6), garbage={4: b"\0", 5: b"\0" * 4}, cuts=[166])  # cut after it
    def check(stream, garbage, cuts):
        seqs, counts = stream
        packets = _cyton_packets(seqs, counts)
        data = b"".join(garbage.get(k, b"") + p for k, p in enumerate(packets)) + bytes([obci.HEADER])
        decoder = obci.CytonDecoder()
        got, positions, skipped = _decode_all(decoder, _split(data, cuts))
        assert got.tolist() == counts, f"packets lost around garbage {garbage!r}"
        assert positions.tolist() == list(range(len(seqs)))
        assert skipped == sum(len(g) for k, g in garbage.items() if k < len(packets))

    check()


@pytest.mark.parametrize("profile", PROFILES)
def test_cyton_any_bytes_decode_to_consistent_chunks(profile):
    @fuzz_settings(profile)
    @given(
        data=st.lists(
            st.one_of(
                st.binary(max_size=80),
                st.just(bytes([obci.HEADER])),
                st.builds(obci.encode_packet, st.integers(0, 255), _counts),
            ),
            max_size=8,
        ),
        daisy=st.booleans(),
        cuts=cuts,
    )
    def check(data, daisy, cuts):
        decoder = obci.CytonDecoder(daisy=daisy)
        total = 0
        for piece in _split(b"".join(data), cuts):
            chunk = decoder.feed(piece)
            n = len(chunk)
            assert chunk.counts.shape == (n, 16 if daisy else 8) and chunk.accel.shape == (n, 3)
            assert np.all(np.diff(chunk.positions) > 0)
            total += n
        assert decoder.samples == total and len(decoder._tail) < 2 * obci.PACKET_SIZE + 64

    check()


@pytest.mark.parametrize("profile", PROFILES)
def test_cyton_channel_reply_is_a_count_or_none(profile):
    @fuzz_settings(profile)
    @given(
        reply=st.one_of(
            st.binary(max_size=60),
            st.builds(
                lambda a, b: a + b, st.binary(max_size=20), st.sampled_from([b"8$$$", b"16$$$", b"daisy removed"])
            ),
        )
    )
    def check(reply):
        assert obci.parse_channel_reply(reply) in (8, 16, None)

    check()


# -- Emotiv EPOC -----------------------------------------------------------------------------------------------

SERIAL = "SN20120526998912"
KEY = emo.make_key(SERIAL, "consumer")
_eeg = st.lists(st.integers(0, 2**14 - 1), min_size=14, max_size=14)


@pytest.mark.parametrize("profile", PROFILES)
def test_emotiv_decodes_every_report_whatever_the_grouping(profile):
    @fuzz_settings(profile, scale=0.5)
    @given(
        eeg=st.lists(_eeg, min_size=8, max_size=20),
        first=st.integers(0, 128),
        groups=st.lists(st.integers(0, 20), max_size=6),
        as_list=st.booleans(),
    )
    def check(eeg, first, groups, as_list):
        # the 129-report cycle: counters 0..127, then a battery report (byte 0 >= 128)
        counters = [p if p < 128 else 240 for p in ((first + k) % 129 for k in range(len(eeg)))]
        reports = [emo.encrypt(emo.encode_packet(c, v), KEY) for c, v in zip(counters, eeg, strict=True)]
        decoder = emo.EmotivDecoder(SERIAL)
        raw = []
        start = 0
        for g in sorted({min(g, len(reports)) for g in groups}) + [len(reports)]:
            part = reports[start:g]
            start = g
            chunk = decoder.feed([b"\0" + r for r in part] if as_list else b"".join(part))  # 33-byte HID reports too
            raw += chunk.raw.tolist()
        assert raw == eeg and decoder.lost_packets == 0

    check()


@pytest.mark.parametrize("profile", PROFILES)
def test_emotiv_garbage_gives_chunks_or_named_errors(profile):
    decoder_key = emo.make_key(SERIAL, "consumer")

    @fuzz_settings(profile)
    @given(good=st.integers(8, 10), garbage=st.lists(st.binary(min_size=0, max_size=70), max_size=4))
    @example(good=8, garbage=[b"\0" * 31])
    def check(good, garbage):
        decoder = emo.EmotivDecoder(SERIAL)
        decoder.feed(b"".join(emo.encrypt(emo.encode_packet(k, [8192] * 14), decoder_key) for k in range(good)))
        for report in garbage:
            try:
                chunk = decoder.feed(report)
            except ValueError as exc:  # a length that is not whole 32-byte reports, named
                check_named(exc, str(len(report)))
                continue
            assert chunk.eeg.shape == (len(report) // 32, 14)
            assert np.all(np.diff(chunk.positions) > 0)
        for report in garbage:  # as single HID reports
            try:
                emo.normalize_report(report)
            except ValueError as exc:
                check_named(exc, str(len(report)))

    check()


@pytest.mark.parametrize("profile", PROFILES)
def test_emotiv_key_detection_on_garbage_raises_a_key_error(profile):
    @fuzz_settings(profile, scale=0.3)
    @given(data=st.binary(min_size=0, max_size=12 * 32).map(lambda b: b[: len(b) // 32 * 32]))
    def check(data):
        try:
            emo.detect_key(data, SERIAL)
        except emo.EmotivKeyError as exc:
            check_named(exc, SERIAL)
        except ValueError as exc:
            check_named(exc, "at least 3")

    check()


@pytest.mark.parametrize("profile", PROFILES)
def test_rda_client_keeps_the_blocks_before_garbage_and_names_the_corruption(profile):
    """A real RDA server sending good blocks then garbage: every good sample is kept, then RdaProtocolError.

    The garbage is a header with a wrong GUID; the client must not crash or hang.
    """
    import socket
    import threading

    from helpers import wait_until

    from lslacq.devices.rda import Client

    @fuzz_settings(profile, scale=0.1)
    @given(
        blocks=st.integers(1, 6),
        points=st.integers(1, 20),
        n=st.integers(1, 4),
        garbage=st.binary(min_size=24, max_size=80).filter(lambda b: b[:16] != rda.RDA_GUID),
        cuts=cuts,
    )
    def check(blocks, points, n, garbage, cuts):
        stream = rda.build_start(1000.0, [1.0] * n, [f"c{i}" for i in range(n)])
        stream += b"".join(rda.build_data(b, np.full((points, n), b, np.float32)) for b in range(blocks))
        stream += garbage
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]

        def serve():
            conn, _ = listener.accept()
            with conn:
                try:
                    for piece in _split(stream, cuts):
                        conn.sendall(piece)
                    conn.recv(1)  # hold the connection open until the client closes it
                except OSError:  # the client closed first (a reset: it left the garbage unread)
                    pass

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        client = Client(buffer_size=1000)
        try:
            client.connect(("127.0.0.1", port))
            client.start_streaming(timeout=5)
            wait_until(lambda: client.error is not None, timeout=10, what="the client to report the corruption")
            assert isinstance(client.error, rda.RdaProtocolError)
            check_named(client.error, "GUID", "RDA")
            assert client.last_sample == blocks * points
            data = client.get_data(0, blocks * points)
            assert np.array_equal(data[:, 0], np.repeat(np.arange(blocks), points).astype(np.float32))
        finally:
            client.close()
            listener.close()
            server.join(5)

    check()
