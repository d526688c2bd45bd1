"""AviRecorder: record image/video streams to video files (PyAV/FFmpeg) with a frame sidecar."""

from __future__ import annotations

import fractions
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
from ..core.tools import ThreadPollInput
from ..errors import NodeStateError
from .layout import ANNOTATIONS_FILE, VERSION_KEY, jsonable, named_streams, write_json_atomic

__all__ = ["AviRecorder", "pick_codec", "read_frame_sidecar"]

logger = logging.getLogger(__name__)

AVI_PROPERTIES_FILE = "avi_stream_properties.json"
#: codecs tried, in order, when none is given (the first the bundled FFmpeg can encode wins)
CODEC_PREFERENCE = ("libx264", "mpeg4", "ffv1")
SIDECAR_HEADER = "frame\tindex\ttime_s\treceived_unix\n"


def _import_av():
    try:
        import av
    except ImportError:
        raise ImportError("AviRecorder needs PyAV: pip install 'lslacq[video]'") from None
    return av


def pick_codec(preferred: Sequence[str] = CODEC_PREFERENCE) -> str:
    """Return the first codec of ``preferred`` that PyAV's FFmpeg can encode."""
    av = _import_av()
    for name in preferred:
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:
            continue
    raise RuntimeError(
        f"none of the video codecs {list(preferred)} can encode with this FFmpeg "
        f"(PyAV {av.__version__}); pass codec_name=... one of av.codecs_available"
    )


