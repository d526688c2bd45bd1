"""Markers from an LSL stream whose sender's clock is 1000 s ahead of ours still epoch the right samples.

On one host every LSL sender shares the receiver's clock (CLOCK_MONOTONIC), so liblsl's clock offset is ~0
and nothing shows that it is applied. Here the marker outlet runs in a Linux time namespace
(``unshare --time --monotonic 1000``): its ``local_clock()`` is 1000 s ahead, it stamps the markers on its own
clock, and liblsl's time correction (``LslInlet(clocksync=True)``, the default) must bring them back onto the
EEG's samples, through ``LslInlet(reference=)`` and through ``Epocher(timestamps=True)`` alike.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid

import numpy as np
import pytest
from helpers import wait_until

from lslacq.bci import Epocher

OFFSET = 1000.0  # seconds the marker sender's clock is ahead
FS, N_CH, N = 250.0, 3, 2500
EVENT_ID = {"target": "target", "nontarget": "nontarget"}

_SENDER = r"""
import json, sys
import pylsl
name = sys.argv[1]
out = pylsl.StreamOutlet(pylsl.StreamInfo(name, "Markers", 1, 0, "string", name + "-sid"))
print(json.dumps({"clock": pylsl.local_clock()}), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd == "quit":
        break
    if not out.wait_for_consumers(10.0):
        print(json.dumps({"error": "no consumer"}), flush=True)
        continue
    for desc, t in cmd:  # t: a time on this process's own clock
        out.push_sample([desc], t)
    print(json.dumps({"pushed": len(cmd)}), flush=True)
"""


def _time_namespace_cmd() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("needs util-linux's unshare (time namespaces) to run a sender on another clock")
    cmd = [unshare, "--time", "--monotonic", str(int(OFFSET))]
    probe = subprocess.run(cmd + ["true"], capture_output=True, text=True, timeout=10)
    if probe.returncode != 0:
        pytest.skip(f"cannot create a time namespace here ({probe.stderr.strip()}); needs root and Linux >= 5.6")
    return cmd


def _mne_epochs(x, marks, desc):
    mne = pytest.importorskip("mne")
    info = mne.create_info([f"c{i}" for i in range(N_CH)], FS, "eeg")
    raw = mne.io.RawArray(x.T.astype(np.float64), info, verbose="error")
    codes = {label: i + 1 for i, label in enumerate(EVENT_ID)}
    events = np.array([[m, 0, codes[d]] for m, d in zip(marks, desc, strict=True)])
    return mne.Epochs(raw, events, codes, -0.1, 0.5, baseline=(None, 0), preload=True, verbose="error").get_data()


@pytest.mark.slow
def test_markers_from_a_sender_on_another_clock_land_on_their_samples():
    pylsl = pytest.importorskip("pylsl")
    pytest.importorskip("mne")
    from lslacq_lsl import LslInlet

    name = f"lslacq-clock-{uuid.uuid4().hex[:8]}"
    sender = subprocess.Popen(
        _time_namespace_cmd() + [sys.executable, "-c", _SENDER, name + "-mk"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    eeg_out = None
    nodes = ()
    try:
        ahead = json.loads(sender.stdout.readline())["clock"] - pylsl.local_clock()
        assert OFFSET - 5.0 < ahead <= OFFSET, f"the sender's clock is {ahead:.3f} s ahead, not ~{OFFSET} s"
        rng = np.random.default_rng(7)
        x = (rng.standard_normal((N, N_CH)) * 10 + np.array([5.0, -20.0, 40.0])).astype(np.float32)
        ts = pylsl.local_clock() - 20.0 + np.arange(N) / FS  # the EEG on our clock
        eeg_out = pylsl.StreamOutlet(pylsl.StreamInfo(name + "-eeg", "EEG", N_CH, FS, "float32", name + "-eeg-sid"))
        eeg, mk = LslInlet(name=name + "-eeg-in"), LslInlet(name=name + "-mk-in")
        by_ref, by_ts = Epocher(name="by-reference"), Epocher(name="by-timestamps")
        nodes = (eeg, mk, by_ref, by_ts)
        eeg.configure(name=name + "-eeg", resolve_timeout=10)
        mk.configure(name=name + "-mk", reference=name + "-eeg-in", resolve_timeout=10)  # clocksync: the default
        for inlet in (eeg, mk):
            inlet.outputs["signals"].configure(protocol="inproc")
            inlet.outputs["timestamps"].configure(protocol="inproc")
        for ep, timestamps in ((by_ref, False), (by_ts, True)):
            ep.configure(
                event_id=EVENT_ID,
                tmin=-0.1,
                tmax=0.5,
                baseline=(None, 0),
                dtype="float64",
                buffer_duration=20.0,
                timestamps=timestamps,
            )
            ep.inputs["signals"].connect(eeg.outputs["signals"])
            ep.inputs["events"].connect(mk.outputs["signals"])
        by_ts.inputs["signal_timestamps"].connect(eeg.outputs["timestamps"])
        by_ts.inputs["event_timestamps"].connect(mk.outputs["timestamps"])
        for node in nodes:
            node.initialize()
        for node in nodes:
            node.start()
        # liblsl measured the offset (the sender's clock minus ours), to the round trip of its probes
        assert abs(mk.inlet.time_correction(timeout=10.0) + OFFSET) < 0.01
        wait_until(eeg_out.have_consumers, timeout=10, what="the EEG inlet subscribed")
        half = 1000
        for k in range(0, half, 25):
            eeg_out.push_chunk(x[k : k + 25], timestamp=list(ts[k : k + 25]))
        wait_until(lambda: eeg.n_received == half, timeout=10, what="the first EEG samples in the inlet")
        marks = np.array([100, 333, 600, 1207, 1800, 2300])  # three received already, three to come
        offsets = np.array([0.3, -0.3, 0.2, -0.2, 0.0, 0.3]) / FS  # off their sample by < half a period
        desc = ["target", "nontarget", "target", "nontarget", "target", "nontarget"]
        # each marker stamped on the sender's clock: our time of the sample + the sender's offset
        sender.stdin.write(
            json.dumps([[d, float(ts[m] + o + OFFSET)] for d, m, o in zip(desc, marks, offsets, strict=True)]) + "\n"
        )
        sender.stdin.flush()
        assert json.loads(sender.stdout.readline()) == {"pushed": 6}
        wait_until(
            lambda: (
                len(by_ref.engine.pending) + by_ref.n_epochs == 6
                and by_ts.engine.aligner.n_pending + len(by_ts.engine.pending) + by_ts.n_epochs == 6
            ),
            timeout=10,
            what="the six markers in both Epochers",
        )
        for k in range(half, N, 25):
            eeg_out.push_chunk(x[k : k + 25], timestamp=list(ts[k : k + 25]))
        wait_until(lambda: by_ref.n_epochs == 6 and by_ts.n_epochs == 6, timeout=20, what="6 epochs in each")
        results = {
            ep.name: (ep.events["index"].tolist(), [d.decode() for d in ep.events["description"]], ep.get_data())
            for ep in (by_ref, by_ts)
        }
        for node in nodes:
            assert node.error is None, node
    finally:
        for node in reversed(nodes):
            node.close()
        if sender.poll() is None:
            try:
                sender.stdin.write('"quit"\n')
                sender.stdin.close()
            except OSError:
                pass
            try:
                sender.wait(10)
            except subprocess.TimeoutExpired:
                sender.kill()
                sender.wait(5)
        del eeg_out
    expected = _mne_epochs(x, marks, desc)
    for what, (index, labels, data) in results.items():
        assert index == marks.tolist(), what  # 1000 s off without the correction, one sample off if wrong
        assert labels == desc, what
        np.testing.assert_allclose(data, expected, atol=1e-6, err_msg=what)
