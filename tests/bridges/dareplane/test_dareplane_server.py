"""lslacq's DefaultServer driven over real TCP sockets the way a dareplane control room drives it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading

import pytest
from conftest import DpClient

from lslacq.errors import NodeStateError
from lslacq_dareplane import DefaultServer


class Recorder:
    """pcommand handlers that record their calls; START returns a (Thread, Event) pair."""

    def __init__(self):
        self.calls = []
        self.called = threading.Event()
        self.stopped = threading.Event()
        self.release = threading.Event()
        self.slow_started = threading.Event()

    def start(self, n_trials: int = 1, label: str = ""):
        self.calls.append(("START", n_trials, label))
        stop_event = threading.Event()

        def run():
            stop_event.wait(30)
            self.stopped.set()

        thread = threading.Thread(target=run, name="test-start-thread")
        thread.start()
        self.called.set()
        return thread, stop_event

    def configure(self, *args, **kwargs) -> int:
        self.calls.append(("CONFIGURE", args, kwargs))
        self.called.set()
        return 0

    def slow(self) -> int:
        self.calls.append(("SLOW",))
        self.slow_started.set()
        self.release.wait(20)
        return 0

    def fail(self) -> int:
        raise RuntimeError("the amplifier is not switched on")

    def pcommand_map(self):
        return {"START": self.start, "CONFIGURE": self.configure, "SLOW": self.slow, "FAIL": self.fail}


def test_control_room_session(serve, client_factory):
    rec = Recorder()
    server = serve(rec.pcommand_map(), name="my_module")
    assert server.ip == "127.0.0.1" and server.port > 0
    c = client_factory(server.port)
    assert c.banner == b"Connected to my_module\n"
    c.send(b"GET_PCOMMS;")
    assert c.recv_until(b"|UP") == b"START|CONFIGURE|SLOW|FAIL|STOP|CLOSE|GET_PCOMMS|UP"
    c.send(b"UP;")
    assert c.recv_until(b"1") == b"1"
    assert c.probe(b'START|{"n_trials": 5, "label": "a;b"};') != b""  # ';' inside JSON is a terminator, as in dareplane
    assert c.probe(b'START|{"n_trials": 5, "label": "ab"};') == b""
    assert server.wait_idle(10)
    assert ("START", 5, "ab") in rec.calls
    assert len(server.threads) == 1
    assert c.probe(b"STOP;") == b""
    assert server.wait_idle(20)
    assert rec.stopped.is_set()
    assert server.threads == {}
    c.send(b"CLOSE;")
    assert c.wait_closed() == b""
    server._done.wait(10)
    assert not server.is_listening


def test_commands_in_one_packet_and_split_across_packets(serve, client_factory):
    rec = Recorder()
    server = serve(rec.pcommand_map())
    c = client_factory(server.port)
    c.send(b'CONFIGURE|{"a": 1};CONFIGURE|{"a": 2};CONF')
    c.send(b'IGURE|{"a"')
    assert c.probe(b": 3};") == b""
    assert server.wait_idle(10)
    assert [call[2]["a"] for call in rec.calls] == [1, 2, 3]


def test_telnet_style_newlines_and_legacy_positional_form(serve, client_factory):
    rec = Recorder()
    server = serve(rec.pcommand_map())
    c = client_factory(server.port)
    c.send(b"UP\r\n")
    assert c.recv_until(b"1") == b"1"
    assert c.probe(b'CONFIGURE|x|y|{"z": 1}\r\nCONFIGURE\n') == b""
    assert server.wait_idle(10)
    assert rec.calls == [("CONFIGURE", ("x", "y"), {"z": 1}), ("CONFIGURE", (), {})]


def test_malformed_commands_get_an_error_line_and_server_keeps_serving(serve, client_factory):
    rec = Recorder()
    server = serve(rec.pcommand_map())
    c = client_factory(server.port)
    reply = c.probe(b"NOPE;")
    assert reply.startswith(b"ERROR unknown primary command 'NOPE'") and b"known: START" in reply
    reply = c.probe(b"STRAT;")
    assert b"did you mean START?" in reply
    reply = c.probe(b"CONFIGURE|{broken;")
    assert reply.startswith(b"ERROR payload of 'CONFIGURE' is not valid JSON")
    c.send(b'START|{"n_trails": 3};')
    reply = c.recv_until(b"\n")
    assert b"bad arguments for START" in reply and b"n_trails" in reply and b"n_trials" in reply
    c.send(b"FAIL;")
    reply = c.recv_until(b"\n")
    assert reply == b"ERROR command FAIL failed: RuntimeError: the amplifier is not switched on\n"
    for line in reply.splitlines():
        assert b"|" not in line
    assert c.up()
    assert rec.calls == []


def test_slow_handler_does_not_block_up_or_other_clients(serve, client_factory):
    rec = Recorder()
    server = serve(rec.pcommand_map())
    control = client_factory(server.port)
    control.send(b"SLOW;")
    monitor = client_factory(server.port)
    try:
        assert rec.slow_started.wait(10)
        for _ in range(5):
            assert monitor.up()
            assert control.up()
        monitor.send(b"GET_PCOMMS;")
        assert monitor.recv_until(b"|UP").startswith(b"START|")
        # commands queue behind the slow one, in order
        assert control.probe(b'CONFIGURE|{"after": 1};') == b""  # received and queued
        assert rec.calls == [("SLOW",)]
    finally:
        rec.release.set()
    assert server.wait_idle(20)
    assert rec.calls == [("SLOW",), ("CONFIGURE", (), {"after": 1})]


def test_stop_waits_for_queued_commands_then_stops_their_threads(serve, client_factory):
    rec = Recorder()
    server = serve(rec.pcommand_map())
    c = client_factory(server.port)
    c.send(b"SLOW;START;STOP;")
    assert c.up()
    assert rec.slow_started.wait(10)
    assert rec.calls == [("SLOW",)]  # START waits behind SLOW
    rec.release.set()
    assert server.wait_idle(20)
    assert rec.calls[1][0] == "START"
    assert rec.stopped.is_set()
    assert server.threads == {}


@pytest.mark.slow
def test_stop_stops_process_trees(serve, client_factory, tmp_path):
    procs = []
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )

    def launch():
        p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        procs.append(p)
        return p

    server = serve({"LAUNCH": launch}, process_stop_timeout_s=6)
    c = client_factory(server.port)
    assert c.probe(b"LAUNCH;") == b""
    assert server.wait_idle(10)
    child_pid = int(procs[0].stdout.readline())
    import psutil

    assert psutil.pid_exists(child_pid)
    assert len(server.processes) == 1
    assert c.probe(b"STOP;") == b""
    assert server.wait_idle(20)
    assert procs[0].poll() is not None
    assert not psutil.pid_exists(child_pid) or psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE
    assert server.processes == {}
    procs[0].stdout.close()


def test_callbacks_reach_the_control_room_and_survive_stop(serve, client_factory):
    server = serve({})
    control = client_factory(server.port)
    monitor = client_factory(server.port)
    assert server.send_callback("recorder", "STARTRECORD", {"filename": "run1.xdf"})
    assert control.recv_until(b"}") == b'recorder|STARTRECORD|{"filename": "run1.xdf"}'
    assert control.probe(b"STOP;") == b""
    assert server.wait_idle(10)
    server.callback_stack.append("stimulator|STIM|{}")
    assert control.recv_until(b"{}") == b"stimulator|STIM|{}"
    server.current_conn.sendall(b"paradigm|NEXT|{}")
    assert control.recv_until(b"{}") == b"paradigm|NEXT|{}"
    assert monitor.probe() == b""  # the monitoring client got none of them
    # when the control room goes away, the next oldest client becomes the control connection
    control.close()
    assert monitor.probe() == b""  # the server has seen the disconnect
    for _ in range(100):
        if server.n_clients == 1:
            break
        monitor.probe()
    assert server.send_callback("a", "B")
    assert monitor.recv_until(b"{}") == b"a|B|{}"


def test_callback_from_handler_thread(serve, client_factory):
    holder = {}

    def start():
        stop = threading.Event()

        def run():
            holder["server"].send_callback("other", "GO", {"x": 1})
            stop.wait(30)

        th = threading.Thread(target=run)
        th.start()
        return th, stop

    server = serve({"START": start})
    holder["server"] = server
    c = client_factory(server.port)
    c.send(b"START;")
    assert c.recv_until(b"}") == b'other|GO|{"x": 1}'
    assert c.probe(b"STOP;") == b""
    assert server.wait_idle(20)


def test_half_closed_client_still_gets_its_replies(serve):
    rec = Recorder()
    server = serve(rec.pcommand_map())
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"UP;NOPE;GET_PCOMMS")  # last command terminated by end of stream
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    assert data.startswith(b"Connected to lslacq_test_module\n1ERROR unknown primary command 'NOPE'")
    assert data.endswith(b"GET_PCOMMS|UP")


def test_close_stops_threads_and_releases_the_port(serve, client_factory):
    rec = Recorder()
    server = serve(rec.pcommand_map())
    port = server.port
    c = client_factory(server.port)
    assert c.probe(b"START;") == b""
    assert server.wait_idle(10)
    c.send(b"CLOSE;")
    c.wait_closed()
    assert server._done.wait(20)
    assert rec.stopped.is_set()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    again = DefaultServer(port, name="again")
    again.init_server()
    again.shutdown()


def test_shutdown_from_another_thread(serve, client_factory):
    server = serve({})
    c = client_factory(server.port)
    assert c.up()
    server.shutdown()
    assert not server.is_listening
    assert c.wait_closed() == b""


def test_server_in_main_thread_closed_by_client():
    server = DefaultServer(0, name="blocking")
    server.init_server()
    result = {}

    def client():
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.recv(100)
            s.sendall(b"CLOSE;")
            result["eof"] = s.recv(100)

    th = threading.Thread(target=client)
    th.start()
    server.start_listening()  # returns on CLOSE
    th.join(10)
    assert result["eof"] == b""
    assert server.server_socket is None


def test_configuration_errors():
    with pytest.raises(ValueError, match="port"):
        DefaultServer(70000)
    with pytest.raises(ValueError, match="built into every server"):
        DefaultServer(0, pcommand_map={"STOP": lambda: 0})
    with pytest.raises(TypeError, match="must be callable"):
        DefaultServer(0, pcommand_map={"GO": 3})
    with pytest.raises(ValueError, match="without"):
        DefaultServer(0, pcommand_map={"GO|X": lambda: 0})
    with pytest.raises(NodeStateError, match="init_server"):
        DefaultServer(0).start_listening()
    first = DefaultServer(0)
    first.init_server()
    try:
        with pytest.raises(OSError, match="pick another --port"):
            DefaultServer(first.port).init_server()
    finally:
        first.shutdown()


def test_default_binds_loopback_only():
    assert DefaultServer().ip == "127.0.0.1"


def test_payload_with_nested_json(serve, client_factory):
    rec = Recorder()
    server = serve(rec.pcommand_map())
    c = client_factory(server.port)
    payload = {"streams": [{"name": "EEG", "channels": ["Fz", "Cz"]}], "rate": 500.0}
    assert c.probe(b"CONFIGURE|" + json.dumps(payload).encode() + b";") == b""
    assert server.wait_idle(10)
    assert rec.calls == [("CONFIGURE", (), payload)]


def test_dareplane_module_pattern_works_by_changing_the_import(client_factory):
    """The structure of a dareplane module's api/server.py (dareplane docs), with lslacq_dareplane imports."""
    from dataclasses import dataclass
    from functools import partial

    from lslacq_dareplane import DefaultServer as Server

    @dataclass
    class Context:
        server: Server

    def run_control(ctx: Context, threshold: float = 0.5):
        stop_event = threading.Event()

        def loop():
            ctx.server.current_conn.sendall(f"stimulator|STARTSTIM|{{'amp': {threshold}}}".encode())
            stop_event.wait(30)

        th = threading.Thread(target=loop)
        th.start()
        return th, stop_event

    server = Server(0, ip="127.0.0.1", pcommand_map={}, name="control_server")
    ctx = Context(server=server)
    server.pcommand_map.update({"STARTCONTROL": partial(run_control, ctx=ctx)})
    server.init_server()
    th = threading.Thread(target=server.start_listening)
    th.start()
    try:
        c = client_factory(server.port)
        c.send(b"GET_PCOMMS;")
        assert c.recv_until(b"|UP") == b"STARTCONTROL|STOP|CLOSE|GET_PCOMMS|UP"
        c.send(b'STARTCONTROL|{"threshold": 0.8};')
        assert c.recv_until(b"}") == b"stimulator|STARTSTIM|{'amp': 0.8}"
        c.send(b"STOP;CLOSE;")
        c.wait_closed()
    finally:
        th.join(30)
    assert not th.is_alive() and server.threads == {}


def test_connection_hooks_like_dareplane(client_factory):
    events = []
    ready = threading.Event()

    class Hooked(DefaultServer):
        def on_connection_accepted(self):
            events.append(("accepted", self.n_clients))

        def on_connection_closed(self):
            events.append(("closed", self.n_clients))
            ready.set()

    with Hooked(0, name="hooked") as server:
        c = client_factory(server.port)
        assert c.up()
        c.close()
        assert ready.wait(10)
    assert events == [("accepted", 1), ("closed", 0)]


def test_handlers_can_run_in_the_listening_thread_like_dareplane():
    seen = {}

    def where():
        seen["thread"] = threading.current_thread()
        return 0

    server = DefaultServer(0, pcommand_map={"WHERE": where}, handler_thread="loop")
    server.init_server()

    def client():
        with DpClient(server.port) as c:
            c.send(b"WHERE;")
            assert c.up()
            c.send(b"CLOSE;")
            c.wait_closed()

    th = threading.Thread(target=client)
    th.start()
    server.start_listening()
    th.join(30)
    assert seen["thread"] is threading.main_thread()
    with pytest.raises(ValueError, match="handler_thread"):
        DefaultServer(0, handler_thread="main")
