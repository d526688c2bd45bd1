"""Any device node -> LSL: one :class:`LslOutlet` per output of a local device node.

:class:`DeviceLslBridge` wires ``node.outputs[name] -> LslOutlet`` for every
output of a configured device node (in this process, over ``inproc``), and
:func:`run_bridge_loop` runs it until Ctrl-C, SIGTERM, ``duration`` or a
failure, printing a status line every ``interval`` seconds. The
``lslacq bridge SOURCE`` commands (:mod:`lslacq_lsl.bridge_cli`) are built
on the two::

    node = PyAudio(name="mic")
    node.configure(nb_channel=2, sample_rate=44100, input_device_index=0)
    with DeviceLslBridge(node, name="Microphone", stream_type="Audio") as bridge:
        bridge.start()
        run_bridge_loop(bridge, "my-bridge", duration=10)

Signal outputs become regular-rate LSL streams; event outputs (spec
``streamtype`` ``'event'``) become marker streams timestamped on the clock of
the first signal stream (see :class:`LslOutlet`'s ``reference``).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable

from lslacq.core.node import Node

from .outlet import LslOutlet

__all__ = ["DeviceLslBridge", "run_bridge_loop"]

logger = logging.getLogger(__name__)

_EVENT_STREAMTYPES = ("event", "events")


def _is_event_output(node: Node, output: str) -> bool:
    return node.outputs[output].spec.get("streamtype") in _EVENT_STREAMTYPES


class DeviceLslBridge:
    """Publish every output of a device node as an LSL stream (context manager).

    The bridge owns the node: it configures the node's outputs (``inproc``),
    initializes, starts, stops and closes it with the outlets.

    Parameters
    ----------
    node : Node
        A configured (not yet initialized) device node in this process.
    name : str
        LSL name of the first signal output's stream. Other outputs are
        published as ``name + '-Markers'`` (the only event output) or
        ``name + '-' + output_name``, unless ``names`` says otherwise.
    stream_type : str
        LSL content type of the signal streams (event streams are ``Markers``).
    names, types : dict, optional
        Output name -> LSL stream name / content type, overriding the defaults.
    outlet_options : dict, optional
        Output name -> more :meth:`LslOutlet.configure` arguments.

    Attributes
    ----------
    node : Node
    outlets : dict
        Output name -> :class:`LslOutlet`.
    lsl_names : dict
        Output name -> LSL stream name.
    """

    def __init__(
        self,
        node: Node,
        name: str,
        stream_type: str = "EEG",
        names: dict[str, str] | None = None,
        types: dict[str, str] | None = None,
        outlet_options: dict[str, dict] | None = None,
    ):
        self.node = node
        self.name = name
        self.outlets: dict[str, LslOutlet] = {}
        self.lsl_names: dict[str, str] = {}
        self._started = False
        names, types, outlet_options = dict(names or {}), dict(types or {}), dict(outlet_options or {})
        try:
            outputs = list(node.outputs)
            if not outputs:
                raise ValueError(f"DeviceLslBridge: node {node.name!r} has no output to publish")
            unknown = sorted((set(names) | set(types) | set(outlet_options)) - set(outputs))
            if unknown:
                raise ValueError(
                    f"DeviceLslBridge: node {node.name!r} has no output(s) {unknown}; its outputs are {outputs}"
                )
            events = [o for o in outputs if _is_event_output(node, o)]
            signals = [o for o in outputs if o not in events]
            primary = signals[0] if signals else None
            for output in outputs:
                if output in names:
                    lsl_name = names[output]
                elif output == primary:
                    lsl_name = name
                elif output in events and len(events) == 1:
                    lsl_name = f"{name}-Markers"
                else:
                    lsl_name = f"{name}-{output}"
                self.lsl_names[output] = lsl_name
            duplicates = sorted({n for n in self.lsl_names.values() if list(self.lsl_names.values()).count(n) > 1})
            if duplicates:
                raise ValueError(
                    f"DeviceLslBridge: LSL stream name(s) {duplicates} used for several outputs "
                    f"({self.lsl_names}); give each output its own name"
                )
            for output in outputs:
                node.outputs[output].configure(protocol="inproc")
                lsl_name = self.lsl_names[output]
                outlet = LslOutlet(name=f"lsl-{lsl_name}")  # the node name enters the stable source_id
                self.outlets[output] = outlet
                options = dict(name=lsl_name)
                if output in events:
                    options["type"] = types.get(output, "Markers")
                    if primary is not None:
                        options["reference"] = self.lsl_names[primary]
                else:
                    options["type"] = types.get(output, stream_type)
                options.update(outlet_options.get(output, {}))
                outlet.configure(**options)
                outlet.inputs["signals"].connect(node.outputs[output])
            # event outlets reference the signal outlet's clock: initialize signal outlets first
            for output in sorted(self.outlets, key=lambda o: o in events):
                self.outlets[output].initialize()
            node.initialize()
        except BaseException:
            self.close()
            raise

    # -- state -----------------------------------------------------------------
    @property
    def error(self) -> BaseException | None:
        """The first failure of the device node or of an outlet, if any."""
        error = getattr(self.node, "error", None)
        if error is not None:
            return error
        return next((o.error for o in self.outlets.values() if o.error is not None), None)

    def pushed(self) -> dict[str, int]:
        """LSL stream name -> samples (or markers) published so far."""
        return {self.lsl_names[o]: outlet.n_pushed for o, outlet in self.outlets.items()}

    def describe(self) -> str:
        """One line naming the published streams, e.g. for a command's first output line."""
        streams = ", ".join(
            f"{self.lsl_names[o]!r} ({outlet.info.type()}, source_id {outlet.source_id})"
            if outlet.info is not None
            else repr(self.lsl_names[o])
            for o, outlet in self.outlets.items()
        )
        return f"publishing {self.node.name!r} as LSL streams {streams}"

    def status(self) -> str:
        """Return the counts for a status line.

        Published samples per stream, the node's ``lost_samples`` and its other
        non-zero integer counters (e.g. overflows).
        """
        parts = [
            f"{outlet.n_pushed} {'markers' if _is_event_output(self.node, o) else 'samples'} {self.lsl_names[o]!r}"
            for o, outlet in self.outlets.items()
        ]
        counters = getattr(self.node, "counters", None)
        if callable(counters):
            try:
                values = counters()
            except Exception as exc:  # a status line never stops the bridge
                values = {}
                logger.debug("%s: counters() failed: %s", self.node.name, exc)
            parts += [
                f"{key.replace('_', ' ')} {value}"
                for key, value in values.items()
                if key == "lost_samples"
                or (
                    key not in ("samples_in", "samples_out", "last_index", "latency")
                    and isinstance(value, int)
                    and value
                )
            ]
        return "  ".join(parts)

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> DeviceLslBridge:
        """Start the outlets, then the device."""
        for outlet in self.outlets.values():
            outlet.start()
        self.node.start()
        self._started = True
        return self

    def stop(self, drain_timeout: float = 5.0) -> None:
        """Stop the device, publish what it already sent, stop the outlets.

        ``bridge.node.stop()`` alone stops the device while the (then idle)
        LSL streams stay up.
        """
        if not self._started:
            return
        self._started = False
        if self.node.running():
            self.node.stop()
        sent = {o: self.node.outputs[o].last_index for o in self.outlets}
        deadline = time.monotonic() + drain_timeout
        for output, outlet in self.outlets.items():
            while outlet.n_pushed < sent[output] and outlet.error is None and time.monotonic() < deadline:
                time.sleep(0.01)
        for outlet in self.outlets.values():
            outlet.stop()

    def close(self) -> None:
        """Stop, then close the device and the outlets (LSL consumers see the streams vanish)."""
        try:
            self.stop()
        finally:
            for node in (self.node, *self.outlets.values()):
                try:
                    node.close()
                except Exception:
                    logger.exception("%s: close failed", node.name)

    def __enter__(self) -> DeviceLslBridge:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_bridge_loop(
    bridge: DeviceLslBridge,
    prog: str,
    duration: float | None = None,
    interval: float = 1.0,
    status: Callable[[], str] | None = None,
    on_tick: Callable[[], None] | None = None,
) -> int:
    """Run a started bridge until Ctrl-C, SIGTERM, ``duration`` or a failure; return an exit code.

    Prints ``'<seconds> s  <status>'`` every ``interval`` seconds on stdout
    and the failure on stderr.

    Parameters
    ----------
    bridge : DeviceLslBridge
        Any object with ``error`` and ``status()``.
    prog : str
        Prefix of the error line (e.g. ``'lslacq bridge audio'``).
    duration : float, optional
        Seconds to run (default: until Ctrl-C or SIGTERM).
    interval : float
        Seconds between status lines.
    status : callable, optional
        Returns the status text (default ``bridge.status``).
    on_tick : callable, optional
        Called every 0.1 s at most (e.g. to print state changes).

    Returns
    -------
    int
        0 after Ctrl-C, SIGTERM or ``duration``; 1 when the device or an outlet failed.
    """
    status = status or bridge.status
    t0 = time.monotonic()
    next_status = t0 + interval
    terminated = threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: terminated.set()) if in_main else None
    try:
        while not terminated.wait(min(0.1, interval)):
            if bridge.error is not None:
                print(f"{prog}: stopped: {bridge.error}", file=sys.stderr, flush=True)  # noqa: T201 - the command's error line
                return 1
            if on_tick is not None:
                on_tick()
            now = time.monotonic()
            if now >= next_status:
                next_status += interval
                print(f"{now - t0:7.1f} s  {status()}", flush=True)  # noqa: T201 - the command's status line
            if duration is not None and now - t0 >= duration:
                return 0
        return 0  # SIGTERM
    except KeyboardInterrupt:
        return 0
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
