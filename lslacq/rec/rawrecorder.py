"""RawRecorder: record streams to raw binary files (pyacq's layout), crash-safe."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.node import Node
from ..core.stream import InputStream
from ..core.stream.spec import dtype_to_params
from ..core.tools import ThreadPollInput, join_thread
from ..errors import BrokenStreamError, StreamClosedError, StreamTimeoutError
from ._rawfile import DiskFullError, RawStreamFile
from .layout import (
    ANNOTATIONS_FILE,
    PROPERTIES_FILE,
    VERSION_KEY,
    connect_recorded,
    jsonable,
    named_streams,
    raw_path,
    write_json_atomic,
)

__all__ = ["RawRecorder", "DiskFullError"]

logger = logging.getLogger(__name__)

# chunks received in a row before the writer checks stop(), the flush cadence and the disk again
_MAX_CHUNKS_PER_BATCH = 64

# trailing spaces of stream_properties.json: room for its last update in place on a full disk (the error)
_JSON_ROOM = 4096

# spec keys copied to each stream's entry of stream_properties.json (pyacq's first, then lslacq's)
_PROPERTY_KEYS = (
    "streamtype",
    "dtype",
    "shape",
    "sample_rate",
    "channel_info",
    "channel_names",
    "channel_units",
    "channel_types",
    "units",
    "scale",
    "offset",
)


class _StreamWriter(ThreadPollInput):
    """Thread receiving one stream and handing its chunks to the stream's raw file (which writes them)."""

    def __init__(
        self,
        recorder: RawRecorder,
        name: str,
        input_stream: InputStream,
        file: RawStreamFile,
        flush_every_chunk: bool,
        expected_index: int | None,
    ):
        super().__init__(input_stream, timeout=100, return_data=True, name=f"{recorder.name}-rec-{name}")
        self.recorder = recorder
        self.stream_name = name
        self.file = file
        self.flush_every_chunk = flush_every_chunk
        self.flush_interval = recorder.flush_interval
        self.expected_index = expected_index
        self.drain_timeout = 2.0
        self.done_receiving = False  # set once no more chunk will be written: only the tail is left

    def run(self) -> None:
        file, interval = self.file, self.flush_interval
        try:
            while not self._stop_event.is_set():
                self._receive_queued(self.timeout)
                if file.due(time.monotonic(), interval):
                    file.flush()
                file.check()
            # what was already queued when stop() was called belongs to the recording
            deadline = time.monotonic() + self.drain_timeout
            while time.monotonic() < deadline and self._receive_queued(0):
                pass
        except StreamClosedError as exc:  # the source closed: the recording of this stream is complete
            logger.info("%s: %s", self.name, exc)
        except BaseException:
            self.done_receiving = True
            file.close()  # writes what it can of the gathered tail; keeps what is on disk
            raise
        self.done_receiving = True
        try:
            file.flush()
        finally:
            file.close()
        file.check()  # a failure while writing the tail is a failure of the recording

    def _receive_queued(self, timeout: float) -> bool:
        """Receive a chunk, waiting at most ``timeout`` ms, then every chunk already queued (up to a bound).

        Each chunk goes to :meth:`process_data`. No separate poll: ``recv``
        takes a waiting chunk at once and waits only when there is none.
        Flat-out recording costs a few microseconds per chunk, so the checks
        between receives (stop, flush cadence, disk errors) are made once per
        batch of queued chunks, not per chunk. Returns False if nothing came
        in time (a malformed message, logged and counted by the stream,
        counts as a chunk).
        """
        recv, process = self.input_stream.recv, self.process_data
        for count in range(_MAX_CHUNKS_PER_BATCH):
            try:
                pos, data = recv(return_data=True, timeout=timeout)
            except StreamTimeoutError:
                return count > 0
            except BrokenStreamError:
                pass  # logged and counted by the stream
            else:
                process(pos, data)
            timeout = 0
        return True

    def process_data(self, pos: int, data: np.ndarray) -> None:
        n = len(data)  # received chunks are arrays of samples along the first axis
        if n == 0:
            return
        start = pos - n
        if start != self.expected_index:  # (or None: the first chunk)
            self.recorder._on_discontinuity(self.stream_name, self.file.n_written, start)
        self.file.write(data)
        self.expected_index = pos
        if self.flush_every_chunk:
            self.file.flush()


