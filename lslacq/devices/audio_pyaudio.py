"""PyAudio: sound card input and output (PortAudio through the ``pyaudio`` package) as a Node.

Three tiers, as in python-sounddevice:

* query: :func:`list_device_specs`, :func:`default_input_device`,
  :func:`default_output_device`, :func:`describe_devices` (also methods of the node,
  as in pyacq), on one PortAudio instance with :func:`open_portaudio`;
* stream: the :class:`PyAudio` node (record -> ``output``, play <- ``input``, or both);
* rig: :mod:`lslacq.devices.emulators.jack` gives a paced sound card without hardware.

PortAudio runs the node in callback mode: its audio thread hands each block
to the node, which sends it on the ``signals`` output at once (no extra
thread, no copy) and fills the playback block from a FIFO that a reader
thread feeds from the ``signals`` input. (PortAudio 19.6's *blocking* int16
reads crash under JACK; callback mode is also what pyacq does.)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..core.node import Node
from ..core.tools import ThreadPollInput
from ..core.workers import Worker
from ..errors import LslacqError

__all__ = [
    "PyAudio",
    "AudioDeviceError",
    "PlaybackFifo",
    "list_device_specs",
    "default_input_device",
    "default_output_device",
    "describe_devices",
    "open_portaudio",
    "FORMATS",
    "NO_DEVICE_HINT",
]

logger = logging.getLogger(__name__)

#: sample formats accepted by ``configure(format=...)``
FORMATS = ("int16", "int32", "float32")

# PortAudio stream callback status flags (portaudio.h; pyaudio exposes the same values)
_INPUT_UNDERFLOW, _INPUT_OVERFLOW, _OUTPUT_UNDERFLOW, _OUTPUT_OVERFLOW = 1, 2, 4, 8
_STATUS_NAMES = {
    _INPUT_UNDERFLOW: "input_underflows",
    _INPUT_OVERFLOW: "input_overflows",
    _OUTPUT_UNDERFLOW: "output_underflows",
    _OUTPUT_OVERFLOW: "output_overflows",
}
# seconds between two warnings about the same kind of xrun (the counters keep every one)
_XRUN_LOG_INTERVAL = 5.0


class AudioDeviceError(LslacqError, ValueError):
    """No audio device, or a device index / sample rate / channel count the device does not accept.

    The message lists the devices PortAudio sees.
    """


_alsa_handler = None  # keeps the ctypes callback alive


def _quiet_alsa() -> None:
    """Silence ALSA's own stderr messages.

    Dozens of "cannot find card" lines come when PortAudio scans a machine without a sound card. Errors
    still reach us through PortAudio's return codes. Set ``LSLACQ_ALSA_MESSAGES=1`` to keep them.
    """
    global _alsa_handler
    if _alsa_handler is not None or os.environ.get("LSLACQ_ALSA_MESSAGES"):
        return
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("asound")
    if name is None:
        return
    try:
        lib = ctypes.CDLL(name)
        prototype = ctypes.CFUNCTYPE(
            None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p
        )
        handler = prototype(lambda *args: None)
        lib.snd_lib_error_set_handler(handler)
    except (OSError, AttributeError):
        return
    _alsa_handler = handler


def _import_pyaudio():
    try:
        import pyaudio
    except ImportError as exc:
        raise ImportError(
            "the PyAudio node needs the 'pyaudio' package: pip install 'lslacq[audio]' "
            "(it builds against PortAudio: apt install portaudio19-dev)"
        ) from exc
    _quiet_alsa()
    return pyaudio


@contextmanager
def open_portaudio(pa=None) -> Iterator[Any]:
    """Yield ``pa`` if given, else a temporary ``pyaudio.PyAudio()`` terminated afterwards.

    Use it to make several queries on one PortAudio scan::

        with open_portaudio() as pa:
            specs, default_in = list_device_specs(pa), default_input_device(pa)

    Parameters
    ----------
    pa : pyaudio.PyAudio, optional
        An open PyAudio instance, yielded as it is (and left open).

    Raises
    ------
    ImportError
        PyAudio is not installed.
    """
    if pa is not None:
        yield pa
        return
    pa = _import_pyaudio().PyAudio()
    try:
        yield pa
    finally:
        pa.terminate()


def list_device_specs(pa=None) -> list[dict]:
    """Return PortAudio's devices as dicts (pyaudio's ``get_device_info_by_index``).

    Each dict has ``index``, ``name``, ``hostApi``, ``maxInputChannels``,
    ``maxOutputChannels``, ``defaultSampleRate``..., plus ``hostApiName``.

    Parameters
    ----------
    pa : pyaudio.PyAudio, optional
        An open PyAudio instance (default: a temporary one).

    Notes
    -----
    PortAudio scans devices when the first PyAudio instance of a process is
    created; a server started later (e.g. JACK) is seen once every instance
    has been terminated.
    """
    with open_portaudio(pa) as pa:
        apis = {i: pa.get_host_api_info_by_index(i)["name"] for i in range(pa.get_host_api_count())}
        specs = []
        for i in range(pa.get_device_count()):
            info = dict(pa.get_device_info_by_index(i))
            info["hostApiName"] = apis.get(info.get("hostApi"), "?")
            specs.append(info)
        return specs


def _default_device(kind: str, pa=None) -> int | None:
    with open_portaudio(pa) as pa:
        try:
            info = pa.get_default_input_device_info() if kind == "input" else pa.get_default_output_device_info()
        except OSError:  # "No Default Input Device Available"
            return None
        return int(info["index"])


def default_input_device(pa=None) -> int | None:
    """Index of the default input device (None if there is none)."""
    return _default_device("input", pa)


def default_output_device(pa=None) -> int | None:
    """Index of the default output device (None if there is none)."""
    return _default_device("output", pa)


def _describe(specs: list[dict], default_in: int | None = None, default_out: int | None = None) -> str:
    if not specs:
        return "none"
    lines = []
    for d in specs:
        marks = "".join(m for m, idx in (("<", default_in), (">", default_out)) if idx == d["index"])
        lines.append(
            f"{d['index']}{marks}: {d['name']} ({d['hostApiName']}) {d['maxInputChannels']} in / "
            f"{d['maxOutputChannels']} out, {d['defaultSampleRate']:g} Hz"
        )
    return "; ".join(lines)


def describe_devices(pa=None) -> str:
    """One line per device: ``'index: name (host API) N in / M out, RATE Hz'`` (``<``/``>`` mark the defaults)."""
    with open_portaudio(pa) as pa:
        specs = list_device_specs(pa)
        text = _describe(specs, default_input_device(pa), default_output_device(pa))
    return text.replace("; ", "\n")


NO_DEVICE_HINT = (
    "PortAudio sees no audio device. On a machine without a sound card, start a JACK server "
    "(`lslacq devices jack-dummy`, or `jackd -d dummy -r 44100`) before creating the node; on a "
    "desktop, check that ALSA/PulseAudio/PipeWire lists your card (`arecord -l`)"
)


class PlaybackFifo:
    """Frames waiting to be played: written by a reader thread, read by the audio callback.

    :meth:`read` always returns exactly the frames asked for, padding with
    silence (counted in :attr:`starved_frames` once playing has begun);
    :meth:`write` blocks while more than ``max_frames`` are queued, so a
    source faster than the sound card is slowed down through the stream's
    back-pressure instead of losing data.

    Parameters
    ----------
    frame_bytes : int
        Bytes per frame (channels x sample size).
    max_frames : int
        Frames queued before :meth:`write` waits.
    """

    def __init__(self, frame_bytes: int, max_frames: int):
        self.frame_bytes = int(frame_bytes)
        self.max_frames = int(max_frames)
        self._buffer = bytearray()  # deleting from the front of a bytearray is cheap in CPython
        self._cond = threading.Condition()
        self.written_frames = 0
        self.played_frames = 0
        self.starved_frames = 0
        self._closed = False

    @property
    def queued_frames(self) -> int:
        """Frames written and not played yet."""
        return len(self._buffer) // self.frame_bytes

    def clear(self) -> None:
        """Drop the queued frames, zero the counters and reopen a closed FIFO (a new run)."""
        with self._cond:
            self._buffer.clear()
            self.written_frames = self.played_frames = self.starved_frames = 0
            self._closed = False
            self._cond.notify_all()

    def close(self) -> None:
        """Wake a waiting :meth:`write` (it returns False)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def write(self, data: bytes | memoryview, timeout: float | None = None) -> bool:
        """Queue whole frames; wait while the FIFO is full. Return False if closed or timed out."""
        if len(data) % self.frame_bytes:
            raise ValueError(f"PlaybackFifo: {len(data)} bytes is not a whole number of {self.frame_bytes}-byte frames")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while len(self._buffer) >= self.max_frames * self.frame_bytes and not self._closed:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(0.1 if left is None else min(left, 0.1))
            if self._closed:
                return False
            self._buffer += data
            self.written_frames += len(data) // self.frame_bytes
        return True

    def read(self, n_frames: int) -> bytes:
        """Take ``n_frames`` frames, padded with zeros (silence) when fewer are queued."""
        n_bytes = n_frames * self.frame_bytes
        with self._cond:
            available = min(len(self._buffer), n_bytes)
            out = bytes(self._buffer[:available])
            del self._buffer[:available]
            played = available // self.frame_bytes
            self.played_frames += played
            if played < n_frames and self.written_frames:
                self.starved_frames += n_frames - played
            self._cond.notify_all()
        if available < n_bytes:
            out += bytes(n_bytes - available)
        return out


