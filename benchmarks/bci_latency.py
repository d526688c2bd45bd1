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
  channel) to a pylsl outlet; one process runs ``StreamLSL`` (with its online
  band-pass) + ``EpochsStream`` (events from the stim channel) and polls
  ``n_new_epochs`` every 1 ms (as its documentation's examples do), predicts
  with the same model and pushes each prediction to a pylsl marker outlet.

Configurations: 64 ch @ 1 kHz (chunks of 10 samples, epochs -0.1..0.5 s) and
384 ch @ 30 kHz (chunks of 300 samples, epochs -0.01..0.05 s); one stimulus
every 0.05 s.

Run: ``python benchmarks/bci_latency.py [--epochs 1000] [--configs 64x1000,384x30000] [--no-mne-lsl]``.
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

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SPAWN = mp.get_context("spawn")
CONFIGS = {  # n_channels x rate: (chunk, tmin, tmax)
    (64, 1000.0): (10, -0.1, 0.5),
    (384, 30000.0): (300, -0.01, 0.05),
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
        _output_specs = {"signals": {"streamtype": "analogsignal", "dtype": "float32"},
                         "events": {"streamtype": "event"}}

        def _configure(self, nb_channel=64, sample_rate=1000.0, chunksize=10, interval=0.05, first=0,
                       n_events=1000):
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
            data = self.noise[(self.k % 64) * self.chunk:(self.k % 64 + 1) * self.chunk]
            onsets = np.arange(self.first + self.n_ev * self.period, start + self.chunk, self.period)
            onsets = onsets[(onsets >= start) & (onsets < self.first + self.n_events * self.period)]
            self.n_sent += self.chunk
            if len(onsets):
                self.n_ev += len(onsets)
                self.outputs["events"].send(make_events(onsets, type="Stimulus", description="stim", code=1),
                                            index=self.n_ev)
            self.outputs["signals"].send(data, index=self.n_sent)
            self.log[self.k] = (self.n_sent, time.monotonic())
            self.k += 1

        def send_log(self):
            return self.log[:self.k].copy()

    return LoopDevice


def __getattr__(name):  # ``register_node_type_from_module('bci_latency', 'LoopDevice')`` in a nodegroup
    if name == "LoopDevice":
        return _make_device_class()
    raise AttributeError(name)


# -- the receiving process (what PsychoPy would be) --------------------------------------------------------
def _receive(name: str, n: int, ready, out_q) -> None:
    import pylsl

    found = pylsl.resolve_byprop("name", name, 1, 30.0)
    if not found:
        out_q.put(None)
        return
    inlet = pylsl.StreamInlet(found[0])
    inlet.open_stream(timeout=10.0)
    ready.set()
    times = np.zeros(n)
    got = 0
    deadline = time.monotonic() + 600
    while got < n and time.monotonic() < deadline:
        sample, _ = inlet.pull_sample(timeout=1.0)
        if sample is not None:
            times[got] = time.monotonic()
            got += 1
    out_q.put(times[:got])
    inlet.close_stream()


def _model(path: str, n_ch: int, n_times: int) -> None:
    import joblib
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.pipeline import make_pipeline

    from lslacq.bci import WindowMeans

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, n_ch, n_times)).astype(np.float32)
    X[:20, :, n_times // 2:] += 1.0
    joblib.dump(make_pipeline(WindowMeans(5), LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"))
                .fit(X, np.repeat(["a", "b"], 20)), path)


def _latencies(log: np.ndarray, onsets: np.ndarray, stop: int, recv: np.ndarray) -> np.ndarray:
    ends = log[:, 0]
    chunk_of_last = np.searchsorted(ends, onsets + stop, side="right")  # first chunk ending after the last sample
    return (recv - log[chunk_of_last, 1]) * 1000.0


def _start_receiver(name: str, n: int):
    ready, q = SPAWN.Event(), SPAWN.Queue()
    proc = SPAWN.Process(target=_receive, args=(name, n, ready, q), daemon=True)
    proc.start()
    return proc, ready, q


# -- lslacq ------------------------------------------------------------------------------------------------
def run_lslacq(n_ch: int, rate: float, n_epochs: int, workdir: str) -> dict:
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
        groups = {g: man.create_nodegroup(g) for g in ("device", "filter", "epocher", "decoder", "outlet")}
        groups["device"].register_node_type_from_module("bci_latency", "LoopDevice")
        tcp = dict(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
        dev = groups["device"].create_node("LoopDevice", name="dev")
        dev.configure(nb_channel=n_ch, sample_rate=rate, chunksize=chunk, interval=INTERVAL, first=first,
                      n_events=n_epochs)
        dev.outputs["signals"].configure(**tcp)
        dev.outputs["events"].configure(**tcp)
        dev.initialize()
        filt = groups["filter"].create_node("SosFilter", name="filt")
        filt.configure(coefficients=design_sos("bandpass", [0.5, min(40.0, rate / 4)], rate, order=2))
        filt.inputs["signals"].connect(dev.outputs["signals"])
        filt.outputs["signals"].configure(**tcp)
        filt.initialize()
        ep = groups["epocher"].create_node("Epocher", name="epocher")
        ep.configure(event_id={"stim": "stim"}, tmin=tmin, tmax=tmax, baseline=(None, 0), buffer_duration=2.0,
                     max_epochs=1)
        ep.inputs["signals"].connect(filt.outputs["signals"])
        ep.inputs["events"].connect(dev.outputs["events"])
        ep.outputs["epochs"].configure(**tcp)
        ep.outputs["labels"].configure(**tcp)
        ep.initialize()
        dec = groups["decoder"].create_node("Decoder", name="decoder")
        dec.configure(model=model)
        dec.inputs["epochs"].connect(ep.outputs["epochs"])
        dec.inputs["labels"].connect(ep.outputs["labels"])
        dec.outputs["predictions"].configure(**tcp)
        dec.initialize()
        out = groups["outlet"].create_node("LslOutlet", name="outlet")
        out.configure(name=name, type="Markers")
        out.inputs["signals"].connect(dec.outputs["predictions"])
        out.initialize()
        proc, ready, q = _start_receiver(name, n_epochs)
        if not ready.wait(60):
            raise RuntimeError("the receiver did not find the LSL stream")
        for node in (out, dec, ep, filt, dev):
            node.start()
        duration = (first + n_epochs * INTERVAL * rate + stop) / rate
        recv = q.get(timeout=duration + 120)
        proc.join(30)
        log = dev.send_log()
        for node in (dev, filt, ep, dec, out):
            node.stop()
        errors = {n: str(x.error) for n, x in (("dev", dev), ("filt", filt), ("epocher", ep), ("decoder", dec),
                                                ("outlet", out)) if x.error is not None}
        dropped = ep.n_dropped
    finally:
        man.close()
    if errors:
        raise RuntimeError(f"nodes failed: {errors}")
    onsets = first + np.arange(len(recv)) * int(round(INTERVAL * rate))
    lat = _latencies(np.asarray(log), onsets, stop, np.asarray(recv))
    return {"n": len(recv), "expected": n_epochs, "dropped": dropped, "lat": lat}


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
        data = noise[(k % 64) * chunk:(k % 64 + 1) * chunk].copy()
        s = k * chunk
        on = np.arange(first, first + n_events * period, period)
        on = on[(on >= s) & (on < s + chunk)]
        data[on - s, -1] = 1.0
        outlet.push_chunk(data)
        log.append(((k + 1) * chunk, time.monotonic()))
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
    dev = SPAWN.Process(target=_lsl_device, args=(name, n_ch, rate, chunk, first, period, n_epochs, go, log_q),
                        daemon=True)
    dev.start()
    marker_name = name + "-predictions"
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(marker_name, "Markers", 1, 0, "string", marker_name))
    proc, ready, q = _start_receiver(marker_name, n_epochs)
    stream = StreamLSL(bufsize=2.0, name=name)
    stream.connect(acquisition_delay=0.001)
    stream.filter(0.5, min(40.0, rate / 4), picks="eeg", iir_params=dict(order=2, ftype="butter", output="sos"))
    epochs = EpochsStream(stream, bufsize=10, event_id=1, event_channels="STI", tmin=tmin, tmax=tmax,
                          baseline=(None, 0), picks="eeg").connect(acquisition_delay=0.001)
    # EpochsStream leaves tmax out (one sample fewer than mne.Epochs and the Epocher): fit on its shape
    model_path = os.path.join(workdir, f"model{n_ch}-mnelsl.joblib")
    _model(model_path, n_ch, len(epochs.times))
    model = joblib.load(model_path)
    if not ready.wait(60):
        raise RuntimeError("the receiver did not find the marker stream")
    go.set()
    sent = 0
    deadline = time.monotonic() + (first + n_epochs * period + stop) / rate + 120
    while sent < n_epochs and time.monotonic() < deadline:
        n_new = epochs.n_new_epochs
        if n_new:
            X = epochs.get_data(n_epochs=n_new)
            for label in model.predict(X):
                outlet.push_sample([str(label)])
            sent += n_new
        else:
            time.sleep(0.001)
    recv = q.get(timeout=120)
    log = log_q.get(timeout=120)
    proc.join(30)
    dev.join(30)
    n_times = len(epochs.times)
    epochs.disconnect()
    stream.disconnect()
    del outlet
    onsets = first + np.arange(len(recv)) * period
    last = start + n_times - 1  # the newest sample of an EpochsStream epoch
    lat = _latencies(log, onsets, last, np.asarray(recv))
    return {"n": len(recv), "expected": n_epochs, "dropped": 0, "lat": lat}


def _row(label: str, res: dict) -> str:
    lat = res["lat"]
    p = np.percentile(lat, [50, 90, 99]) if len(lat) else [np.nan] * 3
    return (f"{label:<34} {res['n']:>5}/{res['expected']:<5} {p[0]:>7.2f} {p[1]:>7.2f} {p[2]:>7.2f} "
            f"{lat.max() if len(lat) else np.nan:>7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1000, help="epochs per run (default 1000)")
    parser.add_argument("--configs", default="64x1000,384x30000", help="CHANNELSxRATE,... (default both)")
    parser.add_argument("--no-mne-lsl", action="store_true", help="skip the mne-lsl baseline")
    args = parser.parse_args()
    sys.path.insert(0, HERE)
    os.environ["PYTHONPATH"] = os.pathsep.join([HERE] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    configs = [(int(c.split("x")[0]), float(c.split("x")[1])) for c in args.configs.split(",")]
    print(f"# bci_latency -- {platform.node()}, {os.cpu_count()} cpus, python {platform.python_version()}; "
          f"{args.epochs} epochs per run, one every {INTERVAL} s")
    print(f"{'loop':<34} {'epochs':>11} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for n_ch, rate in configs:
            chunk, tmin, tmax = CONFIGS[(n_ch, rate)]
            what = f"{n_ch} ch @ {rate / 1000:g} kHz"
            print(f"## {what}, chunks of {chunk} samples, epochs {tmin}..{tmax} s", flush=True)
            print(_row("lslacq (5 NodeGroups, tcp)", run_lslacq(n_ch, rate, args.epochs, tmp)), flush=True)
            if not args.no_mne_lsl:
                print(_row("mne-lsl StreamLSL + EpochsStream", run_mne_lsl(n_ch, rate, args.epochs, tmp)),
                      flush=True)


if __name__ == "__main__":
    main()
