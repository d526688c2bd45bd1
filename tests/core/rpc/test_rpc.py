"""RPCServer / RPCClient / ObjectProxy / Future against real ZeroMQ sockets."""

from __future__ import annotations

import collections
import concurrent.futures
import os
import threading

import numpy as np
import pytest
import rpc_helpers
from helpers import wait_until

from lslacq.core.rpc import Future, ObjectProxy, RPCClient, RPCServer
from lslacq.errors import RemoteCallError


@pytest.mark.slow
def test_manual_overview_example(child):
    """Manual 5.2.1: import a module remotely and use an OrderedDict as if it were local."""
    remote_col = child.client._import("collections")
    remote_dict = remote_col.OrderedDict()
    assert isinstance(remote_dict, ObjectProxy)
    remote_dict["x"] = 1
    assert "x" in remote_dict.keys()
    assert remote_dict["x"] == 1
    assert len(remote_dict) == 1
    assert remote_dict._get_value() == {"x": 1}


def test_sync_async_off_and_return_types(child):
    ros = child._import("os")
    assert ros.getpid() == child.pid != os.getpid()
    future = ros.getpid(_sync="async")
    assert isinstance(future, Future)
    assert future.result(timeout=10) == child.pid and future.done() and future.hasResult()
    rsys = child._import("sys")
    assert rsys.stdout.write("x", _sync="off") is None
    rnp = child._import("numpy")
    arr_proxy = rnp.array([1, 2, 3, 4], _return_type="proxy")
    assert isinstance(arr_proxy, ObjectProxy)
    assert arr_proxy.sum() == 10
    arr_value = rnp.array([1, 2, 3, 4], _return_type="value")
    np.testing.assert_array_equal(arr_value, [1, 2, 3, 4])
    with pytest.raises(RemoteCallError, match="by value"):
        child._import("threading").Lock(_return_type="value")


def test_remote_exception_carries_traceback(child):
    helpers = child._import("rpc_helpers")
    counter = helpers.Counter()
    with pytest.raises(RemoteCallError) as info:
        counter.fail("bad thing 42")
    err = info.value
    assert isinstance(err, ValueError)  # common builtins keep their type
    assert err.remote_type == "ValueError"
    assert "bad thing 42" in str(err)
    assert any("rpc_helpers.py" in line for line in err.remote_traceback)
    future = counter.fail("async failure", _sync="async")
    with pytest.raises(RemoteCallError, match="async failure"):
        future.result(10)
    # hasattr works on proxies (the remote AttributeError is an AttributeError)
    assert not hasattr(counter, "no_such_attribute")
    assert hasattr(counter, "add")


def test_attributes_items_setattr(child):
    helpers = child._import("rpc_helpers")
    counter = helpers.Counter()
    assert counter.count == 0
    assert counter.add(5) == 5
    assert counter.add(n=2) == 7
    counter.count = 100
    assert counter.count == 100
    add = counter.add
    assert add is counter.add  # method proxies are cached: one round trip per call afterwards
    assert add() == 101
    rcol = child._import("collections")
    d = rcol.OrderedDict()
    d["a"] = [1, (2, 3)]
    assert d["a"] == [1, [2, 3]]  # tuples arrive as lists
    del d["a"]
    assert "a" not in d


def test_proxy_repr_hash_eq_are_local():
    proxy = ObjectProxy("tcp://127.0.0.1:1", 3, 4, "<class 'dict'>", ("x",))
    same = ObjectProxy("tcp://127.0.0.1:1", 3, 99, "", ("x",))
    assert "tcp://127.0.0.1:1" in repr(proxy) and "dict" in str(proxy)
    assert proxy == same and hash(proxy) == hash(same)
    assert proxy != ObjectProxy("tcp://127.0.0.1:1", 3, 4, "", ())
    assert {proxy: 1}[same] == 1
    assert bool(proxy)


def test_proxy_options(child):
    helpers = child._import("rpc_helpers")
    counter = helpers.Counter()
    counter._set_proxy_options(sync="async")
    future = counter.add(1)
    assert isinstance(future, Future) and future.result(10) == 1
    counter._set_proxy_options(sync=None, defer_getattr=True)
    lazy = counter.no_such_method  # no round trip, no error yet
    assert isinstance(lazy, ObjectProxy)
    with pytest.raises(AttributeError):
        lazy()
    with pytest.raises(TypeError, match="unknown proxy option"):
        counter._set_proxy_options(colour="red")
    with pytest.raises(ValueError, match="sync"):
        counter._set_proxy_options(sync="maybe")


