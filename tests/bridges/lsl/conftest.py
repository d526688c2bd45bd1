"""Fixtures for the LSL bridge tests: loopback-only liblsl, unique stream names, outlets that get closed."""

from __future__ import annotations

import gc
import os
import pathlib
import uuid

# liblsl reads its configuration once, at the first resolve/outlet, from $LSLAPICFG:
# keep every LSL packet of the tests on 127.0.0.1.
os.environ.setdefault("LSLAPICFG", str(pathlib.Path(__file__).with_name("lsl_api.cfg")))

import pytest  # noqa: E402

pylsl = pytest.importorskip("pylsl")


@pytest.fixture
def unique_name():
    """A stream name no other test (or engineer) on this machine uses."""
    return f"lslacq-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_outlet():
    """Factory for plain pylsl outlets, destroyed at the end of the test."""
    outlets = []

    def make(
        name,
        type="EEG",
        n_channels=4,
        srate=100.0,
        fmt="float32",
        source_id=None,
        labels=None,
        units=None,
        desc=True,
        chunk_size=0,
    ):
        info = pylsl.StreamInfo(name, type, n_channels, srate, fmt, source_id or f"{name}-sid")
        if desc:
            chans = info.desc().append_child("channels")
            for i in range(n_channels):
                ch = chans.append_child("channel")
                ch.append_child_value("label", (labels or [f"C{i}" for i in range(n_channels)])[i])
                if units:
                    ch.append_child_value("unit", units[i])
        outlet = pylsl.StreamOutlet(info, chunk_size=chunk_size)
        outlets.append(outlet)
        return outlet

    yield make
    outlets.clear()
    gc.collect()
