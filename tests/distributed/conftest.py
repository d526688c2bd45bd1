"""The rig fixture: machines as network namespaces, each with an ``lslacq host`` (see rig.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from rig import ORPHAN_TIMEOUT, Rig, netns_unavailable  # noqa: E402


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    """Three machines (A, B and M, the manager's), hosts on A (two more for the kill tests) and B.

    ``rig.hosts``: ``'a'`` and ``'b'`` (default orphan_timeout), ``'a2'`` (killed by the kill test) and
    ``'a3'`` (orphan_timeout 3 s) on machine A. Torn down (processes killed by pid, namespaces deleted)
    even when a test fails.
    """
    why = netns_unavailable()
    if why:
        pytest.skip(f"the network-namespace rig cannot be made here: {why}")
    rig = Rig(tmp_path_factory.mktemp("rig"))
    try:
        rig.up()
        launched = {
            "a": rig.launch_host("a", 7100),
            "b": rig.launch_host("b", 7100),
            "a2": rig.launch_host("a", 7101),
            "a3": rig.launch_host("a", 7102, "--orphan-timeout", str(ORPHAN_TIMEOUT)),
        }
        rig.hosts = {name: rig.wait_host(h) for name, h in launched.items()}
        yield rig
    finally:
        for host in getattr(rig, "hosts", {}).values():  # SIGTERM: a host closes its nodegroups
            rig.stop_process(host["pid"])
        leftovers = [f"{p.pid} {' '.join(p.cmdline()[:4])}" for p in rig.leftovers()]
        rig.close()
    assert not leftovers, f"processes of the rig still running after its hosts stopped: {leftovers}"
