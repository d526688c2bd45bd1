"""NodeGroup.health(): the process's CPU use between two calls (graph status tables show it)."""

from __future__ import annotations

import time

from lslacq.core.nodegroup import NodeGroup


def test_cpu_percent_covers_the_time_since_the_previous_call():
    group = NodeGroup(name="g")
    assert group.health()["cpu_percent"] == 0.0  # first call: no interval yet
    end = time.process_time() + 0.2
    while time.process_time() < end:  # keep this process busy for 0.2 s of CPU
        pass
    info = group.health()
    assert info["cpu_percent"] > 10.0 and info["nodes"] == {}