def test_delete_releases_the_object(child):
    helpers = child._import("rpc_helpers")
    counter = helpers.Counter()
    counter._delete()
    with pytest.raises(RemoteCallError, match="no object with id"):
        counter.add()


@pytest.mark.slow
def test_proxy_passed_to_a_third_process(child):
    """A proxy to an object in process A keeps working when sent to process B."""
    from lslacq.core.rpc import ProcessSpawner

    with ProcessSpawner(name="third") as other:
        a_getpid = child._import("rpc_helpers").getpid
        b_helpers = other._import("rpc_helpers")
        assert b_helpers.call(a_getpid) == child.pid  # B calls A directly
        assert b_helpers.getpid() == other.pid


def test_reentrant_calls_do_not_deadlock(child):
    """The test's thread (lazy server) calls the child, which calls back into the test's thread."""
    server = RPCServer()
    server.run_lazy()
    try:
        local = rpc_helpers.Counter()
        remote = child._import("rpc_helpers").Counter()
        # the child calls local.add via a proxy while we wait for its reply
        assert remote.call_back(server.get_proxy(local).add, 3) == 3
        assert local.count == 3
        # local objects are sent by proxy automatically when a server runs here
        assert remote.call_back(local.add, 2) == 5
    finally:
        server.close()
    assert RPCServer.get_server() is None


def test_reentrant_between_two_thread_servers(start_server):
    """A (thread server) calls B which calls A again while A waits."""
    srv_a = start_server()
    srv_b = start_server()
    srv_a["counter"] = rpc_helpers.Counter()
    srv_b["counter"] = rpc_helpers.Counter()
    client = RPCClient(srv_a.address)
    counter_a = client["counter"]
    counter_b = RPCClient.get_client(srv_b.address)["counter"]
    # A.call_back(B.call_back, A.add, 4): A's thread calls B, B calls A.add
    assert counter_a.call_back(counter_b.call_back, counter_a.add, 4, _timeout=10) == 4


def test_one_server_per_thread():
    with RPCServer() as first:
        first.run_lazy()
        with RPCServer() as second:
            with pytest.raises(RuntimeError, match="one server per thread"):
                second.run_lazy()
        assert RPCServer.get_server() is first
        assert RPCServer.local_client().address == first.address


def test_client_api(start_server):
    srv = start_server()
    srv["data"] = {"a": 1}
    client = RPCClient.get_client(srv.address)
    assert RPCClient.get_client(srv.address) is client
    client.ensure_connection(timeout=5)
    assert client.ping() == "pong"
    assert client["data"] == {"a": 1}
    client["published"] = [1, 2]
    assert srv["published"] == [1, 2]
    copy = client.transfer({"k": "v"})
    assert isinstance(copy, ObjectProxy) and copy["k"] == "v"
    assert abs(client.measure_clock_diff()) < 1.0  # same machine clock
    with pytest.raises(RemoteCallError, match="publishes no object named"):
        client["missing"]
    future = client.send("ping", sync="async")
    assert future.result(5) == "pong"
    assert client.send("ping", sync="off") is None
    with pytest.raises(ValueError, match="sync mode"):
        client.send("ping", sync="later")
    other = RPCClient(srv.address)  # (an explicit second client to the same server)
    proxy = other.transfer([1, 2])
    other.delete(proxy)  # pyacq's RPCClient.delete(proxy)
    with pytest.raises(RemoteCallError, match="no object with id"):
        proxy._get_value()
    other.close()
    assert client.close_server() is True
    # the server says goodbye: the client knows it is disconnected
    for _ in range(100):
        client.process()
        if client.disconnected():
            break
        threading.Event().wait(0.05)
    assert client.disconnected()
    with pytest.raises(RemoteCallError, match="has closed"):
        client.ping()
    assert client.close_server() is True  # already disconnected: True without error


@pytest.mark.slow
def test_timeout_and_cancel(child):
    helpers = child._import("rpc_helpers")
    with pytest.raises(TimeoutError, match="within the timeout"):
        helpers.sleep_and_return(1.0, "late", _timeout=0.2)
    slow = helpers.sleep_and_return(0.5, "x", _sync="async")
    assert slow.cancel() and slow.cancelled()
    with pytest.raises(concurrent.futures.CancelledError):
        slow.result()
    assert helpers.sleep_and_return(0, "ok") == "ok"  # late replies are discarded, the client still works


def test_pipelined_async_calls_resolve_in_order(child):
    add = child._import("rpc_helpers").Counter().add
    futures = [add(1, _sync="async") for _ in range(2000)]
    assert futures[-1].result(30) == 2000
    assert [f.result(0) for f in futures] == list(range(1, 2001))


