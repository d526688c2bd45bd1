"""QDigitalOscilloscope: bit unpacking, one row per bit on screen, hidden bits close their rows."""

from __future__ import annotations

import numpy as np
import pytest
from viewer_helpers import color_mask, render, rows_of, to_pixel, wait_until

from lslacq.core.stream import OutputStream
from lslacq.viewers.qdigitaloscilloscope import QDigitalOscilloscope, unpack_bits

RED = (255, 0, 0)
SR = 1000.0


def test_unpack_bits_least_significant_first():
    words = np.array([[0b00000001, 0b10000000], [0b00001010, 0]], dtype=np.uint8)
    bits = unpack_bits(words)
    assert bits.shape == (2, 16)
    assert np.flatnonzero(bits[0]).tolist() == [0, 15] and np.flatnonzero(bits[1]).tolist() == [1, 3]
    wide = unpack_bits(np.array([1 << 9, 1], dtype=">u2"))  # big-endian words: same channel numbers
    assert np.flatnonzero(wide[0]).tolist() == [9] and np.flatnonzero(wide[1]).tolist() == [0]
    assert unpack_bits(np.array([[True, False]])).tolist() == [[1, 0]]
    with pytest.raises(ValueError, match="integers"):
        unpack_bits(np.zeros((3, 1), "float32"))


@pytest.fixture
def source():
    out = OutputStream(name="ttl")
    out.configure(protocol="tcp", streamtype="digitalsignal", dtype="uint8", shape=(-1, 1), sample_rate=SR)
    yield out
    out.close()


def _bit_rows(viewer, image, x):
    """For every channel: does its trace sit high (bit set) or low at time x, and is it drawn at all."""
    red = color_mask(image, RED)
    states = {}
    for c in range(viewer.nb_channel):
        if not viewer.by_channel_params[c, "visible"]:
            continue
        gain, offset = viewer.by_channel_params[c, "gain"], viewer.by_channel_params[c, "offset"]
        col, high = to_pixel(viewer, x, offset + gain, image)
        _, low = to_pixel(viewer, x, offset, image)
        rows = rows_of(red, col, halfwidth=1)
        on_high = rows.size and np.abs(rows - high).min() <= 2
        on_low = rows.size and np.abs(rows - low).min() <= 2
        states[c] = "high" if on_high and not on_low else "low" if on_low and not on_high else "?"
    return states


def test_set_bits_are_drawn_high_in_their_rows(qapp, source):
    viewer = QDigitalOscilloscope(name="digital")
    try:
        viewer.configure(with_user_dialog=False)
        viewer.input.connect(source)
        viewer.initialize()
        assert viewer.nb_channel == 8 and viewer.channel_names[3] == "ch3"
        viewer.resize(600, 500)
        viewer.params.update({"xsize": 1.0, "mode": "scroll", "show_status": False, "display_labels": False})
        for c in range(8):
            viewer.by_channel_params[c, "color"] = "#ff0000"
        viewer.show()
        viewer.start()
        source.wait_for_subscribers(1, timeout=10)
        data = np.full((1000, 1), 0b00100101, np.uint8)  # bits 0, 2 and 5 set
        data[500:, 0] |= 0b00000010  # bit 1 rises half-way
        for i in range(0, 1000, 100):
            source.send(data[i : i + 100], index=i + 100)
        wait_until(qapp, lambda: viewer.counters()["last_index"] == 1000, what="every sample")
        image = render(qapp, viewer)
        expected = {0: "high", 1: "low", 2: "high", 3: "low", 4: "low", 5: "high", 6: "low", 7: "low"}
        assert _bit_rows(viewer, image, -0.75) == expected
        assert _bit_rows(viewer, image, -0.25) == {**expected, 1: "high"}
        # channel 0 is the top row
        assert viewer.by_channel_params[0, "offset"] == 7 and viewer.by_channel_params[7, "offset"] == 0

        # hiding channels closes their rows: 6 rows left, channel 5 moves up
        viewer.by_channel_params["ch2", "visible"] = False
        viewer.by_channel_params["ch6", "visible"] = False
        assert viewer.by_channel_params[5, "offset"] == 6 - 1 - 4
        assert viewer.params["ylim_max"] == pytest.approx(6 - 1 + 0.8 + 0.5)
        image = render(qapp, viewer)
        states = _bit_rows(viewer, image, -0.25)
        assert states == {0: "high", 1: "high", 3: "low", 4: "low", 5: "high", 7: "low"}
    finally:
        viewer.close()


def test_analog_streams_are_refused(qapp):
    out = OutputStream(name="analog")
    out.configure(protocol="tcp", dtype="float32", shape=(-1, 2), sample_rate=SR)
    viewer = QDigitalOscilloscope(name="digital")
    try:
        viewer.configure(with_user_dialog=False)
        with pytest.raises(ValueError, match="bit-packed"):
            viewer.input.connect(out)
    finally:
        viewer.close()
        out.close()