def read_frame_sidecar(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a ``NAME_frames.tsv`` sidecar: ``{'frame', 'index', 'time_s', 'received_unix'}`` arrays."""
    rows = np.loadtxt(path, delimiter="\t", skiprows=1, ndmin=2)
    return {
        "frame": rows[:, 0].astype(np.int64),
        "index": rows[:, 1].astype(np.int64),
        "time_s": rows[:, 2],
        "received_unix": rows[:, 3],
    }


class _VideoFile:
    """One video file being encoded, plus its sidecar of frame indexes and times."""

    def __init__(
        self,
        path: Path,
        sidecar: Path,
        codec: str,
        rate: float,
        frame_shape: tuple,
        dtype: np.dtype,
        options: dict,
        flush_interval: float,
    ):
        av = _import_av()
        self.av = av
        if len(frame_shape) == 2:
            channels = 1
        elif len(frame_shape) == 3 and frame_shape[2] in (1, 3, 4):
            channels = frame_shape[2]
        else:
            raise ValueError(
                f"{path.stem}: frames of shape {frame_shape} are not (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) images"
            )
        if dtype == np.uint8:
            self.in_format = {1: "gray", 3: "rgb24", 4: "rgba"}[channels]
        elif dtype == np.uint16 and channels == 1:
            self.in_format = "gray16le"
        else:
            raise ValueError(
                f"{path.stem}: frames of dtype {dtype} with {channels} channel(s) cannot be encoded; "
                "send uint8 gray/RGB/RGBA or uint16 gray images"
            )
        self.height, self.width = int(frame_shape[0]), int(frame_shape[1])
        self.rate = fractions.Fraction(rate).limit_denominator(100000)
        self.container = av.open(os.fspath(path), mode="w")
        try:
            stream = self.container.add_stream(codec, rate=self.rate)
            stream.width, stream.height = self.width, self.height
            stream.pix_fmt = self._pix_fmt(codec)
            stream.time_base = fractions.Fraction(1) / self.rate
            if options:
                stream.options = {str(k): str(v) for k, v in options.items()}
            stream.codec_context.time_base = stream.time_base
        except BaseException:
            self.container.close()
            raise
        self.stream = stream
        self.sidecar = open(sidecar, "w", encoding="ascii")
        self.sidecar.write(SIDECAR_HEADER)
        self.flush_interval = flush_interval
        self.last_flush = time.monotonic()
        self.n_frames = 0
        self.start_index: int | None = None
        self._last_pts = -1

    def _pix_fmt(self, codec: str) -> str:
        even = self.width % 2 == 0 and self.height % 2 == 0
        if codec == "ffv1":
            return {"gray": "gray", "gray16le": "gray16le"}.get(self.in_format, "bgr0")  # lossless
        if codec in ("libx264", "h264"):
            return "yuv420p" if even else "yuv444p"
        if not even:
            raise ValueError(
                f"codec {codec!r} needs an even frame width and height, got {self.width}x{self.height}; "
                "use codec_name='ffv1' or 'libx264'"
            )
        return "yuv420p"

    def write(self, data: np.ndarray, stop_index: int) -> None:
        now = time.time()
        first = stop_index - len(data)
        if self.start_index is None:
            self.start_index = first
        for k, image in enumerate(data):
            index = first + k
            pts = index - self.start_index
            if pts <= self._last_pts:  # the source restarted its count: keep the video time increasing
                pts = self._last_pts + 1
            image = np.ascontiguousarray(image)
            if self.in_format in ("gray", "gray16le"):
                image = image.reshape(self.height, self.width)
            frame = self.av.VideoFrame.from_ndarray(image, format=self.in_format)
            frame.pts = pts
            frame.time_base = self.stream.time_base
            for packet in self.stream.encode(frame):
                self.container.mux(packet)
            self.sidecar.write(f"{self.n_frames}\t{index}\t{index / float(self.rate):.6f}\t{now:.6f}\n")
            self.n_frames += 1
            self._last_pts = pts
        if time.monotonic() - self.last_flush >= self.flush_interval:
            self.sidecar.flush()
            self.last_flush = time.monotonic()

    def close(self) -> None:
        try:
            for packet in self.stream.encode():  # flush the encoder's delayed frames
                self.container.mux(packet)
        finally:
            self.container.close()
            self.sidecar.close()


class AviRecorder(Node):
    """Record image/video streams to video files with PyAV, one per stream (pyacq's AviRecorder).

    Each stream ``NAME`` gives ``DIRNAME/NAME.avi`` (``container`` changes the
    extension), a sidecar ``NAME_frames.tsv`` (one line per frame: frame
    number in the file, stream index, ``index / sample_rate`` in seconds,
    and the wall-clock time it was received) that aligns the video with
    signals recorded by :class:`RawRecorder`, and ``avi_stream_properties.json``
    (pyacq's keys, plus ``codec``, ``file``, ``sidecar``, ``n_frames``).
    Frame timestamps (pts) are the stream indexes, so lost frames leave
    gaps in the video time rather than shifting it. ``stop()`` finalizes
    the files, as pyacq's does: record again with a new AviRecorder.

    Parameters
    ----------
    streams : list or dict {name: stream}
        Image/video output streams, frames ``(H, W)``, ``(H, W, 3)`` (RGB)
        or ``(H, W, 4)`` of uint8 (or ``(H, W)`` uint16), with a
        ``sample_rate`` (frames per second). With a list, the names are
        ``video0``, ``video1``...
    autoconnect : bool
        Connect the inputs now.
    dirname : str or path
        Directory of the files (created if missing; existing video files
        are never overwritten).
    codec_name : str, optional
        FFmpeg encoder; default the first available of libx264 (H.264),
        mpeg4 and ffv1 (lossless).
    container : str
        File extension / container format (default ``'avi'``, as pyacq;
        ``'mkv'``, ``'mp4'``...).
    options : dict
        Encoder options, e.g. ``{'crf': '18'}`` for libx264.
    flush_interval : float
        Seconds between flushes of the sidecar.
    """

    _input_specs: dict = {}
    _output_specs: dict = {}

    def _configure(
        self,
        streams: Sequence | Mapping = (),
        autoconnect: bool = True,
        dirname: str | os.PathLike | None = None,
        codec_name: str | None = None,
        container: str = "avi",
        options: dict | None = None,
        flush_interval: float = 1.0,
    ) -> None:
        if dirname is None:
            raise ValueError(f"{self.name}: configure() needs dirname=..., the directory of the video files")
        named = named_streams(self.name, streams, "video")
        self.codec_name = codec_name or pick_codec()
        self.container = str(container).lstrip(".")
        self.dirname = Path(dirname)
        for name, _ in named:
            path = self._video_path(name)
            if path.exists():
                raise FileExistsError(
                    f"{self.name}: {os.fspath(path)!r} already exists; AviRecorder never "
                    "overwrites: choose a new dirname"
                )
        self.options = dict(options or {})
        self.flush_interval = float(flush_interval)
        self.inputs = {}
        for name, stream in named:
            inp = InputStream(spec={}, node=self, name=name)
            self.inputs[name] = inp
            if autoconnect:
                inp.connect(stream)
        self._annotations: dict = {}

    def _video_path(self, name: str) -> Path:
        return self.dirname / f"{name}.{self.container}"

    def check_input_specs(self) -> None:
        """Check that every input is a video stream with a frame rate; ValueError naming the input if not."""
        for name, inp in self.inputs.items():
            params = inp.params
            if not params.sample_rate:
                raise ValueError(
                    f"{self.name}: input {name!r} has no sample_rate (frames per second); configure "
                    "the video output with sample_rate=..."
                )
            if len(params.frame_shape) not in (2, 3):
                raise ValueError(
                    f"{self.name}: input {name!r} has shape {tuple(params.shape)}; expected "
                    "(-1, H, W) or (-1, H, W, C) frames"
                )

    def _initialize(self) -> None:
        self.dirname.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._properties: dict[str, Any] = {}
        for name, inp in self.inputs.items():
            params = inp.params
            self._properties[name] = jsonable(
                dict(
                    streamtype=params.streamtype,
                    dtype=params.np_dtype.str,
                    shape=list(params.shape),
                    sample_rate=params.sample_rate,
                    codec=self.codec_name,
                    file=self._video_path(name).name,
                    sidecar=f"{name}_frames.tsv",
                    n_frames=0,
                )
            )
        from .. import __version__

        self._properties[VERSION_KEY] = f"lslacq {__version__}"
        self._write_properties()
        self._files: dict[str, _VideoFile] = {}
        self._pollers: dict[str, ThreadPollInput] = {}
        self._finished = False
        if self._annotations:
            write_json_atomic(self.dirname / ANNOTATIONS_FILE, self._annotations)

    def _start(self) -> None:
        if self._finished:
            raise NodeStateError(
                f"{self.name}: the video files were finalized by stop(); create a new AviRecorder "
                "(with another dirname) to record again"
            )
        for name, inp in self.inputs.items():
            if name not in self._files:
                params = inp.params
                self._files[name] = _VideoFile(
                    self._video_path(name),
                    self.dirname / f"{name}_frames.tsv",
                    self.codec_name,
                    params.sample_rate,
                    params.frame_shape,
                    params.np_dtype,
                    self.options,
                    self.flush_interval,
                )
            poller = ThreadPollInput(
                inp,
                timeout=100,
                return_data=True,
                name=f"{self.name}-video-{name}",
                handler=lambda pos, data, n=name: self._on_frames(n, pos, data),
            )
            poller.failed.connect(lambda exc, n=name: self._report_error(exc, context=f"encoding video {n!r}"))
            self._pollers[name] = poller
        for poller in self._pollers.values():
            poller.start()

    def _stop(self) -> None:
        for poller in self._pollers.values():
            poller.stop()
        for name, poller in self._pollers.items():
            if not poller.wait(15):
                logger.error("%s: the video thread of %r did not stop within 15 s", self.name, name)
                continue
            inp = self.inputs[name]
            deadline = time.monotonic() + 2.0
            try:  # frames already queued when stop() was called belong to the recording
                while time.monotonic() < deadline and poller.error is None and inp.poll(timeout=0):
                    pos, data = inp.recv(return_data=True)
                    self._on_frames(name, pos, data)
            except Exception as exc:
                self._report_error(exc, context=f"encoding the last frames of {name!r}")
        self._pollers = {}
        self._finalize()

    def _close(self) -> None:
        self._finalize()

    def _finalize(self) -> None:
        """Flush the encoders and close the files (once)."""
        if self._finished:
            return
        self._finished = True
        self._write_properties()
        for name, file in self._files.items():
            try:
                file.close()
            except Exception as exc:
                self._report_error(exc, context=f"closing the video file of {name!r}")

    def add_annotations(self, **kwargs) -> None:
        """Store JSON-serialisable key/values in ``annotations.json`` (written at once if initialized)."""
        self._annotations.update(jsonable(kwargs))
        if self.initialized():
            write_json_atomic(self.dirname / ANNOTATIONS_FILE, self._annotations)

    def _on_frames(self, name: str, pos: int, data: np.ndarray) -> None:
        data = np.asarray(data)
        if not len(data):
            return
        file = self._files[name]
        file.write(data, int(pos))
        if file.start_index is not None and "start_index" not in self._properties[name]:
            self._properties[name]["start_index"] = file.start_index
            self._write_properties()

    def _write_properties(self) -> None:
        with self._lock:
            for name, file in getattr(self, "_files", {}).items():
                self._properties[name]["n_frames"] = file.n_frames
            write_json_atomic(self.dirname / AVI_PROPERTIES_FILE, self._properties)
