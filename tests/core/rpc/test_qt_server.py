"""QtRPCServer: requests run in the Qt event loop (offscreen)."""

from __future__ import annotations

import subprocess
import threading

import pytest
from helpers import wait_until

pytest.importorskip("PyQt5", reason="QtRPCServer tests need a Qt binding (the qt extra: PyQt5)")

from lslacq.core.rpc import ProcessSpawner, RPCClient  # noqa: E402
from lslacq.core.rpc.qt import QtRPCServer, get_qt_application  # noqa: E402

pytestmark = pytest.mark.qt


@pytest.mark.slow
def test_spawned_qt_process_runs_requests_in_the_gui_thread():
    with ProcessSpawner(name="gui", qt=True) as proc:
        binding = proc._import("lslacq.core.rpc.qt")._binding_order()[0]
        assert binding == "PyQt5"  # the users' binding, though PySide6 is installed here too
        qtwidgets = proc._import(f"{binding}.QtWidgets")
        app = qtwidgets.QApplication.instance()
        assert app is not None
        qtcore = proc._import(f"{binding}.QtCore")
        assert qtcore.QThread.currentThread() == app.thread()  # we are in the GUI thread
        widget = qtwidgets.QLabel("hello")
        widget.show()
        assert widget.isVisible() and widget.text() == "hello"
        widget.close()
        # closing the last window does not end the process: it serves requests until the server closes
        qtwidgets.QApplication.processEvents()
        with pytest.raises(subprocess.TimeoutExpired):  # still running after 1 s
            proc.proc.wait(1.0)
        assert widget.text() == "hello"
    assert proc.poll() == 0  # closing the server quit the QApplication and the process


def test_local_qt_server_with_client_thread_and_timer():
    app = get_qt_application()
    server = QtRPCServer(quit_on_close=False)
    server["value"] = {"n": 1}
    server.run_forever()
    ticks = []
    ticked = threading.Event()

    def tick():
        ticks.append(threading.current_thread())
        ticked.set()

    timer = server.start_timer(tick, 0.02)
    results = []

    def client_thread():
        client = RPCClient(server.address)
        results.append(client["value"])
        ticked.wait(5)
        client.close_server()
        client.close()

    thread = threading.Thread(target=client_thread)
    thread.start()
    try:
        wait_until(
            lambda: not server.running(),
            timeout=10,
            interval=0.005,
            what="the client thread to close the server",
            each=app.processEvents,
        )
    finally:
        thread.join(5)
    timer.stop()
    assert results == [{"n": 1}]
    assert not server.running()
    assert ticks and all(t is threading.main_thread() for t in ticks)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, "PyQt5"), ({"PYQTGRAPH_QT_LIB": "PySide6"}, "PySide6"), ({"QT_API": "pyside6"}, "PySide6")],
)
def test_binding_choice_matches_the_viewers(env, expected):
    import importlib.util
    import os
    import subprocess
    import sys

    # find_spec, not importorskip: importing PySide6 here would make pyqtgraph, when a later test in this
    # process first imports it, pick PySide6 next to the PyQt5 that Qt servers already use (two Qt libraries
    # in one process: test_qt_rpc then hung)
    if importlib.util.find_spec("PySide6") is None:
        pytest.skip("PySide6 is not installed")
    clean = {k: v for k, v in os.environ.items() if k not in ("PYQTGRAPH_QT_LIB", "QT_API")}
    code = "from lslacq.core.rpc.qt import qt_modules; print(qt_modules()[0].__name__.split('.')[0])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={**clean, **env})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


@pytest.mark.slow
def test_core_rpc_does_not_import_qt():
    import subprocess
    import sys

    code = (
        "import sys, lslacq.core.rpc, lslacq.core.manager, lslacq.core.host; "
        "from lslacq.core.rpc import RPCServer, ProcessSpawner; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_qt_node_needs_a_qt_nodegroup():
    from lslacq.core import create_manager
    from lslacq.errors import RemoteCallError

    man = create_manager("rpc", auto_close_at_exit=False)
    try:
        plain = man.create_nodegroup("plain")
        plain.register_node_type_from_module("qt_nodes", "LabelNode")
        with pytest.raises(RemoteCallError, match="qt=True"):
            plain.create_node("LabelNode")
        gui = man.create_nodegroup("gui", qt=True)
        gui.register_node_type_from_module("qt_nodes", "LabelNode")
        node = gui.create_node("LabelNode")
        node.show()
        assert node.isVisible()
        assert [d["state"] for d in man.list_nodegroups(details=True)] == ["running", "running"]
    finally:
        man.close()
