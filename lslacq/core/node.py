"""Node: the unit of a graph (device, filter, recorder, viewer, bridge)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from ..errors import NodeStateError
from .configargs import checked_arguments
from .signal import Signal
from .stream import InputStream, OutputStream
from .workers import Worker

__all__ = ["Node", "StreamDict"]

logger = logging.getLogger(__name__)


class StreamDict(dict):
    """A node's streams by name; ``aliases`` (old name -> name) resolve on lookup without being listed.

    Devices keep pyacq's output names working this way (``outputs['chan']`` is
    ``outputs['signals']``) while iterating, ``len()`` and graph files see each
    stream once.
    """

    def __init__(self, aliases: dict[str, str] | None = None):
        super().__init__()
        self.aliases = dict(aliases or {})

    def __missing__(self, key):
        if key in self.aliases:
            return self[self.aliases[key]]
        raise KeyError(key)


class Node:
    """Base class of every node.

    Lifecycle (each step in order; :class:`NodeStateError` says which step is
    missing when one is skipped):

    1. ``configure(**kwargs)``: global parameters (calls ``_configure``).
    2. ``node.inputs[name].connect(other.outputs[name])`` for each input.
    3. ``node.outputs[name].configure(...)`` for each output.
    4. ``initialize()``: checks specs, allocates (calls ``_initialize``).
    5. ``start()`` / ``stop()``, any number of times (``_start``/``_stop``).
    6. ``close()`` (``_close``); stops the node first if it is running.

    Subclasses declare streams with the class attributes ``_input_specs`` and
    ``_output_specs`` (``{name: spec dict}``) and may create more in
    ``_configure``; a class that does sets ``_dynamic_streams = True``, so
    tools reading the class (graph file validation) do not take the declared
    streams for all of them. Nodes need no Qt: background work runs in threads.

    Every output must be configured before ``initialize()`` unless the node
    can run without it: mark such an output ``'optional': True`` in its
    ``_output_specs`` entry (or add its name to :attr:`optional_outputs` in
    ``_configure``). The node then sends to it only if
    ``self.outputs[name].configured``. Inputs likewise: an ``_input_specs``
    entry marked ``'optional': True`` (or listed in :attr:`optional_inputs`)
    may stay unconnected; the node reads it only if
    ``self.inputs[name].connected``.

    Failures and counters (the contract every node inherits; the manager's
    ``health()`` and graph status read only this):

    - :attr:`error` is the exception that ended the node's background work
      (None while healthy); :attr:`failed` is a :class:`Signal` emitted once
      with it. A node's thread calls :meth:`_report_error` on failure: the
      first failure of a run wins, is logged once with its traceback, and
      ``start()`` clears it for the next run.
    - :meth:`counters` returns ``samples_in``, ``samples_out``,
      ``lost_samples``, ``last_index``, ``latency`` and ``wait_seconds``,
      derived from the node's streams; nodes that know more (e.g. latency)
      override it.

    Producers of two kinds (see docs/streams.md, flow control): a node whose
    data is paced by hardware or a clock sets the class attribute
    :attr:`live_source` = True; its outputs then never wait for a reader
    (``on_full='backlog'``: a reader that cannot keep up gets a bounded
    backlog, then loses its own oldest data). A node fed by a live source
    inherits that; any other node's outputs wait for their readers
    (``on_full='wait'``: lossless by back-pressure). ``configure(on_full=...)``
    of an output overrides the choice.

    Background work (the contract's threads): a node creates its
    :class:`~lslacq.core.workers.Worker` objects (input pollers, paced
    loops, device readers) in ``_start`` and hands them to
    :meth:`add_worker`; the node starts them when ``_start`` returns, stops
    and joins them in ``stop()`` before ``_stop`` runs, and routes their
    first failure to :meth:`_report_error`. A node whose count begins at 0
    at each run (a device, a replay) sets :attr:`restarts_count`; its
    configured outputs' indexes are reset in ``start()``, as pyacq does.

    Through an RPC proxy (a node in a NodeGroup), ``counters()`` comes back
    by value; ``NodeGroup.health()`` also gives each node's error as text.

    Parameters
    ----------
    name : str
        Name used in logs and error messages.
    parent : object, optional
        Kept for pyacq compatibility (a Qt parent for viewer nodes).

    Attributes
    ----------
    optional_outputs : set of str
        Outputs that may stay unconfigured.
    optional_inputs : set of str
        Inputs that may stay unconnected.
    live_source : bool
        The node's data is paced by hardware or a clock (a device): its
        outputs never wait for readers. Class attribute; a node may set it
        per instance in ``_configure`` (a replay played as fast as possible
        is not live).
    restarts_count : bool
        Each ``start()`` begins the outputs' sample count at 0 (devices,
        replays: ``reset_buffer_index()`` on every configured output before
        ``_start``). False (the default): the node keeps the indexes it
        receives (a filter) or its own count across runs.
    error : BaseException or None
        The failure of the current run, if any.
    failed : Signal
        Emitted (in the failing thread) with the exception, once per run.
    """

    _input_specs: dict[str, dict] = {}
    _output_specs: dict[str, dict] = {}
    _dynamic_streams: bool = False  # True: _configure creates streams beyond the declared ones
    _output_aliases: dict[str, str] = {}  # other names of outputs, e.g. pyacq's {'chan': 'signals'}
    live_source: bool = False
    restarts_count: bool = False

    def __init__(self, name: str = "", parent: Any = None, **kwargs):
        self.name = name or type(self).__name__
        self.parent = parent
        self._state_lock = threading.Lock()  # guards the flags only: state queries never wait for hooks
        self._transition_lock = threading.RLock()  # one lifecycle step at a time
        self._configured = False
        self._initialized = False
        self._running = False
        self._closed = False
        self.error: BaseException | None = None
        self.failed = Signal()
        self._error_lock = threading.Lock()
        self._workers: list[Worker] = []
        self.inputs: dict[str, InputStream] = {}
        self.outputs: dict[str, OutputStream] = StreamDict(self._output_aliases)
        self.optional_inputs: set[str] = set()
        for stream_name, spec in self._input_specs.items():
            self.inputs[stream_name] = InputStream(
                spec=_take_optional(spec, stream_name, self.optional_inputs), node=self, name=stream_name
            )
        self.optional_outputs: set[str] = set()
        for stream_name, spec in self._output_specs.items():
            self.outputs[stream_name] = OutputStream(
                spec=_take_optional(spec, stream_name, self.optional_outputs), node=self, name=stream_name
            )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self._state_name()}>"

    def _state_name(self) -> str:
        if self._closed:
            return "closed"
        if self._running:
            return "running"
        if self._initialized:
            return "initialized"
        return "configured" if self._configured else "created"

    # -- single-stream shortcuts --------------------------------------------
    @property
    def input(self) -> InputStream:
        """The node's only input (error if it has zero or several)."""
        if len(self.inputs) != 1:
            raise AttributeError(
                f"{self.name}.input is ambiguous: the node has {len(self.inputs)} inputs "
                f"{sorted(self.inputs)}; use node.inputs[name]"
            )
        return next(iter(self.inputs.values()))

    @property
    def output(self) -> OutputStream:
        """The node's only output (error if it has zero or several)."""
        if len(self.outputs) != 1:
            raise AttributeError(
                f"{self.name}.output is ambiguous: the node has {len(self.outputs)} outputs "
                f"{sorted(self.outputs)}; use node.outputs[name]"
            )
        return next(iter(self.outputs.values()))

    # -- thread-safe state ----------------------------------------------------
    def running(self) -> bool:
        """Return True between start() and stop()."""
        with self._state_lock:
            return self._running

    def configured(self) -> bool:
        """Return True once configure() succeeded."""
        with self._state_lock:
            return self._configured

    def initialized(self) -> bool:
        """Return True once initialize() succeeded."""
        with self._state_lock:
            return self._initialized

    def closed(self) -> bool:
        """Return True once close() was called."""
        with self._state_lock:
            return self._closed

    def _require(self, action: str, *, configured=False, initialized=False, not_running=False) -> None:
        if self._closed:
            raise NodeStateError(f"cannot {action} node {self.name!r}: it is closed; create a new node")
        if configured and not self._configured:
            raise NodeStateError(f"cannot {action} node {self.name!r}: call configure() first")
        if initialized and not self._initialized:
            raise NodeStateError(f"cannot {action} node {self.name!r}: call initialize() first")
        if not_running and self._running:
            raise NodeStateError(f"cannot {action} node {self.name!r} while it is running; call stop() first")

    # -- lifecycle --------------------------------------------------------------
    def configure(self, **kwargs) -> None:
        """Set the node's global parameters (see the subclass's ``_configure``)."""
        with self._transition_lock:
            self._require("configure", not_running=True)
            if self._initialized:
                raise NodeStateError(f"cannot configure node {self.name!r}: it is already initialized")
            self._configure(**checked_arguments(self, kwargs))  # unknown/bad arguments: one error listing all
            with self._state_lock:
                self._configured = True

    def initialize(self) -> None:
        """Check stream settings and prepare the node (see ``_initialize``)."""
        with self._transition_lock:
            self._require("initialize", configured=True)
            if self._initialized:
                raise NodeStateError(f"node {self.name!r} is already initialized")
            for name, inp in self.inputs.items():
                if not inp.connected and name not in self.optional_inputs:
                    raise NodeStateError(
                        f"cannot initialize node {self.name!r}: input {name!r} is not connected; "
                        f"call node.inputs[{name!r}].connect(some_output)"
                    )
            for name, out in self.outputs.items():
                if not out.configured and name not in self.optional_outputs:
                    raise NodeStateError(
                        f"cannot initialize node {self.name!r}: output {name!r} is not "
                        f"configured; call node.outputs[{name!r}].configure(...)"
                    )
            self.check_input_specs()
            self.check_output_specs()
            self._initialize()
            with self._state_lock:
                self._initialized = True

    def start(self) -> None:
        """Start processing (repeatable after stop)."""
        with self._transition_lock:
            self._require("start", configured=True, initialized=True)
            if self._running:
                raise NodeStateError(f"node {self.name!r} is already running")
            with self._error_lock:
                self.error = None  # a new run: its first failure is reported again
            if self.restarts_count:
                for out in self.outputs.values():
                    if out.configured:
                        out.reset_buffer_index()
            self._workers = []
            self._start()
            try:
                for worker in self._workers:
                    if not worker.is_alive():
                        worker.start()
            except BaseException:
                self._stop_workers()
                raise
            with self._state_lock:
                self._running = True

    def stop(self) -> None:
        """Stop processing (start() may be called again); does nothing if the node is not running.

        ``running()`` turns False first; then the workers given to
        :meth:`add_worker` are stopped and joined, then ``_stop`` runs (so it
        may close what the workers used).
        """
        with self._transition_lock:
            if self._closed:
                return  # a closed node is stopped (pyacq scripts call viewer.stop() after its window closed it)
            self._require("stop", initialized=True)
            if not self._running:
                return
            with self._state_lock:
                self._running = False
            self._stop_workers()
            self._stop()

    def close(self) -> None:
        """Release every resource; stops the node first if needed. Idempotent."""
        with self._transition_lock:
            if self._closed:
                return
            try:
                if self._running:
                    self.stop()
                if self._initialized:
                    self._close()
            finally:
                streams: list[Any] = [*self.inputs.values(), *self.outputs.values()]
                for stream in streams:
                    stream.close()
                with self._state_lock:
                    self._closed = True

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- workers -----------------------------------------------------------------
    def add_worker(self, worker: Worker) -> Worker:
        """Own ``worker`` for the current run (call it in ``_start``); returns it.

        The node starts it when ``_start`` returns (unless already started),
        stops and joins it in ``stop()`` (before ``_stop``; one that does not
        end within its ``join_timeout`` is logged, naming it), and reports its
        failure through :meth:`_report_error` with the worker's ``context``.
        """
        if worker.owner is not self:
            worker.owner = self
            worker.failed.connect(lambda exc, w=worker: self._report_error(exc, context=w.context))
        if worker not in self._workers:
            self._workers.append(worker)
        return worker

    @property
    def workers(self) -> list[Worker]:
        """The workers of the current run (see :meth:`add_worker`)."""
        return list(self._workers)

    def _stop_workers(self) -> None:
        workers = self._workers
        for worker in workers:
            worker.request_stop()
        for worker in workers:
            worker.stop_and_join(log=logger)

    # -- failures and counters ------------------------------------------------
    def _report_error(self, exc: BaseException, context: str = "") -> bool:
        """Record that the node's background work failed with ``exc``.

        Thread-safe; call it from the failing thread. The first failure of a
        run wins: it is stored in :attr:`error`, logged once (with its
        traceback, naming the node and ``context``) and emitted on
        :attr:`failed`. Later calls in the same run only log at debug level.

        Parameters
        ----------
        exc : BaseException
            The exception.
        context : str
            What was being done, e.g. ``"reading the serial port"``.

        Returns
        -------
        bool
            True if this call recorded the failure (it was the first).
        """
        with self._error_lock:
            first = self.error is None
            if first:
                self.error = exc
        where = f" while {context}" if context else ""
        if not first:
            logger.debug("node %r: further failure%s: %r", self.name, where, exc)
            return False
        # a traceback when there is one (an exception raised here, not one made to report a state)
        exc_info = (type(exc), exc, exc.__traceback__) if exc.__traceback__ is not None else None
        logger.error("node %r (%s) failed%s: %s", self.name, type(self).__name__, where, exc, exc_info=exc_info)
        self.failed.emit(exc)
        return True

    def counters(self) -> dict:
        """Return the node's data counters (plain values, cheap; safe from any thread).

        Returns
        -------
        dict
            ``samples_in``: sample position reached on the inputs (the index
            after the last chunk received; the largest over inputs);
            ``samples_out``: the same for the outputs (samples sent since the
            stream's count started; the largest over outputs, so a splitter
            or a device with a marker output counts its samples once);
            ``lost_samples``: samples the inputs never received (summed over
            inputs); ``last_index``: the index after the newest chunk sent
            (received, for a node without outputs), None before any data;
            ``latency``: seconds behind the source, None when the node cannot
            know it; ``wait_seconds``: time the outputs spent waiting for
            their readers (on_full='wait'; per reader in
            ``OutputStream.readers()``), the sign of a reader that throttles
            the pipeline.
        """
        samples_in = lost = 0
        for inp in list(self.inputs.values()):
            lost += int(inp.lost_samples)
            samples_in = max(samples_in, _input_position(inp) or 0)
        outputs = list(self.outputs.values())
        samples_out = max([int(out.last_index) for out in outputs if out.configured], default=0)
        last_index = samples_out or samples_in or None
        return {
            "samples_in": samples_in,
            "samples_out": samples_out,
            "lost_samples": lost,
            "last_index": last_index,
            "latency": None,
            "wait_seconds": sum(float(out.wait_seconds) for out in outputs),
        }

    # -- hooks for subclasses ------------------------------------------------------
    def _configure(self, *args: Any, **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(f"{type(self).__name__}.configure() got unexpected arguments {sorted(kwargs)}")

    def _initialize(self) -> None:
        pass

    def _start(self) -> None:
        pass

    def _stop(self) -> None:
        pass

    def _close(self) -> None:
        pass

    def _default_on_full(self) -> str:
        """Return the flow control an output of this node gets when its configure() does not choose one.

        'backlog' (never wait for a reader) for a live source and for a node
        fed by one (a filter behind a device must not make the device's
        other readers wait); 'wait' (lossless back-pressure) otherwise.
        """
        if self.live_source:
            return "backlog"
        for inp in list(self.inputs.values()):
            params = inp.params if inp.connected else None
            if params is not None and params.get("on_full") in ("backlog", "latest"):
                return "backlog"
        return "wait"

    def after_input_connect(self, inputname: str) -> None:
        """React to input ``inputname`` being connected (a hook; the default does nothing)."""

    def after_output_configure(self, outputname: str) -> None:
        """React to output ``outputname`` being configured (a hook; the default does nothing)."""

    def check_input_specs(self) -> None:
        """Raise if the connected inputs cannot be processed (called by initialize)."""

    def check_output_specs(self) -> None:
        """Raise if the outputs are misconfigured (called by initialize)."""


def _take_optional(spec: dict, stream_name: str, optional: set[str]) -> dict:
    """``spec`` without its ``'optional'`` flag; the stream's name is added to ``optional`` if it was set."""
    if not isinstance(spec, dict) or "optional" not in spec:
        return spec
    spec = dict(spec)
    if spec.pop("optional"):
        optional.add(stream_name)
    return spec


def _input_position(inp: InputStream) -> int | None:
    """Return the index after the last chunk ``inp`` received (None before any)."""
    position = getattr(inp, "_last_index", None)  # InputStream keeps it for its continuity check
    return None if position is None else int(position)