def test_proxy_used_from_another_thread(child):
    """Each thread gets its own client; futures can be awaited from another thread."""
    rcount = child._import("rpc_helpers").Counter()
    results = []

    def worker():
        results.append(rcount.add(10))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(10)
    assert results == [10]
    future = rcount.add(1, _sync="async")
    done = []
    waiter = threading.Thread(target=lambda: done.append(future.result(10)))
    waiter.start()
    wait_until(  # the owner thread reads the reply; the waiter is woken
        lambda: not waiter.is_alive(), timeout=20, what="the waiter to get its reply", each=child.client.process
    )
    assert done == [11]


def test_server_timer_and_lazy_processing():
    server = RPCServer()
    fired = threading.Event()
    timer = server.start_timer(fired.set, 0.05)
    thread = threading.Thread(target=server.run_forever)
    thread.start()
    try:
        assert fired.wait(5)
    finally:
        timer.stop()
        server.close()
        thread.join(5)
    assert not thread.is_alive() and not server.running()

    lazy = RPCServer()
    lazy["x"] = 5
    holder = []
    thread = threading.Thread(target=lambda: holder.append(RPCClient(lazy.address)["x"]))
    thread.start()
    assert lazy._read_and_process_one(timeout=5)
    thread.join(5)
    assert holder == [5]
    lazy.close()


def test_json_client(start_server):
    srv = start_server()
    srv["obj"] = collections.OrderedDict(a=1)
    client = RPCClient(srv.address, serializer="json")
    try:
        obj = client["obj"]
        assert obj["a"] == 1
        assert list(obj.keys()) == ["a"]
        np.testing.assert_array_equal(client.transfer(np.arange(3))._get_value(), np.arange(3))
    finally:
        client.close()


def test_auto_delete_and_auto_proxy(start_server):
    import gc

    srv = start_server()
    srv["factory"] = rpc_helpers.Counter
    client = RPCClient(srv.address)
    factory = client["factory"]
    before = len(srv._objects)
    counter = factory(_return_type="proxy")
    counter._set_proxy_options(auto_delete=True)
    assert len(srv._objects) == before + 1
    del counter
    gc.collect()
    assert client.ping() == "pong"  # the release request goes out with the next request
    assert client.ping() == "pong"
    assert len(srv._objects) == before

    server = RPCServer()
    server.run_lazy()
    try:
        remote = factory()
        remote.call_back(rpc_helpers.getpid)  # a local function travels by proxy...
        remote._set_proxy_options(auto_proxy=False)
        with pytest.raises(TypeError, match="by value"):  # ...unless auto_proxy is off
            remote.call_back(rpc_helpers.getpid)
        assert remote.add(2) == 2
    finally:
        server.close()


def test_manual_object_proxy_examples(child):
    """Manual 5.2.2: async with hasResult(), disabled return, callbacks through a local server."""
    ros = child.client._import("os")
    request = ros.getpid(_sync="async")
    wait_until(request.hasResult, timeout=10, what="the async getpid() result")
    assert request.result() == child.pid
    rsys = child.client._import("sys")
    assert rsys.stdout.write("hello", _sync="off") is None

    called = []

    def callback():
        called.append(True)
        return "called back."

    server = RPCServer()
    server.run_lazy()
    try:
        remote_object = child._import("rpc_helpers").Counter()
        assert remote_object.call_back(callback) == "called back."
        assert called == [True]
    finally:
        server.close()


def test_client_level_proxy_defaults(child):
    from lslacq.core.rpc import RemoteCallException

    assert RemoteCallException is RemoteCallError  # pyacq's name still works
    child.set_proxy_options(sync="async")
    try:
        ros = child._import("os", sync="sync")
        future = ros.getpid()  # proxies received from now on default to async calls
        assert isinstance(future, Future) and future.result(10) == child.pid
    finally:
        child.set_proxy_options(sync=None)
    assert child._import("os").getpid() == child.pid
    with pytest.raises(ValueError, match="sync"):
        child.set_proxy_options(sync="sometimes")


def test_many_threads_share_one_proxy(child):
    """Threads calling the same proxy concurrently each get their own replies."""
    counter = child._import("rpc_helpers").Counter()
    add = counter.add
    results: dict[int, list] = {}
    errors = []

    def worker(n):
        try:
            results[n] = [add(1) for _ in range(200)]
            futures = [add(0, _sync="async") for _ in range(50)]
            results[n] += [f.result(30) * 0 for f in futures]
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            RPCClient.close_thread_clients()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert counter.count == 800
    for values in results.values():
        assert values[:200] == sorted(values[:200]) and len(set(values[:200])) == 200
