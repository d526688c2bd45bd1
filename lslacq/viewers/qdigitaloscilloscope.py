"""QDigitalOscilloscope: a bit-packed digital stream drawn one row per bit (pyacq's digital oscilloscope)."""

from __future__ import annotations

import numpy as np

from .qoscilloscope import OSCILLOSCOPE_PARAMS, QOscilloscope

__all__ = ["QDigitalOscilloscope", "unpack_bits"]

_ROW_HEIGHT = 0.8  # a set bit is drawn this far above its row's baseline (rows are 1 apart)


def _digital_params() -> list[dict]:
    params = [dict(p) for p in OSCILLOSCOPE_PARAMS]
    for p in params:
        if p["name"] == "decimation_method":
            p["value"] = "min_max"  # a one-sample pulse stays visible at any zoom
        elif p["name"] == "display_labels":
            p["value"] = True
        elif p["name"] == "show_scale_bar":
            p["value"] = False  # bits are 0 or 1: an amplitude bar says nothing
    return params


def unpack_bits(data: np.ndarray) -> np.ndarray:
    """Return the bits of a ``(time, words)`` integer (or bool) array as ``(time, words * bits)`` uint8 0/1.

    Channel ``k`` is bit ``k % bits`` (least significant first) of word
    ``k // bits``, ``bits`` being the word size in bits (8 for uint8, as in
    pyacq; 1 for bool).
    """
    data = np.asarray(data)
    if data.ndim == 1:
        data = data[:, np.newaxis]
    if data.dtype.kind == "b":
        return data.astype(np.uint8)
    if data.dtype.kind not in "ui":
        raise ValueError(f"digital data must be integers (bit-packed) or bool, got dtype {data.dtype}")
    little = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<"))
    raw = little.view(np.uint8).reshape(data.shape[0], -1)
    return np.unpackbits(raw, axis=1, bitorder="little")


class QDigitalOscilloscope(QOscilloscope):
    """Display of a digital stream: each bit of each sample on its own row.

    Input ``signals``: a ``(time, words)`` stream of unsigned integers (or
    bool) in which every bit is a digital channel (TTL lines, a parallel
    port, a trigger word); channel ``k`` is bit ``k % bits`` of word
    ``k // bits``, least significant first, named ``ch<k>`` (or after the
    stream's ``channel_names`` when there is one name per bit). An
    ``events`` input may be connected as for :class:`QOscilloscope`.

    Parameters are QOscilloscope's (``scale_mode``, gains and offsets are
    set by the stacking); by default
    ``decimation_method='min_max'`` so that a one-sample pulse is never lost
    on screen, and the labels are shown. Visible channels are stacked from
    the top (channel 0) down, one row each; hiding a channel closes its row.

    Examples
    --------
    >>> viewer = QDigitalOscilloscope()
    >>> viewer.configure(with_user_dialog=False)
    >>> viewer.input.connect(ttl_device.output)  # e.g. dtype uint8, shape (-1, 1): 8 lines
    >>> viewer.initialize()
    >>> viewer.by_channel_params["ch3", "visible"] = False
    >>> viewer.show()
    ... viewer.start()
    """

    _default_params = _digital_params()
    _nb_bits = 0

    # QOscilloscope sets nb_channel from the stream's frame shape (words); here a channel is a bit
    @property
    def nb_channel(self) -> int:
        """Number of digital channels (bits per sample)."""
        return self._nb_bits

    @nb_channel.setter
    def nb_channel(self, value: int) -> None:
        pass

    def after_input_connect(self, inputname: str) -> None:
        """Check that ``signals`` is a bit-packed integer or bool stream and count its bits (the channels)."""
        if inputname == "signals":
            params = self.inputs[inputname].params
            dtype = params.np_dtype
            if dtype.kind not in "uib" or len(params.frame_shape) > 1:
                raise ValueError(
                    f"{self.name}: input 'signals' has dtype {dtype} and shape {tuple(params.shape)}; "
                    "QDigitalOscilloscope shows bit-packed (time, words) integer or bool streams "
                    "(use QOscilloscope for analog signals)"
                )
            words = int(params.frame_shape[0]) if params.frame_shape else 1
            self._nb_bits = words * (1 if dtype.kind == "b" else 8 * dtype.itemsize)
        super().after_input_connect(inputname)

    def _initialize(self) -> None:
        super()._initialize()
        self.restack()

    def _on_signals(self, index: int, data: np.ndarray) -> None:
        super()._on_signals(index, unpack_bits(data))

    def restack(self) -> None:
        """One row per visible channel, channel 0 on top; the view spans exactly the rows."""
        visible = np.array(self.by_channel_params.values("visible"), dtype=bool)
        n = int(visible.sum())
        blocker = self._block_params()
        try:
            for row, c in enumerate(np.flatnonzero(visible)):
                self.by_channel_params[int(c), "gain"] = _ROW_HEIGHT
                self.by_channel_params[int(c), "offset"] = float(n - 1 - row)
            self.params["ylim_min"] = -0.5
            self.params["ylim_max"] = max(n, 1) - 1 + _ROW_HEIGHT + 0.5
        finally:
            blocker.unblock()
        self._channel_arrays()

    def _block_params(self):
        from ._qt import QtCore

        return QtCore.QSignalBlocker(self.all_params)

    def auto_scale(self, spacing_factor: float = 9.0) -> None:
        """Digital rows need no scaling: restack the visible channels."""
        self.restack()
        self.refresh()

    compute_rescale = restack  # pyacq's controller spelling

    def gain_zoom(self, factor: float) -> None:
        """Rows have a fixed height: the mouse wheel does nothing."""

    def on_param_change(self, params, changes) -> None:
        """React as QOscilloscope does; a channel shown or hidden also restacks the rows."""
        super().on_param_change(params, changes)
        if any(change == "value" and param.name() == "visible" for param, change, _ in changes):
            self.restack()
