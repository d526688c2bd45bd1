"""Fixtures for the RPC tests: servers in threads and spawned processes, all closed afterwards."""

from __future__ import annotations

import threading

import pytest

from lslacq.core.rpc import ProcessSpawner, RPCServer


@pytest.fixture
def start_server():
    """Return a function that starts an RPCServer in a thread (closed and joined after the test)."""
    started = []

    def start(**kwds) -> RPCServer:
        srv = RPCServer(**kwds)
        thread = threading.Thread(target=srv.run_forever, name=f"rpc-{srv.address}", daemon=True)
        thread.start()
        started.append((srv, thread))
        return srv

    yield start
    for srv, thread in started:
        srv.close()
        thread.join(5)
        assert not thread.is_alive(), f"server thread {thread.name} did not stop"


@pytest.fixture(scope="module")
def child():
    """One spawned process shared by the tests of a module."""
    proc = ProcessSpawner(name="test-child")
    yield proc
    assert proc.stop() == 0
