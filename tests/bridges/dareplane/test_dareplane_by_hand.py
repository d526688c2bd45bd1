"""A module server driven by hand (telnet, nc): every line gets an answer, nothing is glued, hints read as sent."""

from __future__ import annotations

import pytest
from conftest import DpClient


def test_an_unknown_command_without_terminator_is_answered_and_not_glued_onto_the_next(serve):
    server = serve({"START": lambda: 0}, name="by_hand", unterminated_timeout_s=0.2)
    with DpClient(server.port) as c:
        c.send(b"HELLO")  # no ';', no newline: typed, then the user waits
        line = c.recv_until(b"\n")
        assert line.startswith(b"ERROR unknown primary command 'HELLO'") and b"known: START" in line
        assert c.probe() == b""  # the next command is UP alone (it was 'HELLOUP')


def test_a_bare_line_is_one_command(serve):
    server = serve({"START": lambda: 0}, name="by_hand", unterminated_timeout_s=None)
    with DpClient(server.port) as c:
        c.send(b"HELLO\n")  # what telnet sends on Enter; no idle timeout involved
        assert c.recv_until(b"\n").startswith(b"ERROR unknown primary command 'HELLO'")
        c.send(b"UP\r\n")
        assert c.recv_until(b"1") == b"1"


def test_the_syntax_hint_spells_the_pipe_the_client_must_send(serve):
    server = serve({"START": lambda n=1: 0}, name="by_hand")
    with DpClient(server.port) as c:
        c.send(b"START|[1, 2];")
        line = c.recv_until(b"\n")
    assert b'send START<pipe>{"key": value}' in line and b"|" not in line and b"/{" not in line


@pytest.mark.slow
def test_up_answers_dareplanes_bare_1(serve, peer):
    """UP answers b"1" with no newline, as dareplane-utils' server does (control rooms compare the reply to b"1").

    Only ERROR lines end with one.
    """
    ours = serve({"START": lambda: 0, "SET": lambda **kw: 0}, name="transcript_module")
    theirs = peer("dareplane_server.py")
    replies = []
    for port in (theirs.port, ours.port):
        with DpClient(port) as c:
            c.send(b"UP;")
            first = c.recv_until(b"1")
            replies.append(first + c.probe())  # probe: whatever followed the first "1" before the next one
    assert replies == [b"1", b"1"]
