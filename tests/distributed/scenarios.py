"""Scenarios run in the manager's machine of the rig (``ip netns exec NS python scenarios.py NAME CONFIG``).

Each scenario builds a graph across the rig's machines through a Manager,
does something to the network or to the processes, and prints one line
``RESULT {json}`` with what it saw; the tests (tests/distributed/
test_network.py) assert on it and on the files written. Everything else
this script prints (its log) goes to stderr, which the rig keeps in
``workdir/scenario-NAME.log``.

The graph of issue 28: NumpyDeviceBuffer (machine A) -> SosFilter (B) ->
RawRecorder (A, recording the raw and the filtered streams) and LslOutlet
(B) -> a pylsl inlet here (the manager's machine M).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
from helpers import wait_until

logger = logging.getLogger("scenario")

NB_CHANNEL = 4
SAMPLE_INTERVAL = 0.001  # 1 kHz
CHUNKSIZE = 50
BUFFER_SAMPLES = 5000  # the device loops over this (random, so a reordered or repeated chunk shows)


def device_buffer() -> np.ndarray:
    return np.random.default_rng(28).standard_normal((BUFFER_SAMPLES, NB_CHANNEL)).astype("float32")


def sos_coefficients() -> np.ndarray:
    import scipy.signal

    return scipy.signal.butter(4, 40.0, "low", fs=1.0 / SAMPLE_INTERVAL, output="sos")


class Collector(logging.Handler):
    """Keeps the log records that reach this process (those of every nodegroup: the log server is here)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(
            {"level": record.levelname, "name": record.name, "msg": record.getMessage(), "t": time.time()}
        )

    def matching(self, *words: str) -> list[str]:
        return [r["msg"] for r in self.records if all(w in r["msg"] for w in words)]


class LslReader(threading.Thread):
    """Pulls the LSL stream ``name`` (published on another machine) into memory."""

    def __init__(self, name: str):
        super().__init__(name="lsl-reader", daemon=True)
        import pylsl

        infos = pylsl.resolve_byprop("name", name, 1, 20)
        if not infos:
            raise TimeoutError(f"LSL stream {name!r} not found from the manager's machine within 20 s")
        self.source_host = infos[0].hostname()
        self.inlet = pylsl.StreamInlet(infos[0], max_buflen=120, recover=True)
        self.inlet.open_stream(10)
        self.chunks: list[np.ndarray] = []
        self.n = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            data, _ = self.inlet.pull_chunk(timeout=0.2)
            if data:
                arr = np.asarray(data, dtype="float32")
                self.chunks.append(arr)
                self.n += len(arr)

    def finish(self) -> np.ndarray:
        self.stop_event.set()
        self.join(5)
        self.inlet.close_stream()
        return np.concatenate(self.chunks) if self.chunks else np.zeros((0, NB_CHANNEL), "float32")


def lab_manager(cfg: dict, before_hosts=None):
    """A manager on machine M with the lab's keys, and proxies to the hosts in ``cfg['hosts']``.

    ``before_hosts(manager)`` is called before the manager connects to them.
    """
    from lslacq import create_manager
    from lslacq.core.rpc import security

    keys = Path(cfg["keys"])
    security.set_default_keys(keys / "lab.key_secret", keys / "authorized")
    ip = cfg["ip"]["m"]
    manager = create_manager(address=f"tcp://{ip}:*", log_address=f"tcp://{ip}:*")
    if before_hosts is not None:
        before_hosts(manager)
    hosts = {m: manager.add_host(h["address"], server_key=h["key"]) for m, h in cfg["hosts"].items()}
    return manager, hosts


