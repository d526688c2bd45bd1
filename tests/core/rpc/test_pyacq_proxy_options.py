"""Manual 5.2: proxy options and RPCClient.disconnected()/close_server, against real sockets.

The options: _set_proxy_options, _return_type, no_proxy_types, defer_getattr, _get_value.
"""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest
from helpers import wait_until

from lslacq.core.rpc import ObjectProxy, ProcessSpawner, RPCClient, RPCServer
from lslacq.core.rpc.client import ServerGoneError
from lslacq.errors import RemoteCallError


class Thing:
    def __init__(self):
        self.n = 5
        self.items = [1, 2]

    def get(self):
        return {"a": 1}

    def count(self):
        return 3


def _kind(obj):
    return type(obj).__name__


@pytest.fixture
def thing(start_server):
    srv = start_server()
    srv["thing"] = Thing()
    srv["kind"] = _kind
    client = RPCClient(srv.address)
    yield client, client["thing"]
    client.close()


def test_manual_5_2_return_type_per_call(thing):
    client, _ = thing
    rnp = client._import("numpy")
    arr_proxy = rnp.array([1, 2, 3, 4], _return_type="proxy")
    arr_value = rnp.array([1, 2, 3, 4], _return_type="value")
    assert isinstance(arr_proxy, ObjectProxy)
    np.testing.assert_array_equal(arr_value, [1, 2, 3, 4])
    np.testing.assert_array_equal(arr_proxy._get_value(), [1, 2, 3, 4])


def test_lslacq_default_returns_plain_values_by_value(thing):
    _, remote = thing
    assert remote.n == 5 and remote.get() == {"a": 1}


def test_manual_5_2_return_type_per_proxy_and_get_value(thing):
    """Code written for pyacq that asks for a proxy of an attribute, then calls ._get_value()."""
    _, remote = thing
    remote._set_proxy_options(return_type="proxy")
    n = remote.n
    assert isinstance(n, ObjectProxy) and n._get_value() == 5
    result = remote.get()  # the method proxy inherits the option: its result is a proxy too
    assert isinstance(result, ObjectProxy) and result._get_value() == {"a": 1}
    assert remote.get(_return_type="value") == {"a": 1}  # a per-call option wins
    remote._set_proxy_options(return_type=None)  # None restores the default
    assert remote.n == 5


def test_client_set_proxy_options_applies_to_received_proxies(thing):
    client, _ = thing
    client.set_proxy_options(return_type="proxy")
    try:
        remote = client["thing"]
        assert isinstance(remote.count(), ObjectProxy)
    finally:
        client.set_proxy_options(return_type=None)


def test_manual_5_2_defer_getattr_does_not_ask_the_server(thing):
    _, remote = thing
    remote._set_proxy_options(defer_getattr=True)
    missing = remote.no_such_attribute  # no round trip, hence no error yet
    assert isinstance(missing, ObjectProxy)
    with pytest.raises(AttributeError, match="no_such_attribute"):
        missing._get_value()
    assert remote.n._get_value() == 5 and remote.items._get_value() == [1, 2]
    assert remote.count() == 3  # calls still go through


def test_manual_5_2_no_proxy_types_decides_auto_returns(thing):
    _, remote = thing
    remote._set_proxy_options(no_proxy_types=[int])
    assert remote.count() == 3  # an int: by value
    got = remote.get()  # a dict is not listed: by proxy
    assert isinstance(got, ObjectProxy) and got._get_value() == {"a": 1}
    items = remote.items
    assert isinstance(items, ObjectProxy) and items._get_value() == [1, 2]
    remote._set_proxy_options(no_proxy_types=[int, dict, list])
    assert remote.get() == {"a": 1} and remote.items == [1, 2]
    with pytest.raises(TypeError, match="list of types"):
        remote._set_proxy_options(no_proxy_types=["int"])


def test_manual_5_2_no_proxy_types_sends_other_arguments_by_proxy(thing):
    client, _ = thing
    kind = client["kind"]
    local = RPCServer()
    local.run_lazy()  # a server in this thread: what makes proxies of our objects possible
    try:
        assert kind([1, 2]) == "list"
        kind._set_proxy_options(no_proxy_types=[int, str])
        assert kind([1, 2]) == "ObjectProxy"  # the remote side received a proxy to our list
        assert kind(7) == "int"
        kind._set_proxy_options(auto_proxy=False)
        assert kind([1, 2]) == "list"  # no auto-proxying: by value
    finally:
        local.close()


def test_manual_5_2_close_server_informs_every_client(start_server):
    srv = start_server()
    first, second = RPCClient(srv.address), RPCClient(srv.address)
    try:
        assert first.ping() == "pong" and second.ping() == "pong"
        assert not second.disconnected()
        assert first.close_server() is True
        # the other client learns it without sending anything
        assert wait_until(second.disconnected, 10)
        assert first.disconnected()
        with pytest.raises(RemoteCallError, match="has closed"):
            second.ping()
        assert second.close_server() is True  # already disconnected: True without error
    finally:
        first.close()
        second.close()


@pytest.mark.slow
def test_pyacq_call_to_a_dead_server_raises_timeout_error():
    proc = ProcessSpawner(name="doomed")
    client = RPCClient(proc.address)
    try:
        assert client.ping() == "pong"
        proc.proc.send_signal(signal.SIGKILL)
        assert proc.proc.wait(30) == -signal.SIGKILL
        assert wait_until(client.disconnected, 10)  # noticed without a request
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="unreachable|lost the connection") as info:
            client.ping(timeout=5)
        assert time.monotonic() - started < 5  # within its timeout
        assert isinstance(info.value, (ServerGoneError, RemoteCallError))
        assert client.close_server() is True  # the server is gone: True without error, as the manual says
    finally:
        client.close()
        proc.kill()


@pytest.mark.slow
def test_pyacq_call_in_flight_when_the_server_dies_raises_timeout_error():
    proc = ProcessSpawner(name="doomed-busy")
    client = RPCClient(proc.address)
    try:
        helpers = client._import("rpc_helpers")
        future = client.call_obj(helpers.sleep_and_return, (60, "never"), sync="async")
        proc.proc.send_signal(signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="lost the connection"):
            future.result(timeout=30)
        assert time.monotonic() - started < 30
    finally:
        client.close()
        proc.kill()


def test_a_new_server_on_a_reused_address_gets_a_fresh_client(start_server):
    """A goodbye from a closed server, still unread, must not make the next server at the same address look closed.

    The OS reuses ports: get_client reads the goodbye and starts a fresh client.
    """
    first = start_server()
    address = first.address
    old = RPCClient.get_client(address)
    assert old.ping() == "pong"
    first.close()  # tells every client it knows; `old` has not read that yet

    def bind_again():
        try:
            return start_server(address=address)
        except Exception:  # the first server's thread may still hold the port for a moment
            return None

    wait_until(bind_again, 10, what="the address to be free again")
    client = RPCClient.get_client(address)
    assert client is not old and client.ping() == "pong"
    RPCClient.close_client(address)
