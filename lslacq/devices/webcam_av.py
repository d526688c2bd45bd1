"""WebCamAV: a camera (or any FFmpeg video input) as a Node, through PyAV.

The node opens ``url`` with FFmpeg's input ``format`` and ``options``
(default: ``/dev/video{camera_num}`` with ``video4linux2`` on Linux,
``avfoundation`` camera ``camera_num`` on macOS), decodes in a thread and
sends each frame as one ``(1, H, W, 3)`` uint8 RGB chunk on the
``image/video`` output, whose ``sample_rate`` is the frame rate. Any FFmpeg
input works: a file, a network stream, or lavfi test sources::

    cam = WebCamAV()
    cam.configure(url="testsrc=size=320x240:rate=30,realtime", format="lavfi")

A frame is converted to RGB once (not at all when the source is RGB
already) and that array is sent without a further copy.
"""

from __future__ import annotations

import errno
import logging
import sys
from fractions import Fraction

import numpy as np

from ..errors import LslacqError
from .reader import END, BlockingDevice

__all__ = ["WebCamAV", "WebCamImageIO", "CameraError", "default_camera_input", "frame_rate", "open_video"]

logger = logging.getLogger(__name__)


class CameraError(LslacqError, OSError):
    """No camera at the address, or FFmpeg cannot open / read it. The message says what to check."""


def _import_av():
    try:
        import av
    except ImportError as exc:
        raise ImportError("WebCamAV needs PyAV: pip install 'lslacq[video]' (the 'av' wheel bundles FFmpeg)") from exc
    return av


def default_camera_input(camera_num: int = 0) -> tuple[str, str | None]:
    """``(url, format)`` of camera ``camera_num`` on this platform (FFmpeg's naming)."""
    if sys.platform.startswith("linux"):
        return f"/dev/video{int(camera_num)}", "video4linux2"
    if sys.platform == "darwin":
        return str(int(camera_num)), "avfoundation"
    if sys.platform.startswith("win"):
        raise CameraError(
            "WebCamAV: on Windows give the camera by name: url='video=<camera name>', format='dshow' "
            "(`ffmpeg -list_devices true -f dshow -i dummy` lists the names)"
        )
    return f"/dev/video{int(camera_num)}", None


def open_video(url: str, format: str | None = None, options: dict | None = None, timeout: float | None = 10.0):
    """Open an FFmpeg video input with PyAV; return ``(container, video_stream)``.

    Errors become a :class:`CameraError` saying what is wrong ("no camera at
    /dev/video0", "not a camera", "permission denied"...) instead of an
    FFmpeg traceback.

    Parameters
    ----------
    url, format, options
        As ``av.open(url, format=format, options=options)``.
    timeout : float, optional
        Seconds to wait for the input to open and then for each read (a stalled
        camera or network stream raises instead of hanging).
    """
    av = _import_av()
    where = f"{url!r}" + (f" (FFmpeg format {format!r})" if format else "")
    options = {str(k): str(v) for k, v in (options or {}).items()}
    is_device = format in ("video4linux2", "v4l2", "avfoundation", "dshow")
    try:
        container = av.open(url, format=format, options=options, timeout=timeout)
    except FileNotFoundError:
        if is_device:
            raise CameraError(
                f"no camera at {url} (FFmpeg format {format!r}): nothing is plugged in there; "
                "`lslacq devices list` shows the cameras FFmpeg can open (try another camera_num)"
            ) from None
        raise CameraError(f"no such file or input {where}") from None
    except PermissionError:
        raise CameraError(
            f"permission denied opening {where}: add your user to the 'video' group "
            "(sudo usermod -aG video $USER, then log in again)"
        ) from None
    except IsADirectoryError:
        raise CameraError(f"{where} is a directory, not a camera or video") from None
    except ValueError as exc:  # "no container format 'x'"
        raise CameraError(f"cannot open {where}: {exc}; check the format name (`ffmpeg -formats`)") from None
    except OSError as exc:
        if exc.errno == errno.ENOTTY:
            raise CameraError(f"{url} is not a camera (the device does not answer video4linux2 requests)") from None
        if exc.errno == errno.EBUSY:
            raise CameraError(f"the camera at {url} is busy: another program is using it") from None
        raise CameraError(f"FFmpeg cannot open {where}: {exc}") from None
    try:
        if not container.streams.video:
            raise CameraError(f"{where} has no video stream")
        stream = container.streams.video[0]
    except BaseException:
        container.close()
        raise
    return container, stream


