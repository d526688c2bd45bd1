"""Run a Markdown file's Python blocks in order in one session, as a reader pasting them would.

``python run_blocks.py FILE.md`` prints one JSON line per block: ``{"line", "status", "detail", "seconds"}``,
status ``ok``, ``needs`` (the block needs hardware, a peer, a user's file or a name from such a block: its exception
says so) or ``error`` (the docs are wrong). Used by tests/test_docs_blocks.py.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import time
import traceback

FENCE = re.compile(r"^```(\w*)[^\n]*$")

#: exceptions that mean "this needs something a test machine has not got", by type name (any module)
NEEDS = {
    "ConnectionError": "a server",
    "ConnectionRefusedError": "a server",
    "StreamTimeoutError": "an LSL stream",
    "TimeoutError": "a peer",
    "CameraError": "a camera",
    "OpenBCIError": "an OpenBCI board",
    "EmotivError": "an Emotiv dongle",
    "AudioDeviceError": "a sound card",
    "FileNotFoundError": "a user's file",
    "BlockTimeout": "to be stopped (runs until Ctrl-C or a window is closed)",
}


class BlockTimeout(Exception):
    pass


def blocks(path: str, langs=("python",)) -> list[tuple[int, str, str]]:
    """``(line, lang, code)`` of every fenced block of ``langs`` (1-based line of the fence)."""
    lines = open(path, encoding="utf-8").read().splitlines()
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m:
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            if m.group(1) in langs:
                out.append((i + 1, m.group(1), "\n".join(lines[i + 1 : j])))
            i = j
        i += 1
    return out


def _needs_kind(exc: BaseException | None):
    """The NEEDS key of ``exc`` or of what caused it (a GraphError from a refused connection, a remote error)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        for kind in (type(exc).__name__, getattr(exc, "remote_type", None)):
            if kind in NEEDS:
                return kind
        exc = exc.__cause__ or exc.__context__
    return None


def _on_alarm(signum, frame):
    raise BlockTimeout("the block did not finish within its time budget")


def main(path: str, budget: float = 15.0) -> None:
    namespace: dict = {"__name__": "__docs__"}
    unavailable: set[str] = set()  # names a skipped block would have defined
    signal.signal(signal.SIGALRM, _on_alarm)
    for line, _lang, code in blocks(path):
        before = set(namespace)
        status, detail = "ok", ""
        try:
            compiled = compile(code, f"{path}:{line}", "exec")
        except SyntaxError as exc:
            first = next((c.strip() for c in code.splitlines() if c.strip()), "")
            # JSON lines on stdout are how the test reads the results
            print(  # noqa: T201
                json.dumps(
                    {
                        "line": line,
                        "first": first,
                        "status": "error",
                        "detail": f"SyntaxError: {exc}",
                    }
                ),
                flush=True,
            )
            continue
        signal.setitimer(signal.ITIMER_REAL, budget)
        began = time.monotonic()
        try:
            exec(compiled, namespace)
        except BaseException as exc:  # noqa: BLE001 - every failure is classified and reported
            kind = _needs_kind(exc)
            name = getattr(exc, "name", None)
            if kind is not None:
                status, detail = "needs", f"needs {NEEDS[kind]}: {type(exc).__name__}: {exc}"
            elif isinstance(exc, NameError) and name in unavailable:
                status, detail = "needs", f"uses {name!r} from a block that needs hardware or a peer"
            else:
                status = "error"
                detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                tb = traceback.extract_tb(exc.__traceback__)
                where = [f for f in tb if f.filename == f"{path}:{line}"]
                if where:
                    detail += f" (block line {where[-1].lineno})"
            if status == "needs":  # whatever the block assigns is missing for the next ones
                unavailable.update(re.findall(r"^\s*([A-Za-z_]\w*)\s*(?:,\s*[A-Za-z_]\w*\s*)*=", code, re.M))
                unavailable.update(re.findall(r"^\s*(?:def|class)\s+([A-Za-z_]\w*)", code, re.M))
                unavailable.update(
                    n
                    for t in re.findall(r"^\s*([A-Za-z_][\w, ]*)=", code, re.M)
                    for n in re.split(r"\s*,\s*", t.strip())
                    if n.isidentifier()
                )
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        unavailable -= set(namespace) - before
        first = next((c.strip() for c in code.splitlines() if c.strip() and not c.strip().startswith("#")), "")
        report = {"line": line, "first": first, "status": status, "detail": detail[:500]}
        report["seconds"] = round(time.monotonic() - began, 2)
        print(json.dumps(report), flush=True)  # noqa: T201
    # close what the blocks left open (nodes, managers), so the session exits
    for value in list(namespace.values()):
        cls = type(value)
        if cls.__name__ == "ObjectProxy" or not cls.__module__.startswith(("lslacq", "lslacq_lsl", "lslacq_dareplane")):
            continue  # a proxy's attributes are remote calls; others are not ours to close
        close = getattr(cls, "close", None) or getattr(cls, "stop", None)
        if callable(close):
            try:
                close(value)
            except Exception:  # noqa: BLE001 - best effort at the end of the session
                pass


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 15.0)
