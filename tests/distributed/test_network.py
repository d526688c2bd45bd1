"""Graphs across machines made of network namespaces: data, partitions, kills, security (issue 28).

One rig for the module (tests/distributed/conftest.py): machines A, B and M
(the manager's), ``lslacq host`` with CurveZMQ keys on A and B, LSL
discovery between them by unicast. Each test runs a scenario of
scenarios.py in M and asserts on what it saw and on the files written.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from helpers import wait_until
from rig import ORPHAN_TIMEOUT

pytestmark = pytest.mark.slow


def hosts_cfg(rig, *names: str) -> dict:
    return {"hosts": {n: {"address": rig.hosts[n]["address"], "key": rig.hosts[n]["key"]} for n in names}}


def host_log(rig, name: str) -> str:
    return Path(rig.hosts[name]["log"]).read_text()


def gone(pids) -> bool:
    return not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_graph_across_machines_matches_one_machine(rig):
    """Device (A) -> SosFilter (B) -> RawRecorder (A) and LslOutlet (B) -> pylsl (M): the data of one machine."""
    from lslacq.rec import read_recording

    r = rig.scenario("graph", timeout=90, seconds=3.0, **hosts_cfg(rig, "a", "b"))
    n = r["n"]
    with read_recording(r["rec"]) as rec, read_recording(r["local_rec"]) as ref:
        for name in ("raw", "filtered"):
            assert rec[name].complete, rec[name].end_note
            assert len(rec[name]) >= n and len(ref[name]) >= n
            assert rec[name].properties["discontinuities"] == [[0, 0]]
            np.testing.assert_array_equal(rec[name].data[:n], ref[name].data[:n])
        # the filter did something: filtered differs from raw
        assert not np.allclose(rec["filtered"].data[:n], rec["raw"].data[:n])
        lsl = np.load(r["lsl"])
        assert len(lsl) >= n  # every sample crossed B -> M by LSL, from the first one
        np.testing.assert_array_equal(lsl, rec["filtered"].data[: len(lsl)])
    assert all(c["lost_samples"] == 0 for c in r["counters"].values()), r["counters"]
    assert gone(r["ng_pids"].values())


def test_partition_3s_then_20s(rig):
    """B's cable out for 3 s, then 20 s: A acquires and records throughout, the streams resume, the gap is counted.

    A keeps a backlog of ``max_buffered=5`` s for B (the filter's input; the default is 30 s, which
    would hold all of a 20 s partition), beyond ``hwm=20`` chunks in flight: so the 3 s partition loses
    nothing and the 20 s one loses its first ~15 s on B's side only.
    """
    from lslacq.rec import read_recording

    r = rig.scenario(
        "partition", timeout=110, durations=[3.0, 20.0], filter_max_buffered=5.0, hwm=20, **hosts_cfg(rig, "a", "b")
    )
    short, long = r["partitions"]
    host_b, host_a = rig.hosts["b"]["address"], rig.hosts["a"]["address"]
    for p in (short, long):
        d = p["duration"]
        # acquisition and recording on A never stop (1 kHz; slack for a loaded machine)
        assert p["raw_written_during"] > 0.7 * d * 1000, p
        assert p["raw_written_second_half"] > 0.3 * d * 1000, p
        # B's data stopped while it was cut off, and came back by itself
        assert p["lsl_during"] < 0.3 * d * 1000, p
        assert p["healthy_after"] < 10 and p["filtered_resumed_after"] < 10 and p["lsl_resumed_after"] < 10, p
        assert p["host_reachable_after"] < 10, p
        assert set(p["health_after"].values()) == {"running"}, p
        assert set(p["host_health_after"].values()) == {"reachable"}, p
    assert short["lost_after"] == 0  # within the backlog: nothing lost
    # during the long one: B unreachable, A fine; calls to B fail fast with ServerGoneError (a TimeoutError)
    assert long["health_during"] == {"partition-acq": "running", "partition-proc": "unreachable"}
    assert long["host_health_during"] == {host_a: "reachable", host_b: "unreachable"}
    for call, bound in (("first_call", 6.0), ("next_call", 0.5)):
        assert long[call]["server_gone"] and long[call]["timeout_error"], long[call]
        assert long[call]["seconds"] < bound, long[call]
    assert long["a_call_during"]["type"] is None
    # the gap: ~15 s (20 s minus the 5 s backlog), the same on every reader downstream of the cut
    lost = r["lost"]
    assert 11000 < lost["filter_input"] < 17000, lost
    assert lost["rec_filtered"] == lost["lsl_input"] == lost["filter_input"] and lost["rec_raw"] == 0, lost
    assert r["caught_up"] and set(r["errors"].values()) == {"None"}, r
    # logged once per reader, recorded once as a discontinuity
    assert len(r["log"]["lost"]) == 3, r["log"]["lost"]
    assert len(r["log"]["jumps"]) == 1, r["log"]["jumps"]
    with read_recording(r["rec"]) as rec:
        assert rec.complete, rec.end_note
        end = r["counters"]["dev"]["last_index"]
        assert rec["raw"].properties["discontinuities"] == [[0, 0]] and len(rec["raw"]) == end
        disc = rec["filtered"].properties["discontinuities"]
        assert len(disc) == 2 and disc[1][1] - disc[1][0] == lost["filter_input"], disc
        assert len(rec["filtered"]) == end - lost["filter_input"]
        assert rec["filtered"].indexes[-1] == end - 1
    # B's host noticed its manager's silence during the long cut (logged once) and kept the nodegroups
    log = host_log(rig, "b")
    assert 1 <= log.count("has not answered") <= 2, log
    assert "closing its nodegroups" not in log


def test_kill9_nodegroup_and_host(rig):
    """A kill -9 of a nodegroup (reported dead, the rest goes on) and of a host (its nodegroups end with it)."""
    from lslacq.rec import read_recording

    cfg = hosts_cfg(rig, "a", "b", "a2")
    r = rig.scenario("kills", timeout=90, host_pid=rig.hosts["a2"]["pid"], **cfg)
    # the nodegroup: reported within a second, as dead with SIGKILL's exit code, and an ERROR record
    assert r["ng_reported_after"] < 2.0
    assert r["ng_details"]["state"] == "dead" and r["ng_details"]["exit_code"] in (-9, 137), r["ng_details"]
    assert r["ng_health"]["state"] == "dead"
    assert any("k-rec" in m for m in r["dead_log"]), r["dead_log"]
    assert r["device_went_on"] and r["filter_went_on"]
    # the host: unreachable; its nodegroup ended with it (its server said goodbye): dead, a call fails at once
    assert r["host_health"][rig.hosts["a2"]["address"]] == "unreachable"
    assert r["host_health"][rig.hosts["a"]["address"]] == "reachable"
    assert r["host_reported_after"] < 8, r["host_reported_after"]
    assert r["host_ng_health"]["state"] == "dead", r["host_ng_health"]
    assert any("k-host-rec" in m and "is gone" in m for m in r["gone_log"]), r["gone_log"]
    assert r["host_ng_call"]["type"] == "ServerClosedError" and r["host_ng_call"]["seconds"] < 1, r["host_ng_call"]
    # nothing left running: the killed host's nodegroup ended with it, the others closed with the manager
    wait_until(lambda: gone(r["pids"].values()), 10, 0.05, "every nodegroup of the scenario to end")
    # every record readable, up to about its last flush
    for which in ("ng", "host"):
        with read_recording(r["rec_dirs"][which]) as rec:
            (stream,) = rec.streams.values()
            assert not stream.complete and stream.properties["state"] == "recording", stream.end_note
            # everything up to the last flush (the recorders wrote > 1000 samples before the kills)
            assert len(stream) >= stream.properties["nb_sample"] > 500, stream.end_note
            assert np.isfinite(stream.data).all()
    rig.hosts.pop("a2")  # dead: nothing to stop at teardown


def test_kill9_manager_orphans_closed_after_orphan_timeout(rig):
    """A kill -9 of the manager: its host closes the orphaned nodegroup after orphan_timeout, the recorder first."""
    from lslacq.rec import read_recording

    before = len(host_log(rig, "a3"))
    r = rig.scenario("orphans", timeout=60, **hosts_cfg(rig, "a3"))
    assert not psutil.pid_exists(r["manager_pid"]) or psutil.Process(r["manager_pid"]).status() == psutil.STATUS_ZOMBIE
    wait_until(lambda: gone([r["ng_pid"]]), ORPHAN_TIMEOUT + 20, 0.05, "the orphaned nodegroup to be closed")
    closed_after = time.time() - r["killed_at"]
    assert closed_after > ORPHAN_TIMEOUT - 1.0
    log = host_log(rig, "a3")[before:]
    assert log.count("stopped answering") == 1 and "closing its nodegroups" in log, log
    with read_recording(r["rec"]) as rec:
        assert rec.complete, rec.end_note  # stopped cleanly, not killed
        props = json.loads((Path(r["rec"]) / "stream_properties.json").read_text())
        assert props["raw"]["state"] == "stopped"
        assert len(rec["raw"]) == props["raw"]["nb_sample"] > 500
    # the host itself stays up for the next manager
    assert psutil.pid_exists(rig.hosts["a3"]["pid"])


def test_partition_longer_than_orphan_timeout(rig):
    """The manager out of reach for longer than orphan_timeout: its host closes the nodegroup, recorder first.

    Once the network is back the manager reports it 'closed' (not 'unreachable' for ever).
    """
    from lslacq.rec import read_recording

    before = len(host_log(rig, "a3"))
    r = rig.scenario("orphan_partition", timeout=90, orphan_timeout=ORPHAN_TIMEOUT, **hosts_cfg(rig, "a3"))
    # silence is counted from the host's last answered ping (it pings every 0.75 s with this orphan_timeout)
    assert ORPHAN_TIMEOUT - 1.0 < r["closed_after"] < ORPHAN_TIMEOUT + 16, r
    assert r["health"]["state"] == "closed" and "orphan_timeout" in r["health"]["error"], r["health"]
    assert "op-acq" not in r["listed"] and len(r["log"]) == 1, r
    log = host_log(rig, "a3")[before:]
    assert log.count("stopped answering") == 1 and "closing its nodegroups" in log, log
    with read_recording(r["rec"]) as rec:
        assert rec.complete, rec.end_note  # the recorder closed its files before its process ended
        assert rec["raw"].properties["state"] == "stopped" and len(rec["raw"]) > 500
    assert psutil.pid_exists(rig.hosts["a3"]["pid"])


@pytest.fixture(scope="module")
def security(rig):
    """What an intruder got (one run of the scenario for the tests below)."""
    return rig.scenario("security", timeout=90, **hosts_cfg(rig, "a"))


def test_security_across_machines(rig, security):
    """No key or an unauthorized key gets nothing from a host or a nodegroup; a wrong server key is named."""
    r = security
    for target in ("host_rpc", "ng_rpc"):
        for who, outcome in r[target].items():
            assert outcome["type"] is not None, f"{who} got an answer from the {target[:-4]}: {outcome}"
            assert outcome["timeout_error"] or "refused" in outcome["message"], outcome
    assert r["lab_ok"]
    wrong = r["wrong_key"]
    assert wrong["message"] != "no error" and wrong["seconds"] < 5, wrong
    assert wrong["key"] in wrong["message"] and rig.hosts["a"]["address"] in wrong["message"], wrong
    assert (
        "already connected with server key" in r["wrong_key_connected"] and wrong["key"] in r["wrong_key_connected"]
    ), r["wrong_key_connected"]


def test_security_stream_data_needs_a_key(security):
    """A device's tcp output off loopback (its process has the lab's keys) serves only readers with an authorized key.

    An intruder's key and a plain (no CurveZMQ) reader get nothing and are told why, at once; the lab's key reads.
    """
    r = security
    assert r["stream_server_key"] and len(r["stream_server_key"]) == 40, r
    assert r["stream_chunks_received"] == 0, r
    errors = r["stream_errors"]
    assert errors["intruder key"].startswith("ConnectionRefusedError") and "authorized" in errors["intruder key"], (
        errors
    )
    assert errors["no key"].startswith("ConnectionRefusedError") and "server_key" in errors["no key"], errors
    assert isinstance(r["lab_stream_chunks"], int) and r["lab_stream_chunks"] > 10, r["lab_stream_chunks"]