class Graph:
    """The issue's graph on the rig: device and recorder on A, filter and LSL outlet on B."""

    def __init__(
        self,
        manager,
        hosts: dict,
        cfg: dict,
        name: str,
        filter_max_buffered: float | None = None,
        hwm: int | None = None,
    ):
        ip = cfg["ip"]
        self.manager = manager
        self.dirname = Path(cfg["workdir"]) / f"{name}-rec"
        self.lsl_name = f"{name}-{cfg['marker'][:8]}"
        self.ng_a = manager.create_nodegroup(f"{name}-acq", host=hosts["a"])
        self.ng_b = manager.create_nodegroup(f"{name}-proc", host=hosts["b"])
        self.dev = self.ng_a.create_node("NumpyDeviceBuffer", name="dev")
        self.dev.configure(
            nb_channel=NB_CHANNEL, sample_interval=SAMPLE_INTERVAL, chunksize=CHUNKSIZE, buffer=device_buffer()
        )
        # hwm: chunks in flight to each reader (beyond them A keeps a backlog for B, bounded by max_buffered)
        self.dev.output.configure(
            protocol="tcp", interface=ip["a"], transfermode="plaindata", **({} if hwm is None else {"hwm": hwm})
        )
        self.dev.initialize()
        self.filt = self.ng_b.create_node("SosFilter", name="lp")
        self.filt.configure(coefficients=sos_coefficients())
        if filter_max_buffered is None:
            self.filt.input.connect(self.dev.output)
        else:  # the backlog A keeps for B while B is unreachable (beyond it the oldest chunks are lost)
            self.filt.input.connect(self.dev.output, max_buffered=filter_max_buffered)
        self.filt.output.configure(protocol="tcp", interface=ip["b"])
        self.filt.initialize()
        self.rec = self.ng_a.create_node("RawRecorder", name="rec")
        self.rec.configure(
            streams={"raw": self.dev.output, "filtered": self.filt.output},
            dirname=str(self.dirname),
            flush_interval=0.2,
        )
        self.rec.initialize()
        self.lsl = self.ng_b.create_node("LslOutlet", name="lsl")
        self.lsl.configure(name=self.lsl_name)
        self.lsl.inputs["signals"].connect(self.filt.output)
        self.lsl.initialize()
        self.reader: LslReader | None = None

    def start(self) -> None:
        for node in (self.rec, self.lsl, self.filt):  # readers first, so they see the first sample
            node.start()
        self.reader = LslReader(self.lsl_name)
        self.reader.start()
        self.dev.start()

    def written(self, name: str) -> int:
        """Samples of stream ``name`` the recorder wrote (from its files' properties: no RPC to B needed)."""
        props = json.loads((self.dirname / "stream_properties.json").read_text())
        return int(props[name]["nb_sample"])

    def stop(self) -> None:
        for node in (self.dev, self.filt, self.lsl, self.rec):
            node.stop(_timeout=30)

    def counters(self) -> dict:
        return {n: getattr(self, n).counters() for n in ("dev", "filt", "rec", "lsl")}


def make_device(ng, interface: str | None):
    """The rig's NumpyDeviceBuffer in ``ng``, its output on tcp at ``interface`` (None: inproc), initialized."""
    dev = ng.create_node("NumpyDeviceBuffer", name="dev")
    dev.configure(nb_channel=NB_CHANNEL, sample_interval=SAMPLE_INTERVAL, chunksize=CHUNKSIZE, buffer=device_buffer())
    if interface is None:
        dev.output.configure(protocol="inproc")
    else:
        dev.output.configure(protocol="tcp", interface=interface, transfermode="plaindata")
    dev.initialize()
    return dev


def make_recorder(ng, streams: dict, dirname: Path, name: str = "rec"):
    """A RawRecorder of ``streams`` in ``ng`` writing to ``dirname`` (flushed every 0.2 s), initialized."""
    rec = ng.create_node("RawRecorder", name=name)
    rec.configure(streams=streams, dirname=str(dirname), flush_interval=0.2)
    rec.initialize()
    return rec


