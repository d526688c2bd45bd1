"""Closed-loop BCI latency: device -> SosFilter -> Epocher -> Decoder -> LslOutlet -> a pylsl inlet elsewhere.

What is timed: for each epoch, from the moment the device sends the chunk
holding the epoch's last sample to the moment the prediction marker is pulled
by a pylsl inlet in another process (both stamped with ``time.monotonic()``,
CLOCK_MONOTONIC, shared by all processes of the machine). The k-th marker
received belongs to the k-th stimulus (nothing is rejected or lost: checked).

* lslacq: each node in its own NodeGroup (its own process), tcp streams on
  127.0.0.1 at their defaults; the device is a paced generator (a live
  source, like an amplifier) with a marker output (a trigger every
  ``interval`` s); the Decoder holds a fitted WindowMeans + LDA pipeline.
* mne-lsl baseline, same run: the device pushes the same chunks (plus a stim
  channel carrying each stimulus's number) to a pylsl outlet; one process runs
  ``StreamLSL`` (with its online band-pass) + ``EpochsStream`` (events from the
  stim channel) and polls ``n_new_epochs`` every 1 ms (as its documentation's
  examples do), predicts with the same model and pushes each prediction, with
  its stimulus's number, to a pylsl marker outlet (epochs EpochsStream loses
  when the loop falls behind are counted: "delivered" below 1000).

Configurations: 64 ch @ 1 kHz (chunks of 10 samples, epochs -0.1..0.5 s) and
384 ch @ 30 kHz (chunks of 300 samples, epochs -0.01..0.05 s); one stimulus
every 0.05 s.

``--fuse``: also the loop with the Epocher and the Decoder in one NodeGroup
(epochs and labels inproc). ``--stages``: the nodes log each chunk's receive and send times; every hop and
node's part is printed (p50/p90/p99/max). ``--transfermode sharedmem|both``:
the signal, filtered signal and epochs streams in shared memory.

``--quick``: 5 epochs of 8 ch @ 1 kHz (epochs -0.05..0.1 s) through both loops, a smoke run (the test suite
runs it) whose figures mean nothing.

Run: ``python benchmarks/bci_latency.py [--epochs 1000] [--configs 64x1000,384x30000] [--no-mne-lsl]
[--stages] [--fuse] [--transfermode plaindata|sharedmem|both] [--quick]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
import uuid
from itertools import pairwise

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SPAWN = mp.get_context("spawn")
CONFIGS = {  # n_channels x rate: (chunk, tmin, tmax)
    (64, 1000.0): (10, -0.1, 0.5),
    (384, 30000.0): (300, -0.01, 0.05),
    (8, 1000.0): (10, -0.05, 0.1),  # --quick: a smoke run of both loops, not a measurement
}
INTERVAL = 0.05


# -- the device (a node type registered in its nodegroup from this module) -----------------------------
def _make_device_class():
    from lslacq.core.node import Node
    from lslacq.core.pacing import PacedLoop
    from lslacq.core.stream.events import EVENT_DTYPE, make_events

    class LoopDevice(Node):
        """Paced generator: noise chunks plus a trigger every ``interval`` s; logs each chunk's send time."""

        live_source = True
        _output_specs = {
            "signals": {"streamtype": "analogsignal", "dtype": "float32"},
            "events": {"streamtype": "event"},
        }

        def _configure(self, nb_channel=64, sample_rate=1000.0, chunksize=10, interval=0.05, first=0, n_events=1000):
            self.n_ch, self.rate, self.chunk = int(nb_channel), float(sample_rate), int(chunksize)
            self.period = int(round(interval * self.rate))
            self.first, self.n_events = int(first), int(n_events)
            self.outputs["signals"].spec.update(shape=(-1, self.n_ch), sample_rate=self.rate)
            self.outputs["events"].spec.update(dtype=EVENT_DTYPE.descr, shape=(-1,), sample_rate=self.rate)
            rng = np.random.default_rng(0)
            self.noise = (rng.standard_normal((64 * self.chunk, self.n_ch)) * 10).astype(np.float32)

        def _initialize(self):
            self.n_sent = 0
            self.k = 0
            self.n_ev = 0
            self.log = np.zeros((int(3600 * self.rate / self.chunk), 2))

        def _start(self):
            self.loop = PacedLoop(self._send, self.chunk / self.rate, name="loopdev", max_catch_up=1.0)
            self.loop.start()

        def _stop(self):
            self.loop.stop(10)

        def _send(self):
            start = self.n_sent
            data = self.noise[(self.k % 64) * self.chunk : (self.k % 64 + 1) * self.chunk]
            onsets = np.arange(self.first + self.n_ev * self.period, start + self.chunk, self.period)
            onsets = onsets[(onsets >= start) & (onsets < self.first + self.n_events * self.period)]
            self.n_sent += self.chunk
            t = time.monotonic()  # the clock starts before the sends (their cost is in the latency)
            if len(onsets):
                self.n_ev += len(onsets)
                self.outputs["events"].send(
                    make_events(onsets, type="Stimulus", description="stim", code=1), index=self.n_ev
                )
            self.outputs["signals"].send(data, index=self.n_sent)
            self.log[self.k] = (self.n_sent, t)
            self.k += 1

        def send_log(self):
            return self.log[: self.k].copy()

    return LoopDevice


