"""AviRecorder: image/video streams to video files (real FFmpeg via PyAV) with a frame sidecar."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rec_helpers import make_output, wait_until

av = pytest.importorskip("av")

from lslacq.rec.avirecorder import AviRecorder, pick_codec, read_frame_sidecar  # noqa: E402

H, W, FPS = 48, 64, 30.0


def frames(n: int, start: int = 0, channels: int = 3) -> np.ndarray:
    """Moving colour gradients: smooth images a lossy codec keeps close, all different."""
    y, x = np.mgrid[0:H, 0:W]
    out = np.empty((n, H, W, channels), dtype=np.uint8)
    for k in range(n):
        t = start + k
        for c in range(channels):
            out[k, :, :, c] = (x * 2 + y * (c + 1) + 5 * t * (c + 1)) % 256
    return out


def decode(path) -> tuple[list[np.ndarray], list[int]]:
    with av.open(str(path)) as container:
        images, pts = [], []
        for frame in container.decode(video=0):
            images.append(frame.to_ndarray(format="rgb24"))
            pts.append(frame.pts)
    return images, pts


def _record(tmp_path, sends, codec_name=None, name="cam", **spec):
    out = make_output(name, streamtype="image/video", dtype="uint8", shape=(-1, H, W, 3), sample_rate=FPS, **spec)
    rec = AviRecorder()
    rec.configure(streams={name: out}, dirname=tmp_path / "video", codec_name=codec_name)
    with out, rec:
        rec.initialize()
        rec.start()
        total = 0
        for data, index in sends:
            out.send(data, index=index)
            total += len(data)
        wait_until(lambda: rec._files[name].n_frames == total, what="every frame encoded")
        rec.stop()
    assert rec.error is None
    return tmp_path / "video", rec


def test_lossless_ffv1_frames_are_exact_and_the_sidecar_aligns_them(tmp_path):
    data = frames(20, start=100)
    # starts at stream index 100, then 3 frames lost upstream
    dirname, rec = _record(tmp_path, [(data[:10], 110), (data[10:], 123)], codec_name="ffv1")
    images, pts = decode(dirname / "cam.avi")
    np.testing.assert_array_equal(np.stack(images), data)
    side = read_frame_sidecar(dirname / "cam_frames.tsv")
    expected_index = np.r_[100:110, 113:123]
    np.testing.assert_array_equal(side["frame"], np.arange(20))
    np.testing.assert_array_equal(side["index"], expected_index)
    np.testing.assert_allclose(side["time_s"], expected_index / FPS, atol=1e-6)
    assert pts == list(expected_index - 100)  # lost frames leave a gap in the video time
    props = json.loads((dirname / "avi_stream_properties.json").read_text())
    assert props["cam"]["start_index"] == 100 and props["cam"]["n_frames"] == 20
    assert props["cam"]["codec"] == "ffv1" and props["cam"]["sample_rate"] == FPS


def test_default_codec_records_every_frame_close_to_the_original(tmp_path):
    codec = pick_codec()
    assert codec in ("libx264", "mpeg4", "ffv1")
    data = frames(30)
    dirname, rec = _record(tmp_path, [(data[i : i + 5], None) for i in range(0, 30, 5)])
    assert rec.codec_name == codec
    images, _ = decode(dirname / "cam.avi")
    assert len(images) == 30
    error = np.abs(np.stack(images).astype(int) - data.astype(int)).mean()
    assert error < 12, error  # lossy, yet the same pictures
    with pytest.raises(FileExistsError, match="never overwrites"):
        AviRecorder().configure(streams={"cam": {}}, dirname=dirname, autoconnect=False)


def test_bad_frames_are_a_clear_error(tmp_path):
    out = make_output("f", streamtype="image/video", dtype="float32", shape=(-1, H, W, 3), sample_rate=FPS)
    no_rate = make_output("g", streamtype="image/video", dtype="uint8", shape=(-1, H, W, 3))
    rec, rec2 = AviRecorder(), AviRecorder()
    with out, no_rate, rec, rec2:
        rec.configure(streams=[out], dirname=tmp_path / "v", codec_name="ffv1")
        rec.initialize()
        with pytest.raises(ValueError, match="dtype float32 .* cannot be encoded"):
            rec.start()
        rec2.configure(streams=[no_rate], dirname=tmp_path / "w")
        with pytest.raises(ValueError, match="no sample_rate"):
            rec2.initialize()
