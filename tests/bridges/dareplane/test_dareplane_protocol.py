"""Framing and parsing of dareplane commands (no sockets)."""

from __future__ import annotations

import pytest

from lslacq_dareplane.protocol import (
    CommandError,
    CommandSplitter,
    format_callback,
    format_error,
    format_pcomms,
    parse_command,
)


def test_splitter_reassembles_commands_split_across_packets():
    sp = CommandSplitter(b";")
    assert sp.feed(b"STA") == ([], [])
    assert sp.feed(b'RT|{"a"') == ([], [])
    assert sp.feed(b": 1};UP;GET_") == ([b'START|{"a": 1}', b"UP"], [])
    assert sp.feed(b"PCOMMS;") == ([b"GET_PCOMMS"], [])


def test_splitter_accepts_newline_and_crlf_and_skips_blank_commands():
    sp = CommandSplitter(b";")
    cmds, errors = sp.feed(b"UP\r\nSTOP\n\r\n;;  ;CLOSE;")
    assert cmds == [b"UP", b"STOP", b"CLOSE"]
    assert errors == []


def test_splitter_custom_delimiter_still_honours_newline():
    sp = CommandSplitter("#")
    assert sp.feed(b"A#B\nC;D#")[0] == [b"A", b"B", b"C;D"]


def test_splitter_discards_overlong_command_once_and_resyncs():
    sp = CommandSplitter(b";", max_command_bytes=100)
    cmds, errors = sp.feed(b"x" * 150)
    assert cmds == [] and len(errors) == 1 and "longer than 100 bytes" in errors[0]
    cmds, errors = sp.feed(b"y" * 150)
    assert cmds == [] and errors == []  # reported once
    cmds, errors = sp.feed(b"zzz;UP;")
    assert cmds == [b"UP"] and errors == []
    assert sp.pending_bytes == 0


def test_splitter_flush_returns_unterminated_tail():
    sp = CommandSplitter()
    sp.feed(b"UP;STO")
    assert sp.flush() == b"STO"
    assert sp.flush() == b""


def test_splitter_rejects_bad_delimiter():
    with pytest.raises(ValueError, match="delimiter"):
        CommandSplitter(b"")


@pytest.mark.parametrize(
    ("raw", "pcomm", "args", "kwargs"),
    [
        (b"START", "START", [], {}),
        (b"START|", "START", [], {}),
        (b'START|{"n": 3, "name": "a|b"}', "START", [], {"n": 3, "name": "a|b"}),
        (b"STARTRECORD|{'filename': 'x.xdf'}", "STARTRECORD", [], {"filename": "x.xdf"}),
        (b'SET|a|b|{"c": 1}', "SET", ["a", "b"], {"c": 1}),
        (b"SET|a|b|", "SET", ["a", "b"], {}),
        (b"SET|a|b", "SET", ["a", "b"], {}),
        (b"UP", "UP", [], {}),
        (b"\xc2START", "START", [], {}),
    ],
)
def test_parse_command_forms(raw, pcomm, args, kwargs):
    cmd = parse_command(raw)
    assert (cmd.pcomm, cmd.args, cmd.kwargs) == (pcomm, args, kwargs)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"|{}", "empty primary command"),
        (b"START|[1, 2]", "not a JSON object"),
        (b"START|{bad json", "not valid JSON"),
        (b"START|42", "not a JSON object"),
        (b"\xff\xfe", "not valid UTF-8"),
        (b"ST ART", "whitespace"),
        (b'START|{"1x": 2}', "not argument names"),
    ],
)
def test_parse_command_errors_name_the_problem(raw, match):
    with pytest.raises(CommandError, match=match):
        parse_command(raw)


def test_error_lines_are_ascii_single_line_without_pipes():
    line = format_error("bad |thing| \u00e9\nnext")
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert b"|" not in line
    line.decode("ascii")
    assert line.startswith(b"ERROR ")


def test_pcomms_reply_lists_module_commands_then_builtins():
    assert format_pcomms({"A": 1, "B": 2}) == b"A|B|STOP|CLOSE|GET_PCOMMS|UP"


def test_callback_format_matches_control_room_broker():
    assert (
        format_callback("recorder", "STARTRECORD", {"filename": "a.xdf"})
        == b'recorder|STARTRECORD|{"filename": "a.xdf"}'
    )
    assert format_callback("m", "GO") == b"m|GO|{}"
    with pytest.raises(ValueError, match="without"):
        format_callback("a|b", "GO")
    with pytest.raises(ValueError, match="single line"):
        format_callback("m", "GO", "x|y")