def frame_rate(stream, options: dict | None = None) -> float:
    """Return the frame rate of a PyAV video stream, in frames per second.

    Parameters
    ----------
    stream : av.video.stream.VideoStream
        The stream (the second item :func:`open_video` returns).
    options : dict, optional
        The FFmpeg input options it was opened with: their ``'framerate'`` is the last resort.

    Raises
    ------
    CameraError
        Neither the stream nor ``options`` gives a rate above zero.
    """
    options = options or {}
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate, options.get("framerate")):
        try:
            value = float(Fraction(str(rate))) if rate is not None else 0.0
        except (ValueError, ZeroDivisionError):
            continue
        if value > 0:
            return value
    raise CameraError("the video input reports no frame rate; give options={'framerate': '30'}")


class WebCamAV(BlockingDevice):
    """A camera, or any FFmpeg video input, through PyAV (FFmpeg), as RGB frames.

    configure() parameters
    ----------------------
    camera_num : int
        Camera number (pyacq's parameter): ``/dev/video{camera_num}`` on Linux.
    url : str, optional
        Any FFmpeg input instead (a file, ``rtsp://...``, a lavfi graph such as
        ``'testsrc=size=320x240:rate=30,realtime'``).
    format : str, optional
        FFmpeg input format (``'video4linux2'``, ``'lavfi'``, ``'avfoundation'``...);
        default: the platform's camera format when ``url`` is not given, else guessed.
    options : dict, optional
        FFmpeg input options, e.g. ``{'video_size': '1280x720', 'framerate': '30',
        'input_format': 'mjpeg'}`` for a v4l2 camera.
    timeout : float
        Seconds to wait for the input to open and for each frame before
        failing (default 10).

    Output ``signals``: ``image/video``, uint8, shape ``(-1, H, W, 3)`` (RGB),
    ``sample_rate`` the frame rate. The frame index follows the frames'
    presentation times, so frames the camera skipped are a gap in the index
    (``counters()['dropped_frames']``). The input is opened when the node
    starts and closed when it stops. A finite input (a file) ends the run
    (``counters()['ended']`` is True). Failures go through the node contract
    (``error``, ``failed``).
    """

    # a camera or FFmpeg input, paced by its frame rate: never waits for a reader (BlockingDevice)
    lost_errors = (Exception,)  # any failure of the decoder ends the run (reconnect is not offered)
    read_context = "reading frames"

    _output_specs = {
        "signals": dict(
            streamtype="image/video", dtype="uint8", shape=(-1, 480, 640, 3), compression="", sample_rate=30.0
        )
    }

    def __init__(self, name: str = "", parent=None, **kwargs):
        super().__init__(name=name, parent=parent, **kwargs)
        self.url = ""
        self.format: str | None = None
        self.options: dict[str, str] = {}
        self.timeout = 10.0
        self.width = self.height = 0
        self.sample_rate = 0.0
        self._container = None
        self.n_frames = 0
        self.dropped_frames = 0
        self.ended = False

    def _configure(
        self,
        camera_num: int = 0,
        url: str | None = None,
        format: str | None = None,
        options: dict | None = None,
        timeout: float = 10.0,
        **kwargs,
    ) -> None:
        if kwargs:
            raise TypeError(
                f"{self.name}: unexpected configure() arguments {sorted(kwargs)}; accepted: camera_num, "
                "url, format, options, timeout"
            )
        input_format = format
        if url is None:
            url, default_format = default_camera_input(camera_num)
            input_format = format or default_format
        self.url, self.format, self.timeout = str(url), input_format, float(timeout)
        self.options = {str(k): str(v) for k, v in (options or {}).items()}
        container, stream = open_video(self.url, self.format, self.options, self.timeout)  # probe the size and rate
        try:
            self.width, self.height = int(stream.width), int(stream.height)
            self.sample_rate = frame_rate(stream, self.options)
            codec = stream.codec_context.name
        finally:
            container.close()
        if not self.width or not self.height:
            raise CameraError(
                f"{self.name}: {self.url!r} reports a frame size of {self.width}x{self.height}; "
                "give options={'video_size': 'WxH'}"
            )
        spec = self.outputs["signals"].spec
        spec["shape"] = (-1, self.height, self.width, 3)
        spec["sample_rate"] = self.sample_rate
        logger.info(
            "%s: %s %dx%d at %g fps (%s)", self.name, self.url, self.width, self.height, self.sample_rate, codec
        )

    # -- BlockingDevice hooks --------------------------------------------------------------
    def _start(self) -> None:
        self.n_frames = self.dropped_frames = 0
        self.ended = False
        self.stop_timeout = self.timeout + 5.0  # a read may wait for a frame that long
        super()._start()

    def _open(self, reopening: bool = False) -> None:
        self._container, stream = open_video(self.url, self.format, self.options, self.timeout)
        if (stream.width, stream.height) != (self.width, self.height):
            size = f"{stream.width}x{stream.height}"
            self._close_device()
            raise CameraError(
                f"{self.name}: {self.url!r} now delivers {size} frames, not the configured "
                f"{self.width}x{self.height}; configure the node again (or fix options['video_size'])"
            )
        self._frames = self._container.decode(stream)
        self._time_base = float(stream.time_base) if stream.time_base else 0.0
        self._last_time: float | None = None
        self._last = -1  # frame number of the last frame sent

    def _close_device(self) -> None:
        if any(worker.is_alive() for worker in self.workers):
            return  # a reader that did not stop may still decode: closing FFmpeg's context under it is unsafe
        container, self._container = self._container, None
        if container is not None:
            container.close()

    def read(self):
        """Return the next decoded frame, or :data:`~lslacq.devices.reader.END` at the end of the input."""
        return next(self._frames, END)

    def lost_error(self, exc: BaseException) -> BaseException:
        """Return the CameraError a failed read ends the run with (it says what to check)."""
        return _as_camera_error(exc, self.url)

    def device_description(self) -> str:
        """Name the input in messages (its URL)."""
        return repr(self.url)

    def input_ended(self) -> None:
        """Mark the run as ended (``counters()['ended']``) and log the frame count."""
        self.ended = True
        logger.info("%s: end of the input %r after %d frames", self.name, self.url, self.n_frames)

    def handle(self, frame) -> None:
        """Convert to RGB once, number the frame from its time, send."""
        image = frame.to_ndarray(format="rgb24")
        shape = (self.height, self.width, 3)
        if image.shape != shape:
            raise CameraError(
                f"{self.name}: frame {self.n_frames} is {image.shape[1]}x{image.shape[0]}, "
                f"the stream was configured for {shape[1]}x{shape[0]}"
            )
        if not image.flags.c_contiguous:  # padded lines: the only copy
            image = np.ascontiguousarray(image)
        step = 1
        if frame.pts is not None and self._time_base:
            # frames since the previous one, from their times: jitter below half a period is
            # one step, a missing frame two steps (a gap in the index, counted)
            now = frame.pts * self._time_base
            if self._last_time is not None:
                step = max(1, round((now - self._last_time) * self.sample_rate))
            self._last_time = now
        self.dropped_frames += step - 1
        self._last += step
        self.outputs["signals"].send(image[np.newaxis], index=self._last + 1)
        self.n_frames += 1

    def counters(self) -> dict:
        """Return the node contract's counters plus ``frames``, ``dropped_frames`` and ``ended``."""
        counters = super().counters()
        counters.update(frames=self.n_frames, dropped_frames=self.dropped_frames, ended=self.ended)
        return counters


def _as_camera_error(exc: BaseException, url: str) -> BaseException:
    av = _import_av()
    if isinstance(exc, av.FFmpegError) and not isinstance(exc, CameraError):
        error = CameraError(f"reading {url!r} failed: {exc} (camera unplugged, or no frame within the timeout?)")
        error.__cause__ = exc
        return error
    return exc


class WebCamImageIO(WebCamAV):
    """pyacq's imageio-based webcam node, provided on the PyAV backend (imageio is not needed).

    Same configure() parameters as :class:`WebCamAV` (pyacq's ``camera_num``
    included) and the same output.
    """
