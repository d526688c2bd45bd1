"""Log forwarding in both directions with dareplane-utils' own handler and receiver."""

from __future__ import annotations

import json
import logging
import socket
import struct
import threading

import pytest
from helpers import wait_until

from lslacq_dareplane.log_forwarding import (
    DEFAULT_LOG_PORT,
    JsonSocketHandler,
    LogRecordSocketReceiver,
    get_logger,
    record_from_dict,
)


@pytest.fixture
def receiver():
    records = []
    arrived = threading.Condition()

    def on_record(rec):
        with arrived:
            records.append(rec)
            arrived.notify_all()

    rcv = LogRecordSocketReceiver(port=0, dispatch=False, on_record=on_record)
    rcv.records = records
    rcv.arrived = arrived
    rcv.wait_n = lambda n, timeout=20: _wait_n(rcv, n, timeout)
    rcv.start()
    yield rcv
    rcv.shutdown()


def _wait_n(rcv, n, timeout):
    with rcv.arrived:
        return rcv.arrived.wait_for(lambda: len(rcv.records) >= n, timeout)


@pytest.fixture
def fresh_logger():
    loggers = []

    def make(name, handler):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        loggers.append((logger, handler))
        return logger

    yield make
    for logger, handler in loggers:
        logger.handlers = []
        handler.close()


def test_our_handler_to_dareplane_receiver(peer, tmp_path, fresh_logger):
    logfile = tmp_path / "dareplane.log"
    dp = peer("dareplane_log_receiver.py", str(logfile))
    logger = fresh_logger("lslacq_module", JsonSocketHandler("127.0.0.1", dp.port))
    logger.info("hello %s, %d trials", "dareplane", 3)
    logger.warning("literal %s and 100% kept")
    try:
        {}["sampling_rate"]
    except KeyError:
        logger.exception("configure failed")
    logger.error("done")

    def text():
        return logfile.read_text() if logfile.exists() else ""

    wait_until(lambda: "done" in text(), interval=0.02, what=lambda: f"'done' in the log file, which holds: {text()!r}")
    content = text()
    assert " - lslacq_module - INFO - hello dareplane, 3 trials" in content
    assert " - lslacq_module - WARNING - literal %s and 100% kept" in content
    assert " - lslacq_module - ERROR - configure failed" in content
    assert "Traceback (most recent call last)" in content and "KeyError: 'sampling_rate'" in content
    dp.kill()


def test_dareplane_handler_to_our_receiver(peer, receiver):
    sender = peer("dareplane_log_sender.py", str(receiver.port))
    assert receiver.wait_n(4), receiver.records
    sender.stop()
    recs = receiver.records
    assert [r.getMessage() for r in recs] == [
        "plain message from dareplane",
        "formatted n_trials=12",
        "decoder crashed",
        "last record",
    ]
    assert [r.levelname for r in recs] == ["INFO", "WARNING", "ERROR", "DEBUG"]
    assert all(r.name == "dp_module" for r in recs)
    assert isinstance(recs[0].created, float) and recs[0].created > 1e9
    # dareplane falls back to str() for the record with exc_info; the traceback text survives
    formatted = logging.Formatter("%(levelname)s %(message)s").format(recs[2])
    assert "ZeroDivisionError" in formatted
    assert receiver.errors == 0


def test_roundtrip_through_our_receiver_keeps_traceback_and_extras(receiver, fresh_logger):
    logger = fresh_logger("roundtrip", JsonSocketHandler("127.0.0.1", receiver.port))
    try:
        raise ValueError("bad channel count 0")
    except ValueError:
        logger.exception("stream %s failed", "EEG", extra={"module_name": "dp-eeg"})
    logger.info("progress 50%s", "%")
    assert receiver.wait_n(2)
    rec = receiver.records[0]
    assert rec.getMessage() == "stream EEG failed"
    assert rec.module_name == "dp-eeg"
    assert "ValueError: bad channel count 0" in logging.Formatter().format(rec)
    assert receiver.records[1].getMessage() == "progress 50%"


def test_records_logged_while_receiver_down_are_sent_later(fresh_logger):
    probe = LogRecordSocketReceiver(port=0)
    port = probe.port
    probe.shutdown()
    handler = JsonSocketHandler("127.0.0.1", port, backlog=100)
    logger = fresh_logger("offline", handler)
    for i in range(5):
        logger.info("offline record %d", i)
    assert len(handler.backlog) == 5
    got = []
    done = threading.Event()

    def on_record(rec):
        got.append(rec.getMessage())
        if len(got) == 6:
            done.set()

    with LogRecordSocketReceiver(port=port, dispatch=False, on_record=on_record):
        handler.flush()
        logger.info("online record")
        assert done.wait(20), got
    assert got == [f"offline record {i}" for i in range(5)] + ["online record"]


