"""CurveZMQ: non-loopback binds need keys; unknown clients are refused and logged."""

from __future__ import annotations

import logging
import threading

import pytest

from lslacq.cli import main as lslacq_main
from lslacq.core.rpc import RPCClient, RPCServer, security
from lslacq.errors import RemoteCallError


@pytest.fixture
def keys(tmp_path):
    server_pub, server_sec = security.create_keys(tmp_path / "server", "server")
    client_pub, client_sec = security.create_keys(tmp_path / "clients", "client")
    _, stranger_sec = security.create_keys(tmp_path / "strangers", "stranger")
    return {
        "server_sec": server_sec,
        "client_sec": client_sec,
        "authorized": tmp_path / "clients",
        "stranger_sec": stranger_sec,
    }


def test_loopback_detection():
    assert security.is_loopback_address("tcp://127.0.0.1:*")
    assert security.is_loopback_address("tcp://127.0.0.3:5000")
    assert security.is_loopback_address("tcp://localhost:5000")
    assert security.is_loopback_address("ipc:///tmp/x")
    assert not security.is_loopback_address("tcp://0.0.0.0:*")
    assert not security.is_loopback_address("tcp://*:5000")
    assert not security.is_loopback_address("tcp://10.1.2.3:5000")


def test_non_loopback_bind_without_keys_is_refused():
    with pytest.raises(ValueError, match="lslacq keygen"):
        RPCServer("tcp://0.0.0.0:*")
    with pytest.raises(ValueError, match="lslacq keygen"):
        RPCServer("tcp://*:*")


@pytest.mark.slow
def test_curve_server_accepts_only_authorized_clients(keys, start_server, caplog):
    srv = start_server(
        address="tcp://0.0.0.0:*", curve_secret_key=keys["server_sec"], authorized_keys=keys["authorized"]
    )
    assert srv.public_key and len(srv.public_key) == 40
    assert not srv.address.startswith("tcp://0.0.0.0")  # a wildcard bind advertises a reachable address
    port_addr = "tcp://127.0.0.1:" + srv.address.rsplit(":", 1)[1]
    srv["secret"] = 42
    good = RPCClient(port_addr, server_key=srv.public_key, secret_key=keys["client_sec"])
    assert good["secret"] == 42
    # proxies carry the server's public key; threads using the process key pair can use them
    security.set_default_keys(secret_key=keys["client_sec"])
    try:
        box = good._import("collections").Counter()
        result = []
        thread = threading.Thread(target=lambda: result.append(box.update({"a": 2}) or box["a"]))
        thread.start()
        thread.join(10)
        assert result == [2]
    finally:
        security.set_default_keys(None, None)
    good.close()

    with caplog.at_level(logging.WARNING, logger="lslacq.core.rpc.security"):
        stranger = RPCClient(port_addr, server_key=srv.public_key, secret_key=keys["stranger_sec"])
        with pytest.raises(RemoteCallError, match="refused the CurveZMQ handshake"):
            stranger.ping(timeout=10)  # fails as soon as the handshake is refused, not at the timeout
        stranger.close()
        assert "refused a client with unknown CurveZMQ key" in caplog.text
    plain = RPCClient(port_addr)  # no Curve at all: the handshake never completes
    with pytest.raises((TimeoutError, RemoteCallError)):
        plain.ping(timeout=2)
    plain.close()


def test_client_without_key_pair_gets_a_clear_error(keys):
    with pytest.raises(ValueError, match="lslacq keygen"):
        RPCClient("tcp://10.0.0.1:5000", server_key="x" * 40)


@pytest.mark.parametrize("server_key", ["", "abc", b"\x00" * 40])
def test_a_malformed_server_key_is_named_before_the_missing_key_pair(server_key, monkeypatch):
    monkeypatch.setattr(security, "get_default_keys", lambda: {"secret_key": None, "authorized_keys": None})
    with pytest.raises(ValueError, match=r"server_key=.* for tcp://127.0.0.1:5999 is not"):
        RPCClient("tcp://127.0.0.1:5999", server_key=server_key)


def test_keygen_command(tmp_path, capsys):
    assert lslacq_main(["keygen", str(tmp_path), "--name", "lab"]) == 0
    assert (tmp_path / "lab.key").is_file() and (tmp_path / "lab.key_secret").is_file()
    assert (tmp_path / "lab.key_secret").stat().st_mode & 0o077 == 0
    public, secret = security.load_key_pair(tmp_path / "lab.key_secret")
    assert security.load_public_keys(tmp_path) == {public}
    assert "lab.key" in capsys.readouterr().out


def test_host_command_refuses_public_bind_without_keys(capsys):
    assert lslacq_main(["host", "tcp://0.0.0.0:*"]) == 2
    err = capsys.readouterr().err
    assert "refusing to bind" in err and "--key" in err
