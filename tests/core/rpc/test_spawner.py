"""ProcessSpawner: start/stop/kill, startup errors, no orphans, log and stdio forwarding."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import psutil
import pytest
from helpers import wait_until

from lslacq.core.rpc import ProcessSpawner, RPCServer
from lslacq.core.rpc import log as rpclog
from lslacq.errors import RemoteCallError


@pytest.mark.slow
def test_start_stop_poll_wait():
    proc = ProcessSpawner(name="worker", executable=sys.executable)
    try:
        assert proc.poll() is None
        assert proc.client._import("os").getpid() == proc.pid
        assert "worker" in repr(proc)
    finally:
        code = proc.stop()
    assert code == 0 and proc.poll() == 0
    assert not psutil.pid_exists(proc.pid) or psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.slow
def test_kill_and_dead_child_is_reported_to_waiting_caller():
    proc = ProcessSpawner(name="victim")
    helpers = proc._import("rpc_helpers")
    future = helpers.sleep_and_return(30, "never", _sync="async")
    proc.proc.send_signal(signal.SIGKILL)
    with pytest.raises(RemoteCallError, match="exited with code"):
        future.result(timeout=20)  # fails fast (liveness check), not after 20 s
    assert proc.kill() == -signal.SIGKILL


@pytest.mark.slow
def test_crashing_child_gives_exit_code():
    proc = ProcessSpawner(name="crasher")
    proc._import("rpc_helpers").crash(7, _sync="off")
    assert proc.wait(10) == 7


@pytest.mark.slow
def test_startup_failure_is_a_clear_error():
    with pytest.raises(RuntimeError, match="refusing to bind"):
        ProcessSpawner(name="exposed", address="tcp://0.0.0.0:*")


@pytest.mark.slow
def test_wait_timeout():
    with ProcessSpawner() as proc:
        with pytest.raises(TimeoutError, match="still running"):
            proc.wait(0.1)


_PARENT = textwrap.dedent("""
    import sys, time
    from lslacq.core.rpc import ProcessSpawner
    child = ProcessSpawner(name='grandchild', qt=sys.argv[1] == 'qt')
    print(child.pid, flush=True)
    time.sleep(60)
