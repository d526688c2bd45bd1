"""A rig of machines made of Linux network namespaces, for tests of graphs across a real network boundary.

Each machine is a network namespace with one address, ``10.213.0.N/32`` on
its loopback interface, and one point-to-point veth link to every other
machine (a route per peer), so "unplugging" a machine is taking its links
down: nothing in the root namespace is touched and the addresses exist only
inside the namespaces. Every process of the rig (``lslacq host``, the
scenario driver holding the manager) runs in its namespace through
``ip netns exec``, with the rig's CurveZMQ keys and an LSL api config whose
KnownPeers are the machines' addresses (LSL discovery by unicast, across
the namespaces).

Run by hand (as root)::

    python tests/distributed/rig.py --hosts   # prints the machines, hosts and keys, waits for Ctrl-C

The tests use it through the ``rig`` fixture (tests/distributed/conftest.py)::

    sudo python -m pytest tests/distributed -q
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil

SUBNET = "10.213.0"
ORPHAN_TIMEOUT = 3.0  # s: the orphan_timeout of the rig's host "a3" (the others keep the default, 30 s)
LSL_CFG = """; written by tests/distributed/rig.py: LSL discovery between the rig's namespaces by unicast
[ports]
IPv6 = disable

[multicast]
ResolveScope = machine

[lab]
KnownPeers = {{{peers}}}

[tuning]
UnicastMinRTT = 0.1
UnicastMaxRTT = 0.5

[log]
level = -1
"""


def run(*argv: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess:
    """Run a command; raise with its stderr if it fails."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def netns_unavailable() -> str | None:
    """Return why network namespaces cannot be made here, or None."""
    if sys.platform != "linux":
        return "network namespaces are Linux only"
    if os.geteuid() != 0:
        return "making network namespaces needs root (run the distributed tests as root, as CI does)"
    name = f"lqprobe{os.getpid()}"
    try:
        run("ip", "netns", "add", name)
    except FileNotFoundError:
        return "the `ip` command (iproute2) is not installed"
    except Exception as exc:
        return f"`ip netns add` does not work here: {exc}"
    try:
        run("ip", "-n", name, "link", "add", "p0", "type", "veth", "peer", "name", "p1")
    except Exception as exc:
        return f"veth links cannot be made here: {exc}"
    finally:
        run("ip", "netns", "del", name, check=False)
    return None