def local_graph(manager, dirname: Path, n: int) -> None:
    """The same graph in one nodegroup on this machine (the reference the rig's data must match)."""
    ng = manager.create_nodegroup("local")
    dev = make_device(ng, None)
    filt = ng.create_node("SosFilter", name="lp")
    filt.configure(coefficients=sos_coefficients())
    filt.input.connect(dev.output)
    filt.output.configure(protocol="inproc")
    filt.initialize()
    rec = make_recorder(ng, {"raw": dev.output, "filtered": filt.output}, dirname)
    rec.start()
    filt.start()
    dev.start()
    wait_until(lambda: rec.counters()["samples_written"] >= 2 * n, 30, 0.05, "the local graph's recording")
    for node in (dev, filt, rec):
        node.stop()
    ng.close()


def _failure(call) -> dict:
    """How a call to an unreachable machine fails: seconds, error type, whether a ServerGoneError/TimeoutError."""
    from lslacq.core.rpc.client import ServerGoneError

    t0 = time.monotonic()
    try:
        call()
    except Exception as exc:
        return {
            "seconds": time.monotonic() - t0,
            "type": type(exc).__name__,
            "message": str(exc)[:300],
            "server_gone": isinstance(exc, ServerGoneError),
            "timeout_error": isinstance(exc, TimeoutError),
        }
    return {
        "seconds": time.monotonic() - t0,
        "type": None,
        "message": "no error",
        "server_gone": False,
        "timeout_error": False,
    }


# -- scenarios ---------------------------------------------------------------------------------------------------
def scenario_graph(cfg: dict, collector: Collector) -> dict:
    """The graph runs across the machines for a few seconds; then the same graph on this machine alone."""
    manager, hosts = lab_manager(cfg)
    try:
        graph = Graph(manager, hosts, cfg, "graph")
        n = int(cfg.get("seconds", 3.0) / SAMPLE_INTERVAL)
        graph.start()
        wait_until(lambda: graph.reader.n >= n, 30, 0.05, "LSL samples from machine B")
        graph.stop()
        lsl = graph.reader.finish()
        np.save(Path(cfg["workdir"]) / "graph-lsl.npy", lsl)
        local_dir = Path(cfg["workdir"]) / "local-rec"
        local_graph(manager, local_dir, n)
        return {
            "rec": str(graph.dirname),
            "local_rec": str(local_dir),
            "n": n,
            "lsl": str(Path(cfg["workdir"]) / "graph-lsl.npy"),
            "lsl_source_host": graph.reader.source_host,
            "counters": graph.counters(),
            "ng_pids": {"a": graph.ng_a.health()["pid"], "b": graph.ng_b.health()["pid"]},
        }
    finally:
        manager.close()