# -- --stages: the same nodes, each logging when it received and when it had sent each chunk ------------------
def _timed(base, method: str = "_process"):
    """Return a subclass of ``base`` whose ``method`` logs when it received and when it had sent each chunk.

    ``method(input_name, index, data)`` (or ``(index, data)``) logs
    ``(input is the first, index, t_in, t_out, t_mid)``, time.monotonic(), in a preallocated array (no
    allocation). ``t_mid``: the Epocher's send of the epochs starts (engine before, send after), the Decoder's
    model has returned (labels and model before, sends after); else ``t_out``.
    """

    def wrapped(self, *args):
        t_in = time.monotonic()
        self._t_sent = self._t_mid = None
        getattr(base, method)(self, *args)
        t_out = self._t_sent or time.monotonic()  # the Epocher sends mid-call: the time of that send
        log = self.__dict__.get("_tlog")
        if log is None:
            log = self._tlog = np.zeros((400000, 5))
            self._tk = 0
        if self._tk < len(log):
            first = 1.0 if len(args) == 2 or args[0] in ("signals", "epochs") else 0.0
            log[self._tk] = (first, args[-2], t_in, t_out, self._t_mid or t_out)
            self._tk += 1

    def timing_log(self):
        log = self.__dict__.get("_tlog")
        return np.zeros((0, 5)) if log is None else log[: self._tk].copy()

    attrs = {method: wrapped, "timing_log": timing_log}
    if hasattr(base, "_send"):  # Epocher: the epochs a chunk completes are sent before the rest of its work

        def _send(self, epochs, labels):
            if len(labels) and self._t_sent is None:
                self._t_mid = time.monotonic()
            base._send(self, epochs, labels)
            if len(labels) and self._t_sent is None:
                self._t_sent = time.monotonic()

        attrs["_send"] = _send
    if hasattr(base, "_scores"):  # Decoder: the model's call

        def _scores(self, X):
            out = base._scores(self, X)
            self._t_mid = time.monotonic()
            return out

        attrs["_scores"] = _scores
    return type(f"Timed{base.__name__}", (base,), attrs)


_TIMED: dict = {}


def __getattr__(name):  # ``register_node_type_from_module('bci_latency', 'LoopDevice')`` in a nodegroup
    if name == "LoopDevice":
        return _TIMED.setdefault(name, _make_device_class())
    if name in ("TimedSosFilter", "TimedEpocher", "TimedDecoder", "TimedLslOutlet"):
        if name not in _TIMED:
            if name == "TimedSosFilter":
                from lslacq.dsp import SosFilter as base
            elif name == "TimedEpocher":
                from lslacq.bci import Epocher as base
            elif name == "TimedDecoder":
                from lslacq.bci import Decoder as base
            else:
                from lslacq_lsl import LslOutlet as base
            _TIMED[name] = _timed(base, "_push_events" if name == "TimedLslOutlet" else "_process")
        return _TIMED[name]
    raise AttributeError(name)


