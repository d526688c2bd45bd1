"""Compatibility with dareplane-utils 0.0.24: same transcript as its DefaultServer, driven by its client code."""

from __future__ import annotations

import sys

import pytest
from conftest import PEERS, DpClient

sys.path.insert(0, str(PEERS))
from transcript_commands import make_pcommand_map  # noqa: E402

# packets a control room sends; each is followed by an "UP;" probe, and the reply
# received before the probe's "1" is the transcript entry
TRANSCRIPT = [
    b"GET_PCOMMS;",
    b"GET_PCOMMS|;",
    b"UP;",
    b"UP|;",
    b"UP\r\n;",
    b'SET|{"value": 3, "label": "x"};',
    b'SET|{"value": [1, 2.5, null]};SET;',
    (b"SE", b'T|{"label": "split"};'),  # one command in two packets
    b'START|{"n": 2};',
    b"STOP;",
    b"START;START;",
    b"STOP|;",
    b"STOP;",
    b";;",
    b"GET_PCOMMS;UP;GET_PCOMMS;",
]

# where dareplane stays silent (or worse) and lslacq answers with an error line
DIVERGENT = [
    b"NOPE;",
    b"SET|{not json};",
    b"SET|[1, 2];",
]

# kills dareplane's server (the handler's TypeError escapes its listen loop)
FATAL_FOR_DAREPLANE = b'SET|{"value": 1, "bogus": 2};'


def run_transcript(port: int, packets) -> list[bytes]:
    with DpClient(port) as c:
        out = [c.banner]
        for packet in packets:
            if isinstance(packet, tuple):
                for part in packet[:-1]:
                    c.send(part)
                packet = packet[-1]
            n_up = sum(1 for cmd in packet.replace(b"\r\n", b";").split(b";") if cmd.strip(b"|") == b"UP")
            out.append(c.probe(packet, n_up=n_up))
        c.send(b"CLOSE;")
        out.append(c.wait_closed(timeout=20))
    return out


@pytest.fixture
def dareplane_port(peer):
    return peer("dareplane_server.py").port


@pytest.mark.slow
def test_transcript_identical_to_dareplane_default_server(serve, peer):
    ours = serve(make_pcommand_map(), name="transcript_module")
    theirs = peer("dareplane_server.py")
    expected = run_transcript(theirs.port, TRANSCRIPT)
    got = run_transcript(ours.port, TRANSCRIPT)
    assert expected[0] == b"Connected to transcript_module\n"
    assert expected[1] == b"START|SET|STOP|CLOSE|GET_PCOMMS|UP"
    assert got == expected
    out, err = theirs.stop()
    assert theirs.proc.returncode == 0, err  # dareplane's server was not crashed by the transcript


def test_divergent_commands_dareplane_silent_lslacq_explains(serve, peer):
    ours = serve(make_pcommand_map(), name="transcript_module")
    theirs = peer("dareplane_server.py")
    expected = run_transcript(theirs.port, DIVERGENT)
    got = run_transcript(ours.port, DIVERGENT)
    assert expected[1:-1] == [b""] * len(DIVERGENT)
    for reply in got[1:-1]:
        assert reply.startswith(b"ERROR ") and reply.endswith(b"\n")


@pytest.mark.slow
def test_bad_keyword_arguments_kill_dareplane_but_not_lslacq(serve, peer):
    theirs = peer("dareplane_server.py")
    with DpClient(theirs.port) as c:
        c.send(FATAL_FOR_DAREPLANE)
        assert c.wait_closed(timeout=20) == b""
    theirs.proc.wait(20)
    assert theirs.proc.returncode != 0
    ours = serve(make_pcommand_map(), name="transcript_module")
    with DpClient(ours.port) as c:
        c.send(FATAL_FOR_DAREPLANE)
        assert b"unexpected keyword argument 'bogus'" in c.recv_until(b"\n")
        assert c.up()


@pytest.mark.slow
def test_dareplane_module_connection_drives_our_server(serve):
    """dareplane-utils' own client side (ModuleConnection + SocketCommunicator) talks to our server."""
    from dareplane_utils.module_handling.communication import SocketCommunicator
    from dareplane_utils.module_handling.launcher import Launcher
    from dareplane_utils.module_handling.module_connection import ModuleConnection

    calls = []

    def set_value(value=None, label: str = "") -> int:
        calls.append((value, label))
        return 0

    class AlreadyRunning(Launcher):  # the server runs in this process
        process = None

        def launch(self, relaunch=False, **kwargs):
            return None

        def terminate(self):
            pass

    server = serve({"SET": set_value}, name="lslacq_module")
    comm = SocketCommunicator("127.0.0.1", server.port, "lslacq_module", retry_after_s=0.1)
    mc = ModuleConnection("lslacq_module", AlreadyRunning(), comm)
    mc.start()  # connects and reads the banner (until its 1 s timeout)
    try:
        mc.send_message(b"GET_PCOMMS")  # ModuleConnection appends the ';'
        comm.socket_c.settimeout(10)
        assert mc.receive_message(2048) == b"SET|STOP|CLOSE|GET_PCOMMS|UP"
        mc.send_message(b'SET|{"value": 7, "label": "from dareplane"}')
        mc.send_message(b"UP")
        assert mc.receive_message(16) == b"1"
        assert server.wait_idle(10)
        assert calls == [(7, "from dareplane")]
    finally:
        mc.stop_connection()


def test_old_control_room_unterminated_get_pcomms(serve, client_factory):
    """Older control rooms send GET_PCOMMS without a terminator and wait for the reply."""
    server = serve(make_pcommand_map(), unterminated_timeout_s=0.2)
    c = client_factory(server.port)
    c.send(b"GET_PCOMMS")
    assert c.recv_until(b"|UP") == b"START|SET|STOP|CLOSE|GET_PCOMMS|UP"
    c.send(b"STA")  # an unknown fragment is kept until the rest arrives
    assert c.probe(b'RT|{"n": 1};') == b""
    assert server.wait_idle(10)
    assert len(server.threads) == 1