def scenario_partition(cfg: dict, collector: Collector) -> dict:
    """Machine B's cable out for 3 s, then for 20 s; the graph must go on and recover by itself."""
    from rig import plug_machine, unplug_machine

    manager, hosts = lab_manager(cfg)
    ip = cfg["ip"]
    backlog = cfg["filter_max_buffered"]
    result: dict = {"partitions": []}
    try:
        graph = Graph(manager, hosts, cfg, "partition", filter_max_buffered=backlog, hwm=cfg["hwm"])
        result["rec"] = str(graph.dirname)
        graph.start()
        wait_until(lambda: graph.reader.n >= 1000, 30, 0.05, "LSL samples from machine B")
        for duration in cfg["durations"]:
            info: dict = {"duration": duration}
            raw_before = graph.written("raw")
            lsl_before = graph.reader.n
            t0 = time.monotonic()
            unplug_machine(cfg, "b")
            if duration >= 10:
                # a call to B made as the cable goes out (in flight until the heartbeat notices), one made after
                info["first_call"] = _failure(lambda: graph.filt.counters(_timeout=30))
                info["next_call"] = _failure(lambda: graph.filt.counters(_timeout=30))
                info["health_during"] = {g: h["state"] for g, h in manager.health(timeout=5).items()}
                info["host_health_during"] = {a: h["state"] for a, h in manager.host_health(timeout=2).items()}
                info["a_call_during"] = _failure(lambda: graph.dev.counters(_timeout=5))
            # acquisition and recording on A go on meanwhile
            wait_until(lambda t0=t0, d=duration: time.monotonic() - t0 >= d / 2, duration, 0.05, "mid-partition")
            raw_mid = graph.written("raw")
            wait_until(lambda t0=t0, d=duration: time.monotonic() - t0 >= d, duration, 0.05, "the end of the partition")
            info["raw_written_during"] = graph.written("raw") - raw_before
            info["raw_written_second_half"] = graph.written("raw") - raw_mid
            info["lsl_during"] = graph.reader.n - lsl_before
            plug_machine(cfg, "b")
            t1 = time.monotonic()
            info["cut_seconds"] = t1 - t0
            wait_until(
                lambda: manager.health(timeout=2)["partition-proc"]["state"] == "running",
                30,
                0.2,
                "machine B's nodegroup to answer again",
            )
            info["healthy_after"] = time.monotonic() - t1
            info["health_after"] = {g: h["state"] for g, h in manager.health(timeout=5).items()}
            # the host's own connection reconnects independently of the nodegroup's (zmq retries every 0.1 s,
            # each attempt at most 2 s); until it is back, host_health says unreachable at once: poll, as a user
            wait_until(
                lambda: all(h["state"] == "reachable" for h in manager.host_health(timeout=2).values()),
                30,
                0.2,
                "every host to be reachable again",
            )
            info["host_reachable_after"] = time.monotonic() - t1
            info["host_health_after"] = {a: h["state"] for a, h in manager.host_health(timeout=2).items()}
            filtered = graph.written("filtered")
            wait_until(
                lambda filtered=filtered: graph.written("filtered") > filtered + 500,
                60,
                0.05,
                "the filtered stream from B to reach A's recorder again",
            )
            info["filtered_resumed_after"] = time.monotonic() - t1
            n_lsl = graph.reader.n
            wait_until(lambda n_lsl=n_lsl: graph.reader.n > n_lsl + 500, 60, 0.05, "LSL samples from B again")
            info["lsl_resumed_after"] = time.monotonic() - t1
            info["lost_after"] = graph.filt.input.lost_samples
            result["partitions"].append(info)
        # stop the source, let B's backlog drain: the filtered recording catches up with the raw one
        graph.dev.stop(_timeout=10)
        end = graph.dev.output.last_index
        try:
            wait_until(
                lambda: graph.rec.inputs["filtered"]._last_index >= end,
                30,
                0.1,
                "the filtered stream to reach A's recorder up to the device's last sample",
            )
            result["caught_up"] = True
        except AssertionError:
            result["caught_up"] = False
        graph.stop()
        graph.reader.finish()
        result["counters"] = graph.counters()
        result["lost"] = {
            "filter_input": graph.filt.input.lost_samples,
            "rec_raw": graph.rec.inputs["raw"].lost_samples,
            "rec_filtered": graph.rec.inputs["filtered"].lost_samples,
            "lsl_input": graph.lsl.inputs["signals"].lost_samples,
        }
        result["errors"] = {n: str(getattr(graph, n).error) for n in ("dev", "filt", "rec", "lsl")}
        result["ip"] = ip
    finally:
        manager.close()
    result["log"] = {
        "lost": collector.matching("samples lost before index"),
        "jumps": collector.matching("jumps to index"),
        "fell_behind": collector.matching("fell more than its bound behind"),
    }
    return result