""")


def _has_qt() -> bool:
    import importlib.util

    return importlib.util.find_spec("PySide6") is not None


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind",
    [
        "plain",
        pytest.param("qt", marks=[pytest.mark.qt, pytest.mark.skipif(not _has_qt(), reason="needs a Qt binding")]),
    ],
)
def test_child_exits_when_parent_is_killed(kind):
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, kind], stdout=subprocess.PIPE, text=True)
    try:
        child_pid = int(parent.stdout.readline())
        assert psutil.pid_exists(child_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)

        def gone():
            try:
                return psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                return True

        wait_until(gone, timeout=10, what="the orphaned child to end after its parent was killed")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(5)
        parent.stdout.close()


@pytest.mark.slow
def test_log_records_stdout_stderr_and_exceptions_are_forwarded(caplog):
    received = []

    class Collect(logging.Handler):
        def emit(self, record):
            received.append(record)

    target = logging.getLogger("test.forwarded")
    target.setLevel(logging.DEBUG)
    handler = Collect()
    target.addHandler(handler)
    server = rpclog.LogServer(target)
    server.start()
    try:
        with ProcessSpawner(name="chatty", log_addr=server.address, log_level=logging.INFO) as proc:
            helpers = proc._import("rpc_helpers")
            assert helpers.print_and_log("hello 123") is True
            assert helpers.raise_uncaught_in_thread("kaboom 9") is True

            def messages():
                return [r.getMessage() for r in received]

            wait_until(
                lambda: any("kaboom 9" in m for m in messages()) and sum("hello 123" in m for m in messages()) >= 3,
                what="the forwarded records",
            )
        by_name = {r.name: r for r in received if "hello 123" in r.getMessage()}
        assert set(by_name) >= {"stdout", "stderr", "rpc_helpers"}
        assert all(r.process_name == "chatty" for r in by_name.values())
        assert by_name["rpc_helpers"].levelno == logging.WARNING
        crash = next(r for r in received if "kaboom 9" in r.getMessage())
        assert crash.levelno == logging.ERROR and "RuntimeError" in crash.exc_text
        created = [r.created for r in received]
        assert created == sorted(created)  # the log server hands records over in time order
    finally:
        server.stop()
        target.removeHandler(handler)


def test_rpc_log_handler_formats_source(tmp_path):
    import io

    stream = io.StringIO()
    handler = RPCLogHandlerFactory(stream)
    record = logging.makeLogRecord(
        {
            "msg": "m1",
            "levelno": logging.WARNING,
            "levelname": "WARNING",
            "name": "x",
            "hostname": "hostA",
            "process_name": "procB",
            "thread_name": "thr",
        }
    )
    handler.handle(record)
    text = stream.getvalue()
    assert "hostA:procB:thr" in text and "m1" in text and "\x1b[" in text


def RPCLogHandlerFactory(stream):
    return rpclog.RPCLogHandler(stream, color=True)


def test_names_and_logger_address():
    rpclog.set_host_name("h1")
    rpclog.set_process_name("p1")
    rpclog.set_thread_name("t1")
    try:
        assert (rpclog.get_host_name(), rpclog.get_process_name(), rpclog.get_thread_name()) == ("h1", "p1", "t1")
        server = rpclog.start_log_server("test.addr")
        assert rpclog.get_logger_address() == server.address
        rpclog.stop_log_server()
        assert rpclog.get_logger_address() is None
    finally:
        import socket

        rpclog.set_host_name(socket.gethostname())
        rpclog.set_process_name(f"process-{os.getpid()}")


@pytest.mark.slow
def test_manual_streaming_between_processes():
    """Manual 4.2.2: a remote InputStream connects to a local OutputStream through a proxy."""
    from lslacq.core.stream import OutputStream

    server = RPCServer()
    server.run_lazy()
    proc = ProcessSpawner()
    try:
        out = OutputStream()
        out.configure(dtype=float, shape=(-1, 2))
        rlslacq = proc.client._import("lslacq")
        inp = rlslacq.InputStream()
        inp.connect(out)
        data = np.arange(10, dtype=float).reshape(5, 2)
        out.send(data)
        assert inp.poll(5000)
        index, received = inp.recv(_return_type="value")
        assert index == 5
        np.testing.assert_array_equal(received, data)
        inp.close()
        out.close()
    finally:
        proc.stop()
        server.close()


@pytest.mark.slow
def test_works_inside_a_multiprocessing_spawn_child():
    import multiprocessing

    import rpc_helpers

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=rpc_helpers.spawn_grandchild, args=(queue,))
    child.start()
    try:
        status, remote_pid, spawner_pid = queue.get(timeout=60)
    finally:
        child.join(30)
    assert status == "ok", remote_pid
    assert remote_pid == spawner_pid and child.exitcode == 0
    queue.close()
    queue.join_thread()


@pytest.mark.slow
def test_any_client_fails_fast_when_the_server_process_dies():
    """A plain RPCClient (no spawner liveness check) notices the dropped connection."""
    from lslacq.core.rpc import RPCClient

    proc = ProcessSpawner(name="short-lived")
    client = RPCClient(proc.address)
    try:
        helpers = client._import("rpc_helpers")  # (proxies would use the spawner's client: call through ours)
        assert client.call_obj(helpers.getpid) == proc.pid  # connected
        future = client.call_obj(helpers.sleep_and_return, (60, "never"), sync="async")
        proc.proc.send_signal(signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(RemoteCallError, match="lost the connection"):
            future.result(timeout=30)
        assert time.monotonic() - started < 30  # well before the timeout
    finally:
        client.close()
        proc.kill()


def test_rpc_log_handler_sorts_when_asked():
    import io

    stream = io.StringIO()
    # 0.5 s: long enough that a loaded machine still sees the records held back
    handler = rpclog.RPCLogHandler(stream, color=False, sort_delay=0.5)
    now = time.time()
    for created, msg in ((now + 0.002, "second"), (now, "first"), (now + 0.004, "third")):
        handler.handle(
            logging.makeLogRecord(
                {"msg": msg, "levelno": logging.INFO, "levelname": "INFO", "name": "x", "created": created, "msecs": 0}
            )
        )
    assert stream.getvalue() == ""  # held back
    wait_until(lambda: "third" in stream.getvalue(), timeout=5, what="the sorted records")
    text = stream.getvalue()
    assert text.index("first") < text.index("second") < text.index("third")
    handler.close()


def test_rpc_log_handler_writes_due_records_in_order_and_holds_the_others():
    """Writing a due record calls the stream handler's flush(): it must not write a later, held record first."""
    import io

    stream = io.StringIO()
    handler = rpclog.RPCLogHandler(stream, color=False, sort_delay=0.3)
    now = time.time()
    for created, msg in ((now - 0.31, "second"), (now - 0.32, "first"), (now + 5, "later")):
        record = {"msg": msg, "levelno": logging.INFO, "levelname": "INFO", "name": "x", "created": created}
        handler.handle(logging.makeLogRecord({**record, "msecs": 0}))
    handler._write_due()  # what the timer does: first and second are due, later is not
    text = stream.getvalue()
    assert "later" not in text and text.index("first") < text.index("second")
    handler.close()  # writes what is held
    assert stream.getvalue().endswith("INFO x: later\n")


@pytest.mark.slow
def test_child_ignores_ctrl_c_meant_for_its_parent():
    with ProcessSpawner(name="calm") as proc:
        proc.proc.send_signal(signal.SIGINT)  # what a terminal's Ctrl-C does to the process group
        assert proc.client._import("os").getpid() == proc.pid
        assert proc.poll() is None
    assert proc.poll() == 0