# -- the receiving process (what PsychoPy would be) --------------------------------------------------------
def _receive(name: str, n: int, ready, stop, out_q) -> None:
    """Pull ``n`` markers (or until ``stop`` is set); put ``(stimulus numbers, arrival times)``.

    A marker ``"label k"`` belongs to stimulus ``k`` (1-based: the mne-lsl loop, which can lose epochs, says
    which one it predicted); a bare ``"label"`` to the next stimulus in order (lslacq: nothing lost, checked).
    """
    import pylsl

    found = pylsl.resolve_byprop("name", name, 1, 30.0)
    if not found:
        out_q.put(None)
        return
    inlet = pylsl.StreamInlet(found[0])
    inlet.open_stream(timeout=10.0)
    ready.set()
    times = np.zeros(n)
    which = np.zeros(n, dtype=np.int64)
    got = 0
    deadline = time.monotonic() + 600
    while got < n and time.monotonic() < deadline and not stop.is_set():
        sample, _ = inlet.pull_sample(timeout=0.2)
        if sample is not None:
            times[got] = time.monotonic()
            parts = sample[0].split()
            which[got] = int(parts[1]) if len(parts) > 1 else got + 1
            got += 1
    out_q.put((which[:got], times[:got]))
    inlet.close_stream()


def _model(path: str, n_ch: int, n_times: int) -> None:
    import joblib
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.pipeline import make_pipeline

    from lslacq.bci import WindowMeans

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, n_ch, n_times)).astype(np.float32)
    X[:20, :, n_times // 2 :] += 1.0
    joblib.dump(
        make_pipeline(WindowMeans(5), LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")).fit(
            X, np.repeat(["a", "b"], 20)
        ),
        path,
    )


def _latencies(log: np.ndarray, onsets: np.ndarray, stop: int, recv: np.ndarray) -> np.ndarray:
    ends = log[:, 0]
    chunk_of_last = np.searchsorted(ends, onsets + stop, side="right")  # first chunk ending after the last sample
    return (recv - log[chunk_of_last, 1]) * 1000.0


def _start_receiver(name: str, n: int):
    ready, stop, q = SPAWN.Event(), SPAWN.Event(), SPAWN.Queue()
    proc = SPAWN.Process(target=_receive, args=(name, n, ready, stop, q), daemon=True)
    proc.start()
    return proc, ready, stop, q


# -- lslacq ------------------------------------------------------------------------------------------------
def run_lslacq(
    n_ch: int,
    rate: float,
    n_epochs: int,
    workdir: str,
    stages: bool = False,
    transfermode: str = "plaindata",
    fuse: bool = False,
) -> dict:
    from lslacq.core import create_manager
    from lslacq.dsp import design_sos

    chunk, tmin, tmax = CONFIGS[(n_ch, rate)]
    start, stop = int(round(tmin * rate)), int(round(tmax * rate))
    model = os.path.join(workdir, f"model{n_ch}.joblib")
    _model(model, n_ch, stop - start + 1)
    first = int(round(0.2 * rate))
    name = f"lslacq-bench-{uuid.uuid4().hex[:8]}"
    man = create_manager("rpc", auto_close_at_exit=False)
    try:
        groups = {
            g: man.create_nodegroup(g)
            for g in ("device", "filter", "epocher", "decoder", "outlet")
            if not (fuse and g == "decoder")
        }
        if fuse:  # --fuse: the Decoder in the Epocher's NodeGroup, epochs and labels inproc (no socket)
            groups["decoder"] = groups["epocher"]
        groups["device"].register_node_type_from_module("bci_latency", "LoopDevice")
        kinds = {"filter": "SosFilter", "epocher": "Epocher", "decoder": "Decoder", "outlet": "LslOutlet"}
        if stages:
            for group, kind in list(kinds.items()):
                groups[group].register_node_type_from_module("bci_latency", "Timed" + kind)
                kinds[group] = "Timed" + kind
        tcp = dict(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
        # --transfermode sharedmem: the three big streams (signal, filtered signal, epochs) in shared memory,
        # only their indexes on the tcp sockets (one host); 2 s of signal, 40 epochs in the rings
        if transfermode == "sharedmem":
            big = dict(tcp, transfermode="sharedmem", buffer_size=int(2 * rate))
            big_epochs = dict(tcp, transfermode="sharedmem", buffer_size=40)
        else:
            big, big_epochs = tcp, tcp
        dev = groups["device"].create_node("LoopDevice", name="dev")
        dev.configure(
            nb_channel=n_ch, sample_rate=rate, chunksize=chunk, interval=INTERVAL, first=first, n_events=n_epochs
        )
        dev.outputs["signals"].configure(**big)
        dev.outputs["events"].configure(**tcp)
        dev.initialize()
        filt = groups["filter"].create_node(kinds["filter"], name="filt")
        filt.configure(coefficients=design_sos("bandpass", [0.5, min(40.0, rate / 4)], rate, order=2))
        filt.inputs["signals"].connect(dev.outputs["signals"])
        filt.outputs["signals"].configure(**big)
        filt.initialize()
        ep = groups["epocher"].create_node(kinds["epocher"], name="epocher")
        ep.configure(
            event_id={"stim": "stim"}, tmin=tmin, tmax=tmax, baseline=(None, 0), buffer_duration=2.0, max_epochs=1
        )
        ep.inputs["signals"].connect(filt.outputs["signals"])
        ep.inputs["events"].connect(dev.outputs["events"])
        ep.outputs["epochs"].configure(**(dict(protocol="inproc") if fuse else big_epochs))
        ep.outputs["labels"].configure(**(dict(protocol="inproc") if fuse else tcp))
        ep.initialize()
        dec = groups["decoder"].create_node(kinds["decoder"], name="decoder")
        dec.configure(model=model)
        dec.inputs["epochs"].connect(ep.outputs["epochs"])
        dec.inputs["labels"].connect(ep.outputs["labels"])
        dec.outputs["predictions"].configure(**tcp)
        dec.initialize()
        out = groups["outlet"].create_node(kinds["outlet"], name="outlet")
        out.configure(name=name, type="Markers")
        out.inputs["signals"].connect(dec.outputs["predictions"])
        out.initialize()
        proc, ready, _, q = _start_receiver(name, n_epochs)
        if not ready.wait(60):
            raise RuntimeError("the receiver did not find the LSL stream")
        for node in (out, dec, ep, filt, dev):
            node.start()
        duration = (first + n_epochs * INTERVAL * rate + stop) / rate
        which, recv = q.get(timeout=duration + 120)
        proc.join(30)
        log = dev.send_log()
        timing = (
            {
                k: np.asarray(n.timing_log())
                for k, n in (("filt", filt), ("epocher", ep), ("decoder", dec), ("outlet", out))
            }
            if stages
            else None
        )
        for node in (dev, filt, ep, dec, out):
            node.stop()
        errors = {
            n: str(x.error)
            for n, x in (("dev", dev), ("filt", filt), ("epocher", ep), ("decoder", dec), ("outlet", out))
            if x.error is not None
        }
        dropped = ep.n_dropped
    finally:
        man.close()
    if errors:
        raise RuntimeError(f"nodes failed: {errors}")
    onsets = first + (which - 1) * int(round(INTERVAL * rate))
    lat = _latencies(np.asarray(log), onsets, stop, np.asarray(recv))
    res = {"n": len(recv), "expected": n_epochs, "dropped": dropped, "lat": lat}
    if stages:
        res["stages"] = _stages(np.asarray(log), timing, onsets + stop, np.asarray(recv))
    return res


def _stages(log: np.ndarray, timing: dict, last: np.ndarray, recv: np.ndarray) -> dict:
    """Per-epoch times (ms) of each hop and each node's work, from the device's send of the chunk holding the
    epoch's last sample (absolute sample ``last``) to the receiver's pull.
    """

    def rows(name, first_input=True):
        t = timing[name]
        return t[t[:, 0] == (1.0 if first_input else 0.0)]

    def at(t, keys):  # the first logged chunk whose end index passes each key
        k = np.searchsorted(t[:, 1], keys, side="left")
        k = np.minimum(k, len(t) - 1)
        return t[k, 2], t[k, 3], t[k, 4]

    n = len(recv)
    dev = log[np.searchsorted(log[:, 0], last, side="right"), 1]
    filt_in, filt_out, _ = at(rows("filt"), last + 1)
    ep_in, ep_out, ep_mid = at(rows("epocher"), last + 1)
    count = np.arange(1, n + 1)
    dec_in, dec_out, dec_mid = at(rows("decoder"), count)
    out_in, out_out, _ = at(rows("outlet"), count)
    marks = [
        ("device send", dev),
        ("SosFilter in", filt_in),
        ("SosFilter out", filt_out),
        ("Epocher in", ep_in),
        ("Epocher out", ep_out),
        ("Decoder in", dec_in),
        ("Decoder out", dec_out),
        ("LslOutlet in", out_in),
        ("LslOutlet out", out_out),
        ("pylsl arrival", recv),
    ]
    out = {}
    for (a, ta), (b, tb) in pairwise(marks):
        out[f"{a} -> {b}"] = (tb - ta) * 1000.0
        if a == "Epocher in":
            out["  Epocher: engine (cut)"] = (ep_mid - ep_in) * 1000.0
            out["  Epocher: send"] = (ep_out - ep_mid) * 1000.0
        elif a == "Decoder in":
            out["  Decoder: labels + model"] = (dec_mid - dec_in) * 1000.0
            out["  Decoder: send"] = (dec_out - dec_mid) * 1000.0
    return out


# -- mne-lsl baseline --------------------------------------------------------------------------------------
def _lsl_device(name, n_ch, rate, chunk, first, period, n_events, go, out_q):
    import pylsl

    info = pylsl.StreamInfo(name, "EEG", n_ch + 1, rate, "float32", name + "-sid")
    chans = info.desc().append_child("channels")
    for i in range(n_ch + 1):
        ch = chans.append_child("channel")
        ch.append_child_value("label", f"EEG{i:03d}" if i < n_ch else "STI")
        ch.append_child_value("type", "eeg" if i < n_ch else "stim")
        ch.append_child_value("unit", "microvolts" if i < n_ch else "none")
    outlet = pylsl.StreamOutlet(info)
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal((64 * chunk, n_ch + 1)) * 10e-6).astype(np.float32)
    noise[:, -1] = 0
    go.wait(120)
    t0 = time.monotonic()
    total = first + n_events * period + int(rate)
    log = []
    k = 0
    while k * chunk < total:
        due = t0 + (k + 1) * chunk / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        data = noise[(k % 64) * chunk : (k % 64 + 1) * chunk].copy()
        s = k * chunk
        on = np.arange(first, first + n_events * period, period)
        on = on[(on >= s) & (on < s + chunk)]
        data[on - s, -1] = (on - first) // period + 1  # the stimulus number (1-based), the event's code
        t = time.monotonic()  # before the push, as the lslacq device
        outlet.push_chunk(data)
        log.append(((k + 1) * chunk, t))
        k += 1
    out_q.put(np.array(log))


def run_mne_lsl(n_ch: int, rate: float, n_epochs: int, workdir: str) -> dict:
    import joblib
    import pylsl
    from mne_lsl.stream import EpochsStream, StreamLSL

    chunk, tmin, tmax = CONFIGS[(n_ch, rate)]
    start, stop = int(round(tmin * rate)), int(round(tmax * rate))
    first, period = int(round(0.2 * rate)), int(round(INTERVAL * rate))
    name = f"mnelsl-bench-{uuid.uuid4().hex[:8]}"
    go, log_q = SPAWN.Event(), SPAWN.Queue()
    dev = SPAWN.Process(
        target=_lsl_device, args=(name, n_ch, rate, chunk, first, period, n_epochs, go, log_q), daemon=True
    )
    dev.start()
    marker_name = name + "-predictions"
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(marker_name, "Markers", 1, 0, "string", marker_name))
    proc, ready, stop_recv, q = _start_receiver(marker_name, n_epochs)
    stream = StreamLSL(bufsize=2.0, name=name)
    stream.connect(acquisition_delay=0.001, timeout=30)  # the device process may take a while to start
    stream.filter(0.5, min(40.0, rate / 4), picks="eeg", iir_params=dict(order=2, ftype="butter", output="sos"))
    # each stimulus has its own code (its number): a loop that falls behind loses epochs (EpochsStream's buffer
    # overwrites them), the code says which epoch each prediction is
    epochs = EpochsStream(
        stream,
        bufsize=10,
        event_id={str(k): k for k in range(1, n_epochs + 1)},
        event_channels="STI",
        tmin=tmin,
        tmax=tmax,
        baseline=(None, 0),
        picks="eeg",
    ).connect(acquisition_delay=0.001)
    # EpochsStream leaves tmax out (one sample fewer than mne.Epochs and the Epocher): fit on its shape
    model_path = os.path.join(workdir, f"model{n_ch}-mnelsl.joblib")
    _model(model_path, n_ch, len(epochs.times))
    model = joblib.load(model_path)
    if not ready.wait(60):
        raise RuntimeError("the receiver did not find the marker stream")
    go.set()
    sent = 0
    deadline = time.monotonic() + (first + n_epochs * period + stop) / rate + 120
    log = None
    last_new = time.monotonic()
    while sent < n_epochs and time.monotonic() < deadline:
        n_new = epochs.n_new_epochs
        if n_new:
            X = epochs.get_data(n_epochs=n_new)
            codes = epochs.events[-len(X) :]
            for label, code in zip(model.predict(X), codes, strict=True):
                outlet.push_sample([f"{label} {int(code)}"])
            sent += len(X)
            last_new = time.monotonic()
        else:
            time.sleep(0.001)
            if log is None and not log_q.empty():
                log = log_q.get()  # the device has sent everything
            if log is not None and time.monotonic() - last_new > 2.0:
                break  # no epoch for 2 s after the end of the signal: the rest were lost
    if log is None:
        log = log_q.get(timeout=120)
    try:
        which, recv = q.get(timeout=5)
    except Exception:  # some epochs were lost: the receiver waits for them
        stop_recv.set()
        which, recv = q.get(timeout=30)
    proc.join(30)
    dev.join(30)
    n_times = len(epochs.times)
    epochs.disconnect()
    stream.disconnect()
    del outlet
    which, first_seen = np.unique(which, return_index=True)  # (a race of get_data/events could repeat one)
    recv = np.asarray(recv)[first_seen]
    onsets = first + (which - 1) * period
    last = start + n_times - 1  # the newest sample of an EpochsStream epoch
    lat = _latencies(log, onsets, last, recv)
    return {"n": len(recv), "expected": n_epochs, "dropped": n_epochs - len(recv), "lat": lat}