def scenario_kills(cfg: dict, collector: Collector) -> dict:
    """A kill -9 of a nodegroup (on A) and of a host process (a second host on A) while the graph runs."""
    from lslacq.core.rpc.client import ServerGoneError  # noqa: F401

    manager, hosts = lab_manager(cfg)
    ip = cfg["ip"]
    result: dict = {}
    try:
        # -- a nodegroup: the recorder's, on A; the device's nodegroup (on A too) goes on
        ng_dev = manager.create_nodegroup("k-dev", host=hosts["a"])
        ng_rec = manager.create_nodegroup("k-rec", host=hosts["a"])
        dev = make_device(ng_dev, ip["a"])
        rec_dir = Path(cfg["workdir"]) / "kill-ng-rec"
        rec = make_recorder(ng_rec, {"raw": dev.output}, rec_dir)
        # -- a host: its nodegroup records B's filtered stream, fed by the device
        ng_h = manager.create_nodegroup("k-host-rec", host=hosts["a2"])
        ng_b = manager.create_nodegroup("k-proc", host=hosts["b"])
        filt = ng_b.create_node("SosFilter", name="lp")
        filt.configure(coefficients=sos_coefficients())
        filt.input.connect(dev.output)
        filt.output.configure(protocol="tcp", interface=ip["b"])
        filt.initialize()
        rec_h_dir = Path(cfg["workdir"]) / "kill-host-rec"
        rec_h = make_recorder(ng_h, {"filtered": filt.output}, rec_h_dir)
        for node in (rec, rec_h, filt, dev):
            node.start()
        pids = {
            name: ng.health()["pid"]
            for name, ng in (("k-dev", ng_dev), ("k-rec", ng_rec), ("k-host-rec", ng_h), ("k-proc", ng_b))
        }
        result["pids"] = pids
        wait_until(
            lambda: rec.counters()["samples_written"] > 1000 and rec_h.counters()["samples_written"] > 1000,
            30,
            0.05,
            "both recorders writing",
        )

        # kill -9 the recorder's nodegroup
        t0 = time.monotonic()
        os.kill(pids["k-rec"], signal.SIGKILL)
        wait_until(
            lambda: {d["name"]: d["state"] for d in manager.list_nodegroups(details=True)}["k-rec"] == "dead",
            10,
            0.02,
            "the manager to know nodegroup k-rec died",
        )
        result["ng_reported_after"] = time.monotonic() - t0
        result["ng_details"] = next(d for d in manager.list_nodegroups(details=True) if d["name"] == "k-rec")
        result["ng_health"] = manager.health()["k-rec"]
        out = dev.counters()["samples_out"]
        wait_until(lambda: dev.counters()["samples_out"] > out + 500, 10, 0.05, "the device to go on")
        result["device_went_on"] = True

        # kill -9 the second host of A
        t0 = time.monotonic()
        os.kill(cfg["host_pid"], signal.SIGKILL)
        seen = []

        def host_ng_gone():
            seen.append(manager.health(timeout=2)["k-host-rec"])
            return seen[-1]["state"] in ("unreachable", "dead")

        try:
            wait_until(host_ng_gone, 15, 0.1, "the manager to see k-host-rec gone")
        except AssertionError:
            raise AssertionError(f"the manager did not see k-host-rec gone: {seen[-1]}") from None
        result["host_reported_after"] = time.monotonic() - t0
        result["host_health"] = {a: h["state"] for a, h in manager.host_health(timeout=2).items()}
        result["host_ng_health"] = manager.health(timeout=2)["k-host-rec"]
        result["host_ng_call"] = _failure(lambda: rec_h.counters(_timeout=30))
        out = filt.counters()["samples_out"]
        wait_until(lambda: filt.counters()["samples_out"] > out + 500, 10, 0.05, "B's filter to go on")
        result["filter_went_on"] = True
        result["dead_log"] = collector.matching("died unexpectedly")
        result["gone_log"] = collector.matching("is gone: its server closed")
        result["rec_dirs"] = {"ng": str(rec_dir), "host": str(rec_h_dir)}
    finally:
        manager.close()
    return result


