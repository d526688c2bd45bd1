"""Stream data off loopback follows the RPC key policy: CurveZMQ readers with an authorized key only (issue 28).

Real pyzmq sockets on all interfaces of this machine (``0.0.0.0`` is off
loopback); the process's keys are set as a host, a manager or a script sets
them (``security.set_default_keys``) and restored after each test.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import zmq

from lslacq.core.rpc import security
from lslacq.core.stream import InputStream, OutputStream
from lslacq.core.stream.transport import JOIN


@pytest.fixture
def keys(tmp_path):
    """The lab's key pair (authorized), an intruder's (not), and the process keys restored afterwards."""
    saved = security.get_default_keys()
    (tmp_path / "authorized").mkdir()
    lab_public, lab_secret = security.create_keys(tmp_path, "lab")
    (tmp_path / "authorized" / "lab.key").write_bytes(lab_public.read_bytes())
    intruder_public, intruder_secret = security.create_keys(tmp_path / "intruder", "intruder")
    security.set_default_keys(lab_secret, tmp_path / "authorized")
    yield {"lab": lab_secret, "intruder": intruder_secret, "intruder_public": intruder_public}
    security.set_default_keys(saved["secret_key"], saved["authorized_keys"])


def _output(name: str, interface: str = "0.0.0.0") -> OutputStream:
    out = OutputStream(name=name)
    out.configure(protocol="tcp", interface=interface, dtype="float32", shape=(-1, 4))
    return out


def _chunk(k: int) -> np.ndarray:
    return np.arange(8 * 4, dtype=np.float32).reshape(8, 4) + k


def test_an_output_off_loopback_in_a_process_with_keys_serves_only_authorized_readers(keys, caplog):
    out = _output("protected")
    inp = InputStream(name="lab-reader")
    try:
        assert len(out.params["server_key"]) == 40  # the readers authenticate against it
        inp.connect(out, timeout=5)  # this process's (the lab's) key
        for k in range(3):
            out.send(_chunk(k))
            index, data = inp.recv(timeout=5000)
            assert index == 8 * (k + 1) and np.array_equal(data, _chunk(k))
        # an intruder's key: refused at once, with a message naming the stream and the key to authorize
        intruder = InputStream(name="intruder")
        with caplog.at_level(logging.WARNING, logger="lslacq"):
            with pytest.raises(ConnectionRefusedError) as refused:
                intruder.connect(out, timeout=5, secret_key=keys["intruder"])
        message = str(refused.value)
        public = security.load_key_pair(keys["intruder"])[0].decode()
        assert "'protected'" in message and public in message and "authorized" in message, message
        assert any("stream output" in r.getMessage() and public in r.getMessage() for r in caplog.records)
        # the lab's reader is unaffected
        out.send(_chunk(3))
        assert inp.recv(timeout=5000)[0] == 32 and inp.lost_samples == 0
    finally:
        inp.close()
        out.close()


def test_a_reader_without_keys_is_told_what_to_configure_and_a_plain_client_gets_nothing(keys):
    out = _output("protected")
    raw = zmq.Context.instance().socket(zmq.DEALER)
    raw.setsockopt(zmq.LINGER, 0)
    try:
        security.set_default_keys(None, None)  # a process without keys
        with pytest.raises(ValueError, match=r"'protected'.*no key pair.*secret_key="):
            InputStream(name="keyless").connect(out, timeout=5)
        # a client that ignores the server key (plain tcp) gets no HELLO and no data
        raw.connect(out.url)
        raw.send_multipart([JOIN, b"{}"])
        for k in range(3):
            out.send(_chunk(k))
        assert not raw.poll(500)
        assert out.subscriber_count() == 0
        # and an InputStream given the params without the server key is told why
        security.set_default_keys(keys["lab"], None)
        plain = {k: v for k, v in out.params.items() if k != "server_key"}
        with pytest.raises(ConnectionRefusedError, match=r"'protected'.*no server_key"):
            InputStream(name="plain").connect(plain, timeout=5)
    finally:
        raw.close(0)
        out.close()


def test_a_wrong_server_key_is_named(keys):
    out = _output("protected")
    inp = InputStream(name="misled")
    try:
        params = dict(out.params)
        wrong = security.load_public_keys(keys["intruder_public"]).pop().decode()
        params["server_key"] = wrong
        with pytest.raises(ConnectionRefusedError) as failed:
            inp.connect(params, timeout=5)
        message = str(failed.value)
        assert wrong in message and "'protected'" in message and "server_key" in message, message
    finally:
        inp.close()
        out.close()


@pytest.mark.parametrize("protocol", ["tcp", "ipc", "inproc"])
def test_loopback_streams_need_no_keys(keys, protocol):
    out = OutputStream(name="local")
    out.configure(protocol=protocol, dtype="float32", shape=(-1, 4))  # 127.0.0.1, a socket file, inproc
    inp = InputStream(name="keyless")
    try:
        assert "server_key" not in out.params
        security.set_default_keys(None, None)
        inp.connect(out, timeout=5)
        out.send(_chunk(0))
        assert np.array_equal(inp.recv(timeout=5000)[1], _chunk(0))
    finally:
        inp.close()
        out.close()


def test_an_output_off_loopback_without_keys_stays_open_and_says_so(caplog):
    saved = security.get_default_keys()
    security.set_default_keys(None, None)
    try:
        with caplog.at_level(logging.WARNING, logger="lslacq"):
            out = _output("open")
        inp = InputStream(name="anyone")
        try:
            assert "server_key" not in out.params
            assert any("without CurveZMQ" in r.getMessage() and "open" in r.getMessage() for r in caplog.records)
            inp.connect(out, timeout=5)
            out.send(_chunk(0))
            assert inp.recv(timeout=5000)[0] == 8
        finally:
            inp.close()
            out.close()
    finally:
        security.set_default_keys(saved["secret_key"], saved["authorized_keys"])