class Rig:
    """Machines as network namespaces, linked point to point.

    Parameters
    ----------
    workdir : Path
        Where the keys, the LSL config and the recordings go (shared by
        every namespace: they share the file system).
    machines : sequence of str
        Machine names; machine ``k`` (from 1) has address ``10.213.0.k``.
    """

    def __init__(self, workdir: Path, machines=("a", "b", "m")):
        self.workdir = Path(workdir)
        self.tag = f"lq{uuid.uuid4().hex[:6]}"
        self.marker = uuid.uuid4().hex  # in the environment of every process of the rig
        self.machines = list(machines)
        self.ns = {m: f"{self.tag}-{m}" for m in self.machines}
        self.ip = {m: f"{SUBNET}.{k + 1}" for k, m in enumerate(self.machines)}
        self.procs: list[subprocess.Popen] = []
        self.keys = self.workdir / "keys"
        self.lsl_cfg = self.workdir / "lsl_api.cfg"
        self._made: list[str] = []

    # -- set up / tear down ---------------------------------------------------
    def up(self) -> Rig:
        for m in self.machines:
            ns = self.ns[m]
            run("ip", "netns", "add", ns)
            self._made.append(ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
            run("ip", "-n", ns, "addr", "add", f"{self.ip[m]}/32", "dev", "lo")
        for i, x in enumerate(self.machines):
            for y in self.machines[i + 1 :]:
                run(
                    "ip",
                    "link",
                    "add",
                    self._dev(x, y),
                    "netns",
                    self.ns[x],
                    "type",
                    "veth",
                    "peer",
                    "name",
                    self._dev(y, x),
                    "netns",
                    self.ns[y],
                )
                for a, b in ((x, y), (y, x)):
                    # the machine's address on each link too: liblsl sends its discovery queries through the
                    # interfaces that have an IPv4 address (and lo keeps it while a link is down)
                    run("ip", "-n", self.ns[a], "addr", "add", f"{self.ip[a]}/32", "dev", self._dev(a, b))
                    run("ip", "-n", self.ns[a], "link", "set", self._dev(a, b), "up")
        for x in self.machines:
            for y in self.machines:
                if x != y:
                    self._route(x, y)
        self.keys.mkdir(parents=True, exist_ok=True)
        (self.keys / "authorized").mkdir(exist_ok=True)
        (self.keys / "intruder").mkdir(exist_ok=True)
        from lslacq.core.rpc.security import create_keys

        public, _ = create_keys(self.keys, "lab")
        (self.keys / "authorized" / "lab.key").write_bytes(Path(public).read_bytes())
        create_keys(self.keys / "intruder", "intruder")
        self.lsl_cfg.write_text(LSL_CFG.format(peers=", ".join(self.ip.values())))
        return self

    def close(self) -> list[str]:
        """Kill every process of the rig (by pid), delete the namespaces; return what had to be killed."""
        killed = []
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                killed.append(" ".join(proc.args[-3:]) if isinstance(proc.args, list) else str(proc.args))
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        for p in self.leftovers():
            try:
                p.kill()
                killed.append(f"pid {p.pid} {' '.join(p.cmdline()[:4])}")
            except psutil.Error:
                pass
        for ns in self._made:
            run("ip", "netns", "del", ns, check=False)
        self._made = []
        return killed

    def leftovers(self) -> list[psutil.Process]:
        """Processes still running with this rig's marker in their environment."""
        found = []
        for p in psutil.process_iter():
            try:
                if p.pid != os.getpid() and p.environ().get("LSLACQ_TEST_MARKER") == self.marker:
                    found.append(p)
            except psutil.Error:
                continue
        return found

    # -- network ---------------------------------------------------------------
    @staticmethod
    def _dev(x: str, y: str) -> str:
        return f"to{y}"

    def _route(self, x: str, y: str) -> None:
        run("ip", "-n", self.ns[x], "route", "replace", f"{self.ip[y]}/32", "dev", self._dev(x, y), "src", self.ip[x])

    def unplug(self, machine: str) -> None:
        """Take every link of ``machine`` down (its cable is out: the others see no carrier)."""
        unplug_machine(self.config(), machine)

    def plug(self, machine: str) -> None:
        """Bring ``machine``'s links back up (and its routes, which the kernel removed)."""
        plug_machine(self.config(), machine)

    # -- processes ---------------------------------------------------------------
    def env(self, **extra) -> dict:
        env = dict(os.environ, LSLACQ_TEST_MARKER=self.marker, LSLAPICFG=str(self.lsl_cfg), PYTHONUNBUFFERED="1")
        here = Path(__file__).resolve().parent
        env["PYTHONPATH"] = os.pathsep.join(
            [str(here), str(here.parent)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        )
        env.update(extra)
        return env

    def popen(self, machine: str, argv: list[str], **kwds) -> subprocess.Popen:
        """Start ``argv`` in ``machine``'s namespace, in a new session (so the rig can kill its group)."""
        kwds.setdefault("env", self.env())
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns[machine], *argv], start_new_session=True, text=True, **kwds
        )
        self.procs.append(proc)
        return proc

    def start_host(self, machine: str, port: int = 7100, *options: str) -> dict:
        """Start ``lslacq host tcp://IP:PORT`` with the lab keys in ``machine``; return its address, key and pid."""
        return self.wait_host(self.launch_host(machine, port, *options))

    def launch_host(self, machine: str, port: int = 7100, *options: str) -> dict:
        """Launch ``lslacq host`` (see :meth:`start_host`) without waiting for it; pass the result to wait_host.

        Its output goes to ``workdir/host-MACHINE-PORT.log`` (a file, so a
        chatty host never blocks on a full pipe).
        """
        addr = f"tcp://{self.ip[machine]}:{port}"
        log = self.workdir / f"host-{machine}-{port}.log"
        with open(log, "w") as out:
            proc = self.popen(
                machine,
                [
                    sys.executable,
                    "-m",
                    "lslacq.cli",
                    "host",
                    addr,
                    "--name",
                    f"host-{machine}-{port}",
                    "--key",
                    str(self.keys / "lab.key_secret"),
                    "--authorized-keys",
                    str(self.keys / "authorized"),
                    *options,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return {"machine": machine, "address": addr, "key": None, "pid": proc.pid, "log": str(log)}

    def wait_host(self, host: dict, timeout: float = 60) -> dict:
        """Wait until a launched host prints its address; fill in its public key."""
        from helpers import wait_until

        proc = next(p for p in self.procs if p.pid == host["pid"])
        log = Path(host["log"])

        def address_line() -> str:
            text = log.read_text()
            line = next((x for x in text.splitlines() if "serving at" in x), "")
            if not line and proc.poll() is not None:
                raise RuntimeError(f"lslacq host in {host['machine']} did not start (exit code {proc.poll()}): {text}")
            return line

        line = wait_until(address_line, timeout, 0.05, f"lslacq host in {host['machine']} to start (its log: {log})")
        host["key"] = line.split("CurveZMQ public key ")[1][:40] if "CurveZMQ public key" in line else None
        return host

    def stop_process(self, pid: int, timeout: float = 20) -> int | None:
        """SIGTERM one process of the rig (by pid), kill it after ``timeout``; return its exit code."""
        proc = next(p for p in self.procs if p.pid == pid)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        return proc.returncode

    def scenario(self, name: str, timeout: float = 120, **cfg) -> dict:
        """Run ``scenarios.py NAME`` in the manager's machine; return what it printed as ``RESULT {json}``."""
        log = self.workdir / f"scenario-{name}.log"
        config = json.dumps(self.config(**cfg))
        with open(log, "w") as err:
            proc = self.popen(
                "m",
                [sys.executable, str(Path(__file__).with_name("scenarios.py")), name, config],
                stdout=subprocess.PIPE,
                stderr=err,
            )
            try:
                out, _ = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, _ = proc.communicate(timeout=10)
                raise AssertionError(
                    f"scenario {name} did not finish within {timeout} s; its log:\n{_tail(log)}"
                ) from None
        results = [x for x in out.splitlines() if x.startswith("RESULT ")]
        if proc.returncode or not results:
            raise AssertionError(f"scenario {name} failed (exit code {proc.returncode}); its log:\n{_tail(log)}")
        return json.loads(results[-1][len("RESULT ") :])

    def config(self, **extra) -> dict:
        """What a scenario script needs to know about the rig (JSON-able)."""
        return {
            "ns": self.ns,
            "ip": self.ip,
            "keys": str(self.keys),
            "workdir": str(self.workdir),
            "marker": self.marker,
            **extra,
        }


def unplug_machine(cfg: dict, machine: str) -> None:
    """Take every link of ``machine`` down; ``cfg`` is :meth:`Rig.config` (usable from a scenario process)."""
    for other in cfg["ip"]:
        if other != machine:
            run("ip", "-n", cfg["ns"][machine], "link", "set", f"to{other}", "down")


def plug_machine(cfg: dict, machine: str) -> None:
    """Bring ``machine``'s links up again and restore its routes (the kernel drops them with the link)."""
    for other in cfg["ip"]:
        if other != machine:
            run("ip", "-n", cfg["ns"][machine], "link", "set", f"to{other}", "up")
            run(
                "ip",
                "-n",
                cfg["ns"][machine],
                "route",
                "replace",
                f"{cfg['ip'][other]}/32",
                "dev",
                f"to{other}",
                "src",
                cfg["ip"][machine],
            )


def _tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - by hand
    """``python tests/distributed/rig.py [--hosts]``: make the rig, print how to use it, wait for Ctrl-C."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(
        prog="rig.py", description="Machines A, B and M as network namespaces (needs root); Ctrl-C deletes them."
    )
    parser.add_argument("--hosts", action="store_true", help="also run `lslacq host` on A and B (port 7100)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: helpers.wait_until
    why = netns_unavailable()
    if why:
        print(f"cannot make the rig: {why}", file=sys.stderr)  # noqa: T201 (a command run by hand)
        return 2
    rig = Rig(Path(tempfile.mkdtemp(prefix="lslacq-rig-"))).up()
    try:
        if args.hosts:
            hosts = [rig.wait_host(rig.launch_host(m, 7100)) for m in ("a", "b")]
            for h in hosts:
                print(f"host on {h['machine']}: {h['address']} server_key={h['key']!r} (log {h['log']})")  # noqa: T201
        for m in rig.machines:
            print(f"machine {m}: {rig.ip[m]}   run there: ip netns exec {rig.ns[m]} COMMAND")  # noqa: T201
        print(f"keys: {rig.keys} (lab.key_secret, authorized/); LSL config: export LSLAPICFG={rig.lsl_cfg}")  # noqa: T201
        print("unplug B: " + "; ".join(f"ip -n {rig.ns['b']} link set to{o} down" for o in rig.machines if o != "b"))  # noqa: T201
        print("Ctrl-C to tear the rig down", flush=True)  # noqa: T201
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for host in [p for p in rig.procs if p.poll() is None]:
            rig.stop_process(host.pid)
        rig.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
