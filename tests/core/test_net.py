"""One transport helper module for every socket lslacq binds (issue 12, part 3)."""

import pytest
import zmq

from lslacq.core import net
from lslacq.core.rpc import RPCServer, log, security, server
from lslacq.core.stream import transport


def test_rpc_log_and_stream_servers_share_the_helpers():
    assert transport.connectable_address is net.connectable_address
    assert server.bind_server_socket is security.bind_server_socket
    assert log.bind_server_socket is security.bind_server_socket
    assert not hasattr(server, "_connectable")


@pytest.mark.parametrize("bound", ["tcp://0.0.0.0:5555", "tcp://*:5555", "tcp://[::]:5555"])
def test_wildcard_binds_advertise_this_hosts_address(bound, monkeypatch):
    monkeypatch.setattr(net._socket, "gethostname", lambda: "lab-pc")
    monkeypatch.setattr(net._socket, "gethostbyname", lambda name: "10.1.2.3" if name == "lab-pc" else "?")
    assert net.connectable_address(bound) == "tcp://10.1.2.3:5555"


def test_unresolvable_host_name_falls_back_to_loopback(monkeypatch):
    def fail(name):
        raise OSError("no such host")

    monkeypatch.setattr(net._socket, "gethostbyname", fail)
    assert net.connectable_address("tcp://0.0.0.0:7") == "tcp://127.0.0.1:7"


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:5555", "ipc:///tmp/x.ipc", "inproc://lslacq-abc"])
def test_other_addresses_are_unchanged(address):
    assert net.connectable_address(address) == address


def test_bind_server_socket_binds_loopback_and_closes_the_socket_on_refusal():
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.ROUTER)
    try:
        auth, address = security.bind_server_socket(sock, "tcp://127.0.0.1:*", name="test")
        assert auth is None and address.startswith("tcp://127.0.0.1:") and not address.endswith(":*")
    finally:
        sock.close(linger=0)
    refused = ctx.socket(zmq.ROUTER)
    with pytest.raises(ValueError, match="refusing to bind"):
        security.bind_server_socket(refused, "tcp://0.0.0.0:*", name="test")
    assert refused.closed


def test_rpc_server_reports_a_connectable_address():
    srv = RPCServer()
    try:
        assert srv.address.startswith("tcp://127.0.0.1:")
    finally:
        srv.close()
