"""The audio devices PortAudio sees and the cameras FFmpeg can open (printed by ``lslacq devices list``)."""

from __future__ import annotations

import glob
import re

__all__ = ["list_audio_devices", "list_cameras"]


def list_audio_devices() -> list[dict]:
    """Return PortAudio's devices as dicts.

    Each has ``index``, ``name``, ``host_api``, ``inputs``, ``outputs``, ``sample_rate``, ``default_input``
    and ``default_output``.

    Raises
    ------
    ImportError
        PyAudio is not installed.
    """
    from .audio_pyaudio import default_input_device, default_output_device, list_device_specs, open_portaudio

    with open_portaudio() as pa:
        specs = list_device_specs(pa)
        default_in, default_out = default_input_device(pa), default_output_device(pa)
    return [
        dict(
            index=d["index"],
            name=d["name"],
            host_api=d["hostApiName"],
            inputs=d["maxInputChannels"],
            outputs=d["maxOutputChannels"],
            sample_rate=d["defaultSampleRate"],
            default_input=d["index"] == default_in,
            default_output=d["index"] == default_out,
        )
        for d in specs
    ]


def _video_nodes() -> list[str]:
    def number(path: str) -> int:
        m = re.search(r"(\d+)$", path)
        return int(m.group(1)) if m else -1

    return sorted(glob.glob("/dev/video*"), key=number)


def list_cameras(timeout: float = 3.0) -> list[dict]:
    """Try to open every ``/dev/video*`` with FFmpeg (video4linux2; Linux only).

    Returns one dict per node: ``url``, ``format``, ``ok`` and either
    ``width``, ``height``, ``frame_rate``, ``codec`` or ``error`` (metadata
    nodes of UVC cameras, busy cameras...). Opening a camera may switch its
    light on for a moment.
    """
    from .webcam_av import CameraError, frame_rate, open_video

    cameras = []
    for path in _video_nodes():
        entry: dict = dict(url=path, format="video4linux2")
        try:
            container, stream = open_video(path, "video4linux2", timeout=timeout)
        except CameraError as exc:
            entry.update(ok=False, error=str(exc))
        else:
            try:
                entry.update(ok=True, width=stream.width, height=stream.height, codec=stream.codec_context.name)
                try:
                    entry["frame_rate"] = frame_rate(stream)
                except CameraError:
                    entry["frame_rate"] = None
            finally:
                container.close()
        cameras.append(entry)
    return cameras
