"""Entry point of processes started by ProcessSpawner (``python -m lslacq.core.rpc.bootstrap``).

The parent writes one JSON line of settings on the child's stdin and keeps the
pipe open: when the parent dies (even by SIGKILL) the child reads EOF and
exits, so no process is orphaned. Children ignore SIGINT (Ctrl-C in a terminal
is sent to the whole process group; the parent decides). The child reports its server address (or
its startup error) on a ZeroMQ PUSH socket to the parent.
"""

from __future__ import annotations

import faulthandler
import json
import logging
import os
import signal
import sys
import threading
import traceback

import zmq

logger = logging.getLogger("lslacq.core.rpc.bootstrap")
_EXITING = threading.Event()  # set when the child gives up by itself: the parent's EOF is then expected


def _watch_parent(server_ref: list, grace: float) -> None:
    """Block on stdin until EOF (parent gone), then close the server; hard-exit after ``grace`` s."""
    try:
        while os.read(0, 4096):  # raw fd read: no buffered-reader lock held at interpreter shutdown
            pass
    except OSError:
        pass
    if _EXITING.is_set():  # the parent closed our stdin after our startup error: nothing to report
        return
    logger.warning("parent process is gone: closing %s", server_ref[0] if server_ref else "process")
    killer = threading.Timer(grace, os._exit, args=(3,))
    killer.daemon = True
    killer.start()
    if server_ref:
        server_ref[0].close()
    else:
        os._exit(3)


def main() -> int:
    """Run a spawned process: read its configuration from stdin, serve RPC until closed; return its exit code."""
    # Ctrl-C in a terminal reaches the whole process group: only the parent should react (it closes us
    # cleanly, and we exit anyway when it dies), so a child ignores SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    line = sys.stdin.readline()
    if not line.strip():  # the parent closed our stdin before sending the configuration (Ctrl-C while spawning)
        return 1
    conf = json.loads(line)
    report: zmq.Socket = zmq.Context.instance().socket(zmq.PUSH)
    report.setsockopt(zmq.LINGER, 2000)
    report.connect(conf["bootstrap_addr"])
    server_ref: list = []
    try:
        for path in reversed(conf.get("sys_path") or []):
            if path not in sys.path:
                sys.path.insert(0, path)
        if sys.__stderr__ is not None:
            faulthandler.enable(file=sys.__stderr__)
        from . import log, security

        name = conf.get("name") or f"process-{os.getpid()}"
        log.set_process_name(name)
        log.set_thread_name("main")
        if conf.get("log_level") is not None:
            logging.getLogger().setLevel(conf["log_level"])
        if conf.get("secret_key") or conf.get("authorized_keys"):
            security.set_default_keys(conf.get("secret_key"), conf.get("authorized_keys"))
        if conf.get("log_addr"):
            log.set_logger_address(conf["log_addr"], conf.get("log_key"))
            log.log_exceptions()
            log.forward_stdio()
        watchdog = threading.Thread(
            target=_watch_parent,
            args=(server_ref, conf.get("exit_grace", 3.0)),
            name="lslacq-parent-watchdog",
            daemon=True,
        )
        watchdog.start()
        if conf.get("qt"):
            from ...qtcheck import preflight
            from .qt import QtRPCServer, get_qt_application

            problem = preflight()  # Qt aborts a process whose platform plugin cannot load: say why instead
            if problem:
                _EXITING.set()
                report.send_json(
                    {"error": f"process {name!r} cannot open Qt windows (its viewers): {problem}", "reason": True}
                )  # a known cause, said plainly: no traceback
                report.close()
                return 1
            app = get_qt_application()
            # the process lives as long as its server, not as long as its windows: closing a viewer must
            # not end the process and the other nodes in it
            app.setQuitOnLastWindowClosed(False)
            server: RPCServer = QtRPCServer(conf["address"], quit_on_close=True)
        else:
            from .server import RPCServer

            app = None
            server = RPCServer(conf["address"], name=name)
        server_ref.append(server)
    except BaseException:
        report.send_json({"error": traceback.format_exc()})
        report.close()
        return 1
    report.send_json({"address": server.address, "pid": os.getpid(), "public_key": server.public_key})
    report.close()
    if app is not None:
        server.run_forever()
        app.exec()
    else:
        server.run_forever()
    logger.debug("process %s exiting", conf.get("name"))
    logging.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