def scenario_orphans(cfg: dict, collector: Collector) -> dict:
    """A kill -9 of the manager: the host closes its orphaned nodegroups after orphan_timeout, recorder first."""
    manager, hosts = lab_manager(cfg)
    ip = cfg["ip"]
    ng = manager.create_nodegroup("o-acq", host=hosts["a3"])
    dev = make_device(ng, ip["a"])
    rec_dir = Path(cfg["workdir"]) / "orphan-rec"
    rec = make_recorder(ng, {"raw": dev.output}, rec_dir)
    rec.start()
    dev.start()
    wait_until(lambda: rec.counters()["samples_written"] > 500, 30, 0.05, "the orphan-to-be recording")
    result = {
        "ng_pid": ng.health()["pid"],
        "rec": str(rec_dir),
        "manager_pid": manager.__dict__["_lslacq_state"]["spawner"].pid,
    }
    os.kill(result["manager_pid"], signal.SIGKILL)
    result["killed_at"] = time.time()
    return result


def scenario_orphan_partition(cfg: dict, collector: Collector) -> dict:
    """The manager's machine cut off for longer than the host's orphan_timeout, then back."""
    import psutil
    from rig import plug_machine, unplug_machine

    manager, hosts = lab_manager(cfg)
    ip = cfg["ip"]
    result: dict = {}
    try:
        ng = manager.create_nodegroup("op-acq", host=hosts["a3"])
        dev = make_device(ng, ip["a"])
        rec_dir = Path(cfg["workdir"]) / "orphan-partition-rec"
        rec = make_recorder(ng, {"raw": dev.output}, rec_dir)
        rec.start()
        dev.start()
        wait_until(lambda: rec.counters()["samples_written"] > 500, 30, 0.05, "the recording")
        pid = ng.health()["pid"]
        result.update(rec=str(rec_dir), ng_pid=pid)
        t0 = time.monotonic()
        unplug_machine(cfg, "m")
        try:  # the host, out of the manager's reach, closes the nodegroup (pids are seen across namespaces)
            wait_until(
                lambda: not psutil.pid_exists(pid),
                cfg["orphan_timeout"] + 20,
                0.05,
                "the host to close the orphaned nodegroup",
            )
            result["closed_after"] = time.monotonic() - t0
        finally:
            plug_machine(cfg, "m")
        seen = []

        def closed():
            t = time.monotonic()
            seen.append(manager.health(timeout=3, _timeout=20)["op-acq"])
            seen[-1]["took"] = time.monotonic() - t
            return seen[-1]["state"] == "closed"

        try:
            wait_until(closed, 20, 0.2, "the manager to learn that the host closed op-acq")
        except AssertionError:
            raise AssertionError(f"manager.health() after the partition: {seen[-1]}") from None
        result["health"] = seen[-1]
        result["states_seen"] = [(h["state"], round(h["took"], 2)) for h in seen]
        result["listed"] = [d["name"] for d in manager.list_nodegroups(details=True) if d["state"] == "running"]
        try:  # the manager's ERROR record travels to this process's log server
            wait_until(lambda: collector.matching("was closed by its host"), 5, 0.05, "the manager's record")
        except AssertionError:
            pass
        result["log"] = collector.matching("was closed by its host")
    finally:
        manager.close()
    return result