def test_receiver_survives_malformed_input(receiver, fresh_logger):
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=10) as s:
        bad = b"{not json"
        s.sendall(struct.pack(">L", len(bad)) + bad)
        good = json.dumps({"name": "raw", "msg": "after garbage", "levelname": "INFO", "levelno": 20}).encode()
        s.sendall(struct.pack(">L", len(good)) + good)
        assert receiver.wait_n(1)
    assert receiver.errors == 1
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\n\r\n")  # absurd length prefix: connection dropped
        s.settimeout(10)
        assert s.recv(10) == b""
    assert receiver.errors == 2
    logger = fresh_logger("still_alive", JsonSocketHandler("127.0.0.1", receiver.port))
    logger.info("still receiving")
    assert receiver.wait_n(2)
    assert receiver.records[-1].getMessage() == "still receiving"


def test_stringified_dareplane_fallback_records_are_rebuilt():
    rec = record_from_dict(
        {
            "name": "dash",
            "msg": "Exception on %s",
            "args": "()",
            "levelname": "ERROR",
            "levelno": 40,
            "created": "1713889360.199748",
            "msecs": "199.0",
            "relativeCreated": "20730.78",
            "exc_info": "(<class 'KeyError'>, KeyError('data_root'), <traceback object at 0x1>)",
            "exc_text": "None",
            "stack_info": "None",
            "lineno": 828,
        }
    )
    assert rec.created == pytest.approx(1713889360.199748)
    assert rec.exc_info is None and rec.stack_info is None
    assert rec.exc_text.startswith("KeyError('data_root')")
    assert rec.getMessage() == "Exception on %s"
    logging.Formatter().format(rec)


def test_receiver_dispatches_into_local_logging_without_feedback_loop(caplog):
    rcv = LogRecordSocketReceiver(port=0, logname="collected")
    rcv.start()
    handler = JsonSocketHandler("127.0.0.1", rcv.port)
    # the collecting logger itself forwards to the same receiver: must not loop
    collected = logging.getLogger("collected")
    collected.addHandler(handler)
    try:
        with caplog.at_level(logging.INFO, logger="collected"):
            sender = logging.getLogger("sender_module")
            sender.addHandler(handler)
            sender.propagate = False
            sender.setLevel(logging.INFO)
            sender.info("one record")
            wait_until(lambda: rcv.records_received >= 1, interval=0.02, what="a record received")
            wait_until(
                lambda: any(r.getMessage() == "one record" for r in caplog.records),
                interval=0.02,
                what="the record dispatched to the 'collected' logger",
            )
        handler.flush()
        assert rcv.records_received == 1
    finally:
        collected.removeHandler(handler)
        logging.getLogger("sender_module").handlers = []
        handler.close()
        rcv.shutdown()


def test_logfile_written_in_dareplane_format(tmp_path, fresh_logger):
    logfile = tmp_path / "modules.log"
    with LogRecordSocketReceiver(port=0, logfile=logfile, dispatch=False) as rcv:
        logger = fresh_logger("filemod", JsonSocketHandler("127.0.0.1", rcv.port))
        logger.warning("to the file")
        wait_until(lambda: rcv.records_received == 1, interval=0.02, what="the record received")
    assert " - filemod - WARNING - to the file" in logfile.read_text()


def test_get_logger_matches_dareplane_defaults():
    logger = get_logger("lslacq_test_get_logger")
    try:
        socket_handlers = [h for h in logger.handlers if isinstance(h, JsonSocketHandler)]
        assert len(socket_handlers) == 1
        assert (socket_handlers[0].host, socket_handlers[0].port) == ("127.0.0.1", DEFAULT_LOG_PORT)
        assert logger.propagate is False
        assert get_logger("lslacq_test_get_logger") is logger and len(logger.handlers) == 1
        assert get_logger("lslacq_test_get_logger", no_socket_handler=True).handlers == []
        assert logging.getLogger().handlers == logging.getLogger().handlers  # root untouched
    finally:
        logger.handlers = []
        logger.propagate = True


def test_receiver_fuzzed_with_random_bytes_keeps_receiving(receiver, fresh_logger):
    import random

    rng = random.Random(99)
    for _ in range(30):
        with socket.create_connection(("127.0.0.1", receiver.port), timeout=10) as s:
            n = rng.choice([1, 3, 4, 100, 5000])
            # mostly small length prefixes, so some garbage is parsed as (broken) records
            head = struct.pack(">L", rng.randrange(0, 200)) if rng.random() < 0.7 else b""
            s.sendall(head + bytes(rng.randrange(256) for _ in range(n)))
    logger = fresh_logger("after_fuzz", JsonSocketHandler("127.0.0.1", receiver.port))
    logger.info("survived")
    assert receiver.wait_n(1)
    wait_until(
        lambda: any(r.getMessage() == "survived" for r in receiver.records), interval=0.02, what="the 'survived' record"
    )