class RawRecorder(Node):
    """Record streams to one raw binary file each plus a JSON description (pyacq's RawRecorder).

    Usage (pyacq's)::

        rec = RawRecorder()
        rec.configure(streams=[dev.output, trig.output], autoconnect=True, dirname=path)
        rec.initialize()
        rec.start()

    The layout (``input0.raw``, ``input1.raw``... and ``stream_properties.json``)
    is pyacq's; see :mod:`lslacq.rec.layout`. Read it with
    :func:`lslacq.rec.read_recording`.

    Crash safety: data is handed to the operating system at least every
    ``flush_interval`` seconds (event streams after every chunk), and the
    JSON description is replaced atomically, so after a SIGKILL everything up
    to the last flush is readable. A full disk stops the recorder with
    :class:`DiskFullError` in :attr:`error` (and on :attr:`failed`); what was
    written before stays intact.

    Speed: each stream has a receiving thread and a writing thread. Received
    chunks are gathered without copying (shared-memory chunks are copied
    once) and written with ``os.writev``, what is waiting in one call (at
    most 2 MB), while the next chunks arrive, so a slow disk or an ``fsync``
    does not stall receiving (see :mod:`lslacq.rec._rawfile`). Flat out it
    writes as fast as a bare ``file.write`` loop of the same chunks
    (``benchmarks/rec.py``).

    Parameters
    ----------
    streams : list of streams, or dict {name: stream}
        The output streams to record (OutputStream, proxies of remote ones,
        or their params dicts). With a list, the inputs and files are named
        ``input0``, ``input1``...; with a dict, by its keys.
    autoconnect : bool
        Connect the inputs to ``streams`` now (otherwise connect
        ``rec.inputs[name]`` yourself before ``initialize()``).
    dirname : str or path
        Directory to create. It must not exist: a recorder never overwrites.
    flush_interval : float
        Longest time, in seconds, data waits in memory before being written
        to the operating system (default 1.0; 0 writes every chunk through).
    fsync : bool
        Also ``os.fsync`` at each flush (survives a power cut, not only a
        killed process; costs disk bandwidth).
    max_buffered : float, optional
        With ``autoconnect``: seconds of data each stream may hold for this
        recorder while it is stalled (e.g. a slow disk) before the oldest is
        dropped for it (``InputStream.connect(max_buffered=...)``; default:
        the stream's default). Drops are counted in ``counters()`` and appear
        as discontinuities in the file.

    Attributes
    ----------
    stop_timeout : float
        Seconds :meth:`stop` waits for each stream's last samples to reach
        the operating system (default 15). On a disk stalled longer, stop()
        returns with that stream's state ``"stopping"`` in
        ``stream_properties.json``; its samples are written in the background
        and the state becomes ``"stopped"`` when the last one is. Until then
        :meth:`start` raises (it would append to a file still being written).
    """

    _input_specs: dict = {}
    _output_specs: dict = {}
    _dynamic_streams = True
    stop_timeout = 15.0

    def _configure(
        self,
        streams: Sequence | Mapping = (),
        autoconnect: bool = True,
        dirname: str | os.PathLike | None = None,
        flush_interval: float = 1.0,
        fsync: bool = False,
        max_buffered: float | None = None,
    ) -> None:
        if dirname is None:
            raise ValueError(f"{self.name}: configure() needs dirname=..., the directory to create for the recording")
        if os.path.exists(dirname):
            raise FileExistsError(
                f"{self.name}: {os.fspath(dirname)!r} already exists; RawRecorder never "
                "overwrites a recording: choose a new dirname"
            )
        if not isinstance(flush_interval, (int, float)) or isinstance(flush_interval, bool) or flush_interval < 0:
            raise ValueError(f"{self.name}: flush_interval must be a number of seconds >= 0, got {flush_interval!r}")
        named = named_streams(self.name, streams, "input")
        self.streams = streams
        self.dirname = Path(dirname)
        self.flush_interval = float(flush_interval)
        self.fsync = bool(fsync)
        self.inputs = connect_recorded(self, named, autoconnect, max_buffered)
        self._annotations: dict = {}
        self._properties: dict = {}

    # -- lifecycle -------------------------------------------------------------
    def _initialize(self) -> None:
        try:
            os.makedirs(self.dirname)
        except FileExistsError:
            raise FileExistsError(
                f"{self.name}: {os.fspath(self.dirname)!r} already exists; RawRecorder never "
                "overwrites a recording: choose a new dirname"
            ) from None
        self._lock = threading.Lock()
        self._last_json = 0.0
        self._writers: dict[str, _StreamWriter] = {}
        self._files: dict[str, RawStreamFile] = {}
        self._expected: dict[str, int | None] = {}
        self._finishing: dict[str, _StreamWriter] = {}  # stopped streams whose stalled disk has the tail still
        props: dict[str, Any] = {}
        for name, inp in self.inputs.items():
            params = inp.params
            prop = {}
            for key in _PROPERTY_KEYS:
                value = params.get(key)
                if value is not None and value != "":
                    prop[key] = value
            prop["dtype"] = dtype_to_params(params.np_dtype)
            prop["shape"] = [int(x) for x in params.shape]
            prop.update(discontinuities=[], nb_sample=0, state="initialized")
            props[name] = jsonable(prop)
            raw_path(self.dirname, name).touch()
            self._expected[name] = None
        from .. import __version__

        props[VERSION_KEY] = f"lslacq {__version__}"
        self._properties = props
        self._write_properties()
        if self._annotations:
            write_json_atomic(self.dirname / ANNOTATIONS_FILE, self._annotations)

    def _start(self) -> None:
        self._check_finished()
        with self._lock:
            states = {name: self._properties[name]["state"] for name in self.inputs}
            for name in self.inputs:
                self._properties[name]["state"] = "recording"
            self._write_properties()
        try:
            for name, inp in self.inputs.items():
                self._open_stream(name, inp)
            for writer in self._writers.values():
                writer.start()
        except BaseException:
            self._undo_start(states)
            raise

    def _open_stream(self, name: str, inp: InputStream) -> None:
        """Open the raw file of one stream (its I/O thread starts) and make its receiving thread."""
        params = inp.params
        dtype = params.np_dtype
        path = raw_path(self.dirname, name)
        try:
            file = RawStreamFile(
                path,
                dtype,
                params.frame_shape,
                fsync=self.fsync,
                stable=params.transfermode == "plaindata",
                name=f"{self.name}-io-{name}",
                threaded=True,
                on_flushed=lambda n_flushed, name=name: self._on_flush(name, n_flushed),
            )
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"{self.name}: cannot open {os.fspath(path)!r} to record stream {name!r}: "
                f"{exc.strerror or exc}; the recorder did not start (check the directory's "
                "permissions, the disk, and the open-file limit, `ulimit -n`)",
            ) from exc
        self._files[name] = file
        writer = _StreamWriter(
            self,
            name,
            inp,
            file,
            flush_every_chunk=params.streamtype == "event" or dtype.names is not None,
            expected_index=self._expected[name],
        )
        writer.failed.connect(lambda exc, n=name: self._on_writer_failed(n, exc))
        self._writers[name] = writer

    def _undo_start(self, states: dict[str, str]) -> None:
        """After a failed start: end the threads and close the files already made, restore the states."""
        for writer in self._writers.values():
            writer.stop()
        for name, writer in self._writers.items():  # a started writer closes its file when it ends
            join_thread(writer._thread, 15, f"{self.name}: writer of {name!r}", logger)
        for name, file in self._files.items():  # close is idempotent; a writer still running closes its own
            if name not in self._writers or not self._writers[name].is_alive():
                file.close()
        self._writers = {}
        self._files = {}
        with self._lock:
            for name, state in states.items():
                self._properties[name]["state"] = state
            self._write_properties(force=True, quiet=True)

    def _stop(self) -> None:
        for writer in self._writers.values():
            writer.stop()
        late = set()
        for name, writer in self._writers.items():
            if not join_thread(
                writer._thread,
                self.stop_timeout,
                f"{self.name}: writer of {name!r} (the disk is "
                "stalled; its last samples are written in the background)",
                logger,
            ):
                late.add(name)
            self._expected[name] = writer.expected_index
        with self._lock:
            for name, writer in self._writers.items():
                prop = self._properties[name]
                prop["nb_sample"] = writer.file.n_flushed
                if prop["state"] != "failed":
                    prop["state"] = "stopping" if name in late else "stopped"
                    if name in late:
                        self._finishing[name] = writer
                        self._finish_if_written(name)  # it may have completed since the join gave up
            self._write_properties(force=True, quiet=True)
        self._writers = {}
        self._files = {}

    def _finish_if_written(self, name: str) -> bool:
        """Mark a stream "stopped" once its late writer has written every sample (caller holds the lock).

        A writer whose file failed meanwhile is finished too (its state is
        "failed" and nothing more will be written).
        """
        writer = self._finishing.get(name)
        if writer is None:
            return False
        file = writer.file
        if file.error is None and not (writer.done_receiving and file.n_flushed == file.n_written):
            return False
        del self._finishing[name]
        self._expected[name] = writer.expected_index
        prop = self._properties[name]
        if prop["state"] == "stopping":
            prop["state"] = "stopped"
        return True

    def _check_finished(self) -> None:
        """Refuse to start while a stream's file is still being completed by the previous run."""
        with self._lock:
            busy = [name for name in list(self._finishing) if not self._finish_if_written(name)]
        if busy:
            raise RuntimeError(
                f"{self.name}: the last samples of the previous run of {busy} are still being "
                "written (the disk stalled at stop()); start again once stream_properties.json "
                "says 'stopped' for them"
            )

    # -- pyacq API -------------------------------------------------------------
    def add_annotations(self, **kwargs) -> None:
        """Store JSON-serialisable key/values in ``annotations.json`` (written at once if initialized)."""
        self._annotations.update(jsonable(kwargs))
        if self.initialized():
            with self._lock:
                write_json_atomic(self.dirname / ANNOTATIONS_FILE, self._annotations)

    # -- counters ----------------------------------------------------------------
    def counters(self) -> dict:
        """Node counters plus ``samples_written`` and ``bytes_written`` (handed to the operating system)."""
        counters = super().counters()
        files = list(getattr(self, "_files", {}).values())
        counters["samples_written"] = sum(f.n_written for f in files)
        counters["bytes_written"] = sum(f.n_written * f.frame_bytes for f in files)
        return counters

    # -- called by the writer threads --------------------------------------------
    def _on_discontinuity(self, name: str, file_sample: int, index: int) -> None:
        with self._lock:
            prop = self._properties[name]
            if not prop["discontinuities"]:
                prop["start_index"] = index
            elif file_sample > 0:
                logger.warning(
                    "%s: stream %r jumps to index %d at sample %d of its file (samples lost upstream, or "
                    "the source restarted)",
                    self.name,
                    name,
                    index,
                    file_sample,
                )
            prop["discontinuities"].append([int(file_sample), int(index)])
            self._write_properties(force=True)

    def _on_flush(self, name: str, n_flushed: int) -> None:
        with self._lock:
            self._properties[name]["nb_sample"] = int(n_flushed)
            self._properties[name]["flush_time"] = time.time()
            self._write_properties(force=self._finish_if_written(name))

    def _on_writer_failed(self, name: str, exc: BaseException) -> None:
        if isinstance(exc, DiskFullError):  # said in one line: its message names the file and the fix
            exc.__traceback__ = exc.__cause__ = exc.__context__ = None
            exc.__suppress_context__ = True
        with self._lock:
            prop = self._properties[name]
            prop["state"] = "failed"
            prop["error"] = str(exc)
            self._write_properties(force=True, quiet=True)
        for writer in self._writers.values():  # a full disk stops every stream, not only this one
            writer.stop()
        self._report_error(exc, context=f"recording stream {name!r} to {self.dirname}")

    def _write_properties(self, force: bool = False, quiet: bool = False) -> None:
        """Rewrite stream_properties.json (caller holds the lock); throttled to the flush cadence."""
        now = time.monotonic()
        if not force and now - self._last_json < max(self.flush_interval, 0.05):
            return
        try:
            write_json_atomic(self.dirname / PROPERTIES_FILE, self._properties, room=_JSON_ROOM)
        except OSError as exc:
            if not quiet:
                raise
            logger.error(
                "%s: could not update %s (the previous version is intact): %s", self.name, PROPERTIES_FILE, exc
            )
        self._last_json = now
