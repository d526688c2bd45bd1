"""Helpers of the BCI tests: a seeded P300 session, in-process sources, readers."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import numpy as np

from lslacq.core.stream import InputStream, OutputStream
from lslacq.core.stream.events import EVENT_DTYPE
from lslacq.devices.simulated_eeg import EEGSimulator

FS = 250.0
EVENT_ID = {"nontarget": "nontarget", "target": "target"}
EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def load_example(name: str):
    """Import ``examples/<name>.py`` as a module (with examples/ on sys.path, for its ``_bci_common`` import)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"{name}_example", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def p300_session(
    seconds: float, seed: int = 0, nb_channel: int = 16, amplitude: float = 6.0, event_interval: float = 0.5
):
    """``(data, events)`` of a simulated oddball: targets evoke a P300 of ``amplitude`` uV, nontargets none."""
    sim = EEGSimulator(
        nb_channel,
        FS,
        event_interval=event_interval,
        seed=seed,
        erp_classes={"target": amplitude, "nontarget": 0.0},
        class_probabilities={"target": 1, "nontarget": 2},
    )
    n = int(seconds * FS)
    parts = [sim.generate(50) for _ in range(n // 50)]
    data = np.concatenate([p[0] for p in parts])
    events = np.concatenate([p[1] for p in parts]).astype(EVENT_DTYPE)
    return data, events, sim.channel_names


def sources(n_ch: int, channel_names=None, protocol: str = "inproc"):
    """A signal and an event OutputStream as a device would configure them."""
    sig = OutputStream(name="sig")
    sig.configure(
        protocol=protocol,
        dtype="float32",
        shape=(-1, n_ch),
        sample_rate=FS,
        channel_names=list(channel_names) if channel_names else [f"c{i}" for i in range(n_ch)],
        units="microvolts",
    )
    ev = OutputStream(name="ev")
    ev.configure(protocol=protocol, streamtype="event", dtype=EVENT_DTYPE.descr, shape=(-1,), sample_rate=FS)
    return sig, ev


def send_session(sig, ev, data, events, epocher, chunk: int = 50):
    """Send the markers first (as a stimulus program announces them), then the signal chunk by chunk.

    The signal waits until ``epocher`` holds the markers (its inputs are read by two threads).
    """
    from helpers import wait_until

    ev.send(events)
    wait_until(
        lambda: len(epocher.engine.pending) + epocher.n_ignored >= len(events),
        timeout=20,
        what="the markers in the Epocher",
    )
    for k in range(0, len(data), chunk):
        sig.send(data[k : k + chunk])


def reader(output) -> InputStream:
    inp = InputStream()
    inp.connect(output)
    return inp


def recv_n(inp: InputStream, n: int, timeout_ms: int = 20000) -> np.ndarray:
    parts, total = [], 0
    while total < n:
        _, d = inp.recv(timeout=timeout_ms)
        parts.append(np.asarray(d))
        total += len(d)
    return np.concatenate(parts)