def scenario_security(cfg: dict, collector: Collector) -> dict:
    """An intruder (a key pair the hosts do not authorize) against hosts, nodegroups and streams off loopback."""
    from lslacq.core.rpc import RPCClient
    from lslacq.core.stream import InputStream

    keys = Path(cfg["keys"])
    result: dict = {}
    host_a = cfg["hosts"]["a"]

    def wrong_server_key(manager):
        """A host added with another machine's public key: refused, the message names the key."""
        wrong = _public_key(keys / "intruder" / "intruder.key")
        t0 = time.monotonic()
        try:
            manager.add_host(host_a["address"], server_key=wrong, timeout=2)
            result["wrong_key"] = {"message": "no error"}
        except Exception as exc:
            result["wrong_key"] = {"type": type(exc).__name__, "message": str(exc), "seconds": time.monotonic() - t0}
        result["wrong_key"]["key"] = wrong

    manager, hosts = lab_manager(cfg, before_hosts=wrong_server_key)
    ip = cfg["ip"]
    try:
        # the right key now: the manager reconnects, and a wrong key for the connected host is refused too
        manager.add_host(host_a["address"], server_key=_public_key(keys / "intruder" / "intruder.key"))
        result["wrong_key_connected"] = "no error"
    except Exception as exc:
        result["wrong_key_connected"] = f"{type(exc).__name__}: {exc}"
    try:
        ng = manager.create_nodegroup("s-acq", host=hosts["a"])
        dev = ng.create_node("NumpyDeviceBuffer", name="dev")
        dev.configure(nb_channel=NB_CHANNEL, sample_interval=SAMPLE_INTERVAL, chunksize=CHUNKSIZE)
        dev.output.configure(protocol="tcp", interface=ip["a"], transfermode="plaindata")
        dev.initialize()
        dev.start()
        ng_addr, ng_key = ng._rpc_addr, ng._server_key
        result["ng_addr"] = ng_addr
        intruder = keys / "intruder" / "intruder.key_secret"

        def rpc_attempts(addr, server_key) -> dict:
            out = {}
            for label, secret in (("intruder key", str(intruder)), ("no key", None)):

                def call(secret=secret):
                    client = RPCClient(addr, server_key=server_key if secret else None, secret_key=secret)
                    try:
                        return client.ping(timeout=2)
                    finally:
                        client.close()

                out[label] = _failure(call)
            return out

        result["host_rpc"] = rpc_attempts(host_a["address"], host_a["key"])
        result["ng_rpc"] = rpc_attempts(ng_addr, ng_key)
        # the lab's own key still works (the refusals above did not break the servers)
        result["lab_ok"] = bool(hosts["a"].list_nodegroups() is not None and ng.health()["pid"])

        # data: intruders reading the device's tcp output (bound off loopback by a process with the lab's keys)
        params = dict(dev.output.params)
        result["stream_server_key"] = params.get("server_key")
        result["stream_chunks_received"], result["stream_errors"] = 0, {}

        def read(inp, p, **kwargs) -> int:
            got = 0
            inp.connect(p, timeout=5, **kwargs)
            deadline = time.monotonic() + 1.5  # the device sends 20 chunks/s: 30 chances
            while time.monotonic() < deadline:
                if inp.poll(timeout=0.2):
                    inp.recv()
                    got += 1
            return got

        attempts = (
            ("intruder key", params, {"secret_key": str(intruder)}),  # a key the hosts do not authorize
            ("no key", {k: v for k, v in params.items() if k != "server_key"}, {}),
        )  # plain tcp
        for label, p, kwargs in attempts:
            inp = InputStream(name="intruder")
            try:
                result["stream_chunks_received"] += read(inp, p, **kwargs)
                result["stream_errors"][label] = None
            except Exception as exc:
                result["stream_errors"][label] = f"{type(exc).__name__}: {exc}"
            finally:
                inp.close()
        inp = InputStream(name="lab-reader")  # the lab's key (this process's) reads it
        try:
            result["lab_stream_chunks"] = read(inp, params)
        except Exception as exc:
            result["lab_stream_chunks"] = f"{type(exc).__name__}: {exc}"
        finally:
            inp.close()

        dev.stop()
    finally:
        manager.close()
    return result


def _public_key(path: Path) -> str:
    import zmq.auth

    public, _ = zmq.auth.load_certificate(str(path))
    return public.decode()


SCENARIOS = {
    "graph": scenario_graph,
    "partition": scenario_partition,
    "kills": scenario_kills,
    "orphans": scenario_orphans,
    "orphan_partition": scenario_orphan_partition,
    "security": scenario_security,
}


def main() -> int:
    name, cfg = sys.argv[1], json.loads(sys.argv[2])
    collector = Collector()
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(stderr)
    root.addHandler(collector)
    result = SCENARIOS[name](cfg, collector)
    print("RESULT " + json.dumps(result, default=str), flush=True)  # noqa: T201 (the test parses this line)
    if name == "orphans":  # its manager is dead on purpose: do not wait for it at exit
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