def _bursts(lat: np.ndarray, limit: float = 10.0) -> str:
    """How the epochs over ``limit`` ms are spread: ``n over 10 ms in k runs, longest r`` (consecutive epochs
    form a run: one stall of the machine delays every epoch behind it).
    """
    over = np.flatnonzero(lat > limit)
    if not len(over):
        return f"none over {limit:g} ms"
    runs = np.split(over, np.flatnonzero(np.diff(over) > 1) + 1)
    return f"{len(over)} over {limit:g} ms in {len(runs)} runs, longest {max(len(r) for r in runs)}"


def _row(label: str, res: dict) -> str:
    lat = res["lat"]
    p = np.percentile(lat, [50, 90, 99]) if len(lat) else [np.nan] * 3
    return (
        f"{label:<34} {res['n']:>5}/{res['expected']:<5} {p[0]:>7.2f} {p[1]:>7.2f} {p[2]:>7.2f} "
        f"{lat.max() if len(lat) else np.nan:>7.2f}  ({_bursts(lat)})"
    )


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default 1000, --quick 5)")
    parser.add_argument(
        "--configs",
        default=None,
        help="CHANNELSxRATE,... among "
        + ",".join(f"{c}x{r:g}" for c, r in CONFIGS)
        + " (default 64x1000,384x30000; --quick 8x1000)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 5 epochs of 8 ch @ 1 kHz through both loops (figures meaningless)",
    )
    parser.add_argument("--no-mne-lsl", action="store_true", help="skip the mne-lsl baseline")
    parser.add_argument(
        "--transfermode",
        choices=("plaindata", "sharedmem", "both"),
        default="plaindata",
        help="of the signal, filtered signal and epochs streams (default plaindata: the data on "
        "the tcp sockets; sharedmem: in shared memory, indexes on the sockets)",
    )
    parser.add_argument(
        "--fuse",
        action="store_true",
        help="also run the loop with the Epocher and the Decoder in one NodeGroup (epochs inproc)",
    )
    parser.add_argument(
        "--stages",
        action="store_true",
        help="also time each hop and node (nodes that log each chunk's receive and send times)",
    )
    args = parser.parse_args()
    if args.epochs is None:
        args.epochs = 5 if args.quick else 1000
    if args.configs is None:
        args.configs = "8x1000" if args.quick else "64x1000,384x30000"
    sys.path.insert(0, HERE)
    os.environ["PYTHONPATH"] = os.pathsep.join([HERE] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    configs = [(int(c.split("x")[0]), float(c.split("x")[1])) for c in args.configs.split(",")]
    unknown = [f"{c}x{r:g}" for c, r in configs if (c, r) not in CONFIGS]
    if unknown:
        parser.error(
            f"--configs {','.join(unknown)}: not a configuration of this benchmark; choose among "
            + ",".join(f"{c}x{r:g}" for c, r in CONFIGS)
        )
    print(
        f"# bci_latency -- {platform.node()}, {os.cpu_count()} cpus, python {platform.python_version()}; "
        f"{args.epochs} epochs per run, one every {INTERVAL} s; load average {_loadavg()}"
    )
    print(f"{'loop':<34} {'epochs':>11} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for n_ch, rate in configs:
            chunk, tmin, tmax = CONFIGS[(n_ch, rate)]
            what = f"{n_ch} ch @ {rate / 1000:g} kHz"
            print(f"## {what}, chunks of {chunk} samples, epochs {tmin}..{tmax} s", flush=True)
            modes = ("plaindata", "sharedmem") if args.transfermode == "both" else (args.transfermode,)
            runs = [(mode, False) for mode in modes] + [(mode, True) for mode in modes if args.fuse]
            for mode, fuse in runs:
                res = run_lslacq(n_ch, rate, args.epochs, tmp, stages=args.stages, transfermode=mode, fuse=fuse)
                label = (
                    f"lslacq ({'4 NodeGroups, Epocher+Decoder' if fuse else '5 NodeGroups'}, "
                    f"{'tcp' if mode == 'plaindata' else 'sharedmem'})"
                )
                print(_row(label, res), flush=True)
                for what, ms in res.get("stages", {}).items():
                    p = np.percentile(ms, [50, 90, 99])
                    print(
                        f"    {what:<32} {'':>11} {p[0]:>7.2f} {p[1]:>7.2f} {p[2]:>7.2f} {ms.max():>7.2f}", flush=True
                    )
            if not args.no_mne_lsl:
                print(_row("mne-lsl StreamLSL + EpochsStream", run_mne_lsl(n_ch, rate, args.epochs, tmp)), flush=True)
    print(f"# load average at the end {_loadavg()}")


if __name__ == "__main__":
    main()
