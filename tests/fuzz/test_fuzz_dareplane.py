"""dareplane command lines fed garbage: CommandError naming the command, every good command kept, server up."""

from __future__ import annotations

import socket

import pytest
from fuzz_profiles import PROFILES, fuzz_settings
from helpers import wait_until
from hypothesis import example, given
from hypothesis import strategies as st

from lslacq_dareplane import DefaultServer
from lslacq_dareplane.protocol import Command, CommandError, CommandSplitter, parse_command

# bytes that matter to the framing and the payload parsers, mixed with any byte
_special = st.sampled_from(list(b";|{}[]\"'\\:,\n\r \t\xc2\x80\xff0123456789eE.-+") + [ord("N"), ord("I")])
_noisy_bytes = st.lists(st.one_of(_special, st.integers(0, 255)), max_size=80).map(bytes)
_json_text = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8,
).map(repr)
_payloads = st.one_of(
    _noisy_bytes,
    _json_text.map(str.encode),
    st.sampled_from(
        [
            b'{"a": ' + b"1" * 5000 + b"}",  # more digits than int() reads
            b'{"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",  # deeper than the JSON decoder recurses
            b"{" * 50_000,
            b'{"a": 1e999}',
            b"{'a': " + b"(" * 200 + b")" * 200 + b"}",
            b"{'a': b'\\x00'}",
            b'{"a": NaN, "b": -Infinity}',
            b"{1: 2}",
            b"{'a' 1}",
        ]
    ),
)
commands = st.one_of(
    _noisy_bytes,
    st.builds(lambda p, rest: p + b"|" + rest, st.sampled_from([b"GO", b"START", b"X", b"", b" "]), _payloads),
    st.builds(
        lambda p, a, rest: p + b"|" + a + b"|" + rest, st.sampled_from([b"GO", b"START"]), _noisy_bytes, _payloads
    ),
)


@pytest.mark.parametrize("profile", PROFILES)
def test_a_command_parses_or_is_refused_with_a_command_error(profile):
    @fuzz_settings(profile)
    @given(raw=commands)
    @example(raw=b'GO|{"a": ' + b"1" * 5000 + b"}")
    @example(raw=b'GO|{"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}")
    def check(raw):
        try:
            cmd = parse_command(raw)
        except CommandError as exc:
            text = str(exc)
            assert text and "\n" not in text.strip()
            return
        assert isinstance(cmd, Command) and cmd.pcomm and isinstance(cmd.kwargs, dict)
        assert all(isinstance(k, str) and k.isidentifier() for k in cmd.kwargs)

    check()


_good = st.sampled_from([b"UP", b"GO", b'GO|{"a": 1}', b"GET_PCOMMS", b"GO|x|y|{}"])
_garbage_segment = _noisy_bytes.map(lambda b: b.replace(b";", b"").replace(b"\n", b""))


@pytest.mark.parametrize("profile", PROFILES)
def test_splitter_keeps_every_terminated_command_whatever_the_fragmentation(profile):
    @fuzz_settings(profile, scale=0.5)
    @given(
        items=st.lists(st.tuples(st.booleans(), _good, _garbage_segment), max_size=12),
        cuts=st.lists(st.integers(0, 2000), max_size=12),
    )
    def check(items, cuts):
        stream = b""
        expected = []
        for is_good, good, garbage in items:
            segment = good if is_good else garbage
            stream += segment + b";"
            if segment.strip():
                expected.append(segment.strip())
        splitter = CommandSplitter(b";")
        got = []
        start = 0
        for cut in sorted({min(c, len(stream)) for c in cuts}) + [len(stream)]:
            commands_, errors = splitter.feed(stream[start:cut])
            assert errors == []
            got += commands_
            start = cut
        assert got == expected and splitter.pending_bytes == 0

    check()


# -- a real server ---------------------------------------------------------------------------------------------


def _recv_until(sock: socket.socket, suffix: bytes, timeout: float = 10.0) -> bytes:
    data = bytearray()

    def ends_with_suffix():
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return False
        assert chunk, f"the server closed the connection; got {bytes(data[-300:])!r}"
        data.extend(chunk)
        return data.endswith(suffix)

    previous = sock.gettimeout()
    sock.settimeout(0.2)
    try:
        wait_until(ends_with_suffix, timeout=timeout, interval=0, what=f"{suffix!r} from the server")
    finally:
        sock.settimeout(previous)
    return bytes(data)


_PCOMMS_REPLY = b"GO|STOP|CLOSE|GET_PCOMMS|UP"


def _harmless(raw: bytes) -> bool:
    """Garbage that ends no session and makes no reply look like the probe's (CLOSE, STOP, GET_PCOMMS)."""
    return not any(word in raw for word in (b"CLOSE", b"STOP", b"GET_PCOMMS"))


@pytest.mark.parametrize("profile", PROFILES)
def test_server_answers_a_valid_command_after_any_garbage(profile):
    calls = []
    server = DefaultServer(
        pcommand_map={"GO": lambda *a, **kw: calls.append((a, kw)) or 0}, port=0, name="fuzzed_module"
    )
    server.start_in_thread()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        _recv_until(sock, b"\n")  # the banner

        @fuzz_settings(profile, scale=0.5)
        @given(garbage=st.lists(commands.filter(_harmless), min_size=1, max_size=4))
        @example(garbage=[b'GO|{"a": ' + b"1" * 5000 + b"}"])
        @example(garbage=[b'GO|{"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"])
        def check(garbage):
            sock.sendall(b";".join(garbage) + b"\n")
            sock.sendall(b"GET_PCOMMS;")  # every reply to the garbage comes before this one's
            _recv_until(sock, _PCOMMS_REPLY)
            assert server.is_listening and server.error is None

        check()
    finally:
        sock.close()
        server.shutdown()
    assert server.error is None, f"the server failed: {server.error!r}"