class PyAudio(Node):
    """Sound card input and/or output through PyAudio (PortAudio), in callback mode.

    With ``input_device_index`` the node records and has an ``output``
    (``signals``, ``(-1, nb_channel)``); with ``output_device_index`` it plays
    its ``input`` (``signals``); with both, one full-duplex stream does both.

    configure() parameters
    ----------------------
    nb_channel : int
        Number of audio channels (recorded and played).
    sample_rate : float
        Sample rate, rounded to an integer; the device must accept it.
    input_device_index : int or None
        Device to record from (see :meth:`list_device_specs`); None: no recording, no output.
    output_device_index : int or None
        Device to play to; None: no playback, no input.
    format : {'int16', 'int32', 'float32'}
        Sample format (the stream dtype).
    chunksize : int
        Frames per PortAudio callback (1024 by default). Smaller chunks lower
        the latency but may cause xruns (clicks) on a loaded machine.
    playback_buffer : float
        Seconds of audio the playback FIFO holds before the input waits
        (default 1.0; at least 4 chunks).

    Errors and counters
    -------------------
    Device problems raise :class:`AudioDeviceError` listing the devices.
    PortAudio's xruns are counted and logged (a warning at most every 5 s per
    kind): ``counters()`` adds ``input_overflows`` (recorded data lost by the
    card), ``input_underflows``, ``output_underflows``, ``output_overflows``
    and ``starved_frames`` (silence played because the input had no data),
    plus ``frames_played``. A failure in the audio callback or the reader
    thread goes through the node contract (``error``, ``failed``).
    """

    live_source = True  # paced by the sound card: never waits for a reader
    restarts_count = True  # each start() counts the recorded frames from 0

    _input_specs: dict = {}
    _output_specs: dict = {}

    def __init__(self, name: str = "", parent=None, **kwargs):
        super().__init__(name=name, parent=parent, **kwargs)
        self._pa = None
        self.audiostream = None
        self.nb_channel = 0
        self.sample_rate = 0.0
        self.input_device_index: int | None = None
        self.output_device_index: int | None = None
        self.format = "int16"
        self.chunksize = 1024
        self._fifo: PlaybackFifo | None = None
        self._poller: ThreadPollInput | None = None
        self._xruns = dict.fromkeys(_STATUS_NAMES.values(), 0)
        self._head = 0
        self._latency: float | None = None
        self._callback_error: BaseException | None = None
        self._wake = threading.Event()  # set by a callback failure (and a stop): the monitor reports it now

    # -- device queries (usable before configure, as in pyacq's examples) -----
    def _portaudio(self):
        if self._pa is None:
            self._pa = _import_pyaudio().PyAudio()
        return self._pa

    def list_device_specs(self) -> list[dict]:
        """PortAudio's devices (see the module's :func:`list_device_specs`)."""
        return list_device_specs(self._portaudio())

    def default_input_device(self) -> int | None:
        """Index of the default input device (None if there is none)."""
        return default_input_device(self._portaudio())

    def default_output_device(self) -> int | None:
        """Index of the default output device (None if there is none)."""
        return default_output_device(self._portaudio())

    # -- configuration ------------------------------------------------------------
    def _configure(
        self,
        nb_channel: int = 2,
        sample_rate: float = 44100.0,
        input_device_index: int | None = None,
        output_device_index: int | None = None,
        format: str = "int16",
        chunksize: int = 1024,
        playback_buffer: float = 1.0,
        **kwargs,
    ) -> None:
        if kwargs:
            raise TypeError(
                f"{self.name}: unexpected configure() arguments {sorted(kwargs)}; accepted: nb_channel, "
                "sample_rate, input_device_index, output_device_index, format, chunksize, playback_buffer"
            )
        if format not in FORMATS:
            raise ValueError(f"{self.name}: format={format!r} is not supported; use one of {list(FORMATS)}")
        nb_channel, chunksize = int(nb_channel), int(chunksize)
        if nb_channel <= 0 or chunksize <= 0 or not float(sample_rate) > 0 or not float(playback_buffer) > 0:
            raise ValueError(
                f"{self.name}: nb_channel ({nb_channel}), chunksize ({chunksize}), sample_rate "
                f"({sample_rate}) and playback_buffer ({playback_buffer}) must be positive"
            )
        if input_device_index is None and output_device_index is None:
            raise ValueError(
                f"{self.name}: give input_device_index (to record) and/or output_device_index (to "
                "play); node.default_input_device() is the usual choice"
            )
        rate = int(round(float(sample_rate)))
        pa = self._portaudio()
        pyaudio = _import_pyaudio()
        pa_format = {"int16": pyaudio.paInt16, "int32": pyaudio.paInt32, "float32": pyaudio.paFloat32}[format]
        specs = list_device_specs(pa)
        if not specs:
            raise AudioDeviceError(f"{self.name}: {NO_DEVICE_HINT}")
        for kind, index in (("input", input_device_index), ("output", output_device_index)):
            if index is not None:
                self._check_device(pa, specs, kind, index, rate, nb_channel, pa_format, format)
        self.nb_channel, self.sample_rate, self.chunksize, self.format = nb_channel, float(rate), chunksize, format
        self.input_device_index = None if input_device_index is None else int(input_device_index)
        self.output_device_index = None if output_device_index is None else int(output_device_index)
        self._pa_format = pa_format
        self._playback_frames = max(4 * chunksize, int(playback_buffer * rate))
        spec = dict(
            streamtype="analogsignal",
            dtype=format,
            shape=(-1, nb_channel),
            sample_rate=float(rate),
            channel_names=[f"ch{i}" for i in range(nb_channel)],
        )
        self._set_stream(self.outputs, "signals", self.input_device_index is not None, spec, output=True)
        self._set_stream(self.inputs, "signals", self.output_device_index is not None, spec, output=False)

    def _set_stream(self, streams: dict, name: str, wanted: bool, spec: dict, output: bool) -> None:
        """Create or drop the ``signals`` output/input (reconfiguring before initialize() may change them)."""
        from ..core.stream import InputStream, OutputStream

        old = streams.pop(name, None)
        if old is not None:
            old.close()
        if wanted:
            if output:
                streams[name] = OutputStream(spec=dict(spec, compression=""), node=self, name=name)
            else:
                streams[name] = InputStream(spec={"streamtype": "analogsignal"}, node=self, name=name)

    def _check_device(
        self, pa, specs: list[dict], kind: str, index, rate: int, nb_channel: int, pa_format, format: str
    ) -> None:
        listing = _describe(specs, default_input_device(pa), default_output_device(pa))
        key = "maxInputChannels" if kind == "input" else "maxOutputChannels"
        given = index
        try:
            if isinstance(given, bool) or int(given) != given or not 0 <= int(given) < len(specs):
                raise ValueError
            index = int(given)
        except (TypeError, ValueError):
            raise AudioDeviceError(
                f"{self.name}: {kind}_device_index={given!r} is not a device index; devices: {listing}"
            ) from None
        device = specs[index]
        if device[key] < 1:
            raise AudioDeviceError(
                f"{self.name}: device {index} ({device['name']}) has no {kind} channels; choose "
                f"another {kind}_device_index. Devices: {listing}"
            )
        try:
            if kind == "input":
                pa.is_format_supported(rate, input_device=index, input_channels=nb_channel, input_format=pa_format)
            else:
                pa.is_format_supported(rate, output_device=index, output_channels=nb_channel, output_format=pa_format)
        except ValueError as exc:
            reason = exc.args[0] if exc.args else str(exc)
            raise AudioDeviceError(
                f"{self.name}: device {index} ({device['name']}) refuses {kind} at sample_rate={rate}, "
                f"nb_channel={nb_channel}, format={format!r} (PortAudio: {reason}); it has {device[key]} {kind} "
                f"channels and a default rate of {device['defaultSampleRate']:g} Hz (a JACK device accepts only "
                f"the server's rate). Devices: {listing}"
            ) from None

    def after_input_connect(self, inputname: str) -> None:
        """Check the connected stream at once (:meth:`check_input_specs`)."""
        self.check_input_specs()

    def check_input_specs(self) -> None:
        """Raise if the ``signals`` input's dtype, channels or sample rate differ from the node's playback."""
        inp = self.inputs.get("signals")
        if inp is None or inp.params is None:
            return
        params = inp.params
        dtype, shape = np.dtype(params.dtype), tuple(params.shape)
        if dtype != np.dtype(self.format) or shape[1:] != (self.nb_channel,):
            raise ValueError(
                f"{self.name}: the input carries {dtype} chunks of shape {shape}; playback needs "
                f"{self.format} (-1, {self.nb_channel}). Configure the node with format={str(dtype)!r} "
                "and the right nb_channel, or convert the stream (StreamConverter)"
            )
        rate = params.sample_rate
        if rate and abs(float(rate) - self.sample_rate) > 1e-6 * self.sample_rate:
            raise ValueError(
                f"{self.name}: the input's sample_rate is {rate:g} Hz but the node plays at "
                f"{self.sample_rate:g} Hz; resample the stream or configure sample_rate={rate:g}"
            )

    # -- lifecycle ------------------------------------------------------------------
    def _initialize(self) -> None:
        recording = self.input_device_index is not None
        playing = self.output_device_index is not None
        frame_bytes = self.nb_channel * np.dtype(self.format).itemsize
        self._dtype = np.dtype(self.format)
        self._frame_bytes = frame_bytes
        self._send = self.outputs["signals"].send if recording else None
        self._fifo = PlaybackFifo(frame_bytes, self._playback_frames) if playing else None
        pyaudio = _import_pyaudio()
        self._continue, self._abort = pyaudio.paContinue, pyaudio.paAbort
        try:
            self.audiostream = self._portaudio().open(
                rate=int(self.sample_rate),
                channels=self.nb_channel,
                format=self._pa_format,
                input=recording,
                output=playing,
                input_device_index=self.input_device_index,
                output_device_index=self.output_device_index,
                frames_per_buffer=self.chunksize,
                stream_callback=self._audio_callback,
                start=False,
            )
        except (OSError, ValueError) as exc:
            listing = _describe(list_device_specs(self._pa))
            raise AudioDeviceError(
                f"{self.name}: PortAudio cannot open the stream (input device "
                f"{self.input_device_index}, output device {self.output_device_index}, "
                f"{int(self.sample_rate)} Hz, {self.nb_channel} ch, {self.format}): {exc}. "
                f"Devices: {listing}"
            ) from None
        if playing:
            self._poller = ThreadPollInput(
                self.inputs["signals"],
                timeout=100,
                return_data=True,
                name=f"{self.name}-playback",
                handler=self._queue_playback,
            )
            self._poller.context = "reading the input to play"
        self._monitor_worker = Worker(
            f"{self.name}-monitor", self._monitor, context="monitoring the audio stream", interrupt=self._wake.set
        )

    def _start(self) -> None:
        """Start the stream; the node starts the monitor (and the playback reader), and stops them before _stop."""
        self._head = 0
        self._latency = None
        self._xruns = dict.fromkeys(_STATUS_NAMES.values(), 0)
        self._callback_error = None
        self._wake.clear()
        if self._fifo is not None:
            self._fifo.clear()
        self.audiostream.start_stream()
        self.add_worker(self._monitor_worker)
        if self._poller is not None:
            self.add_worker(self._poller)

    def _stop(self) -> None:
        if self.audiostream is not None and not self.audiostream.is_stopped():
            self.audiostream.stop_stream()

    def _close(self) -> None:
        if self.audiostream is not None:
            self.audiostream.close()
            self.audiostream = None

    def close(self) -> None:
        """Stop, close the stream and release PortAudio. Idempotent."""
        try:
            super().close()
        finally:
            pa, self._pa = self._pa, None
            if pa is not None:
                pa.terminate()

    # -- data paths -------------------------------------------------------------------
    def _queue_playback(self, pos: int, data) -> None:
        """Reader thread: queue a chunk of the input for playback (waits while the FIFO is full)."""
        chunk = np.ascontiguousarray(data, dtype=self._dtype)
        view = memoryview(chunk).cast("B")
        while not self._fifo.write(view, timeout=0.1):  # full: the stream plays it, or the node stops
            if self._poller.stopping:
                return

    def _audio_callback(self, in_data, frame_count, time_info, status):
        """PortAudio's audio thread: send the recorded block, return the block to play.

        Nothing here logs or takes a lock for long: xruns are only counted and
        a failure only stored; the monitor thread reports both.
        """
        try:
            if status:
                xruns = self._xruns
                for flag, key in _STATUS_NAMES.items():
                    if status & flag:
                        xruns[key] += 1
            if self._send is not None:
                self._head += frame_count
                data = np.frombuffer(in_data, dtype=self._dtype).reshape(frame_count, self.nb_channel)
                self._send(data, index=self._head)
                adc, now = time_info.get("input_buffer_adc_time", 0.0), time_info.get("current_time", 0.0)
                if adc > 0 and now > 0:
                    self._latency = now - adc
            out = self._fifo.read(frame_count) if self._fifo is not None else None
            return out, self._continue
        except BaseException as exc:
            self._callback_error = exc
            self._wake.set()
            return (bytes(frame_count * self._frame_bytes) if self._fifo is not None else None), self._abort

    def _monitor(self, worker: Worker) -> None:
        """Monitor thread: report a callback failure through the node contract, log xruns (rate-limited)."""
        logged = dict.fromkeys(self._xruns, 0)
        last_log = dict.fromkeys(self._xruns, -1e9)
        while True:
            self._wake.wait(0.25)
            stopping = worker.stopping
            exc = self._callback_error
            if exc is not None and self.error is None:
                self._report_error(exc, "in the audio callback (PortAudio stopped the stream)")
            now = time.monotonic()
            for key, count in list(self._xruns.items()):
                if count > logged[key] and (stopping or now - last_log[key] >= _XRUN_LOG_INTERVAL):
                    logger.warning(
                        "%s: PortAudio reported %d %s (%d in total)%s",
                        self.name,
                        count - logged[key],
                        key.replace("_", " "),
                        count,
                        "; recorded samples were lost" if key == "input_overflows" else "",
                    )
                    logged[key], last_log[key] = count, now
            if stopping:
                return
            if self._callback_error is not None:
                self._wake.clear()

    def counters(self) -> dict:
        """Return the node contract's counters plus xruns, ``starved_frames`` and ``frames_played``."""
        counters = super().counters()
        counters.update(self._xruns)
        fifo = self._fifo
        counters["starved_frames"] = fifo.starved_frames if fifo is not None else 0
        counters["frames_played"] = fifo.played_frames if fifo is not None else 0
        if self._latency is not None:
            counters["latency"] = self._latency
        return counters
