"""Stream tools: ThreadPollInput, StreamConverter, ChannelSplitter (pyacq's core.tools)."""

from __future__ import annotations

import numpy as np

from ..errors import NodeStateError
from .inputpoller import ThreadPollInput
from .processing import FORWARD_KEYS, ProcessingNode, copy_metadata
from .stream import OutputStream
from .workers import join_thread

__all__ = ["ThreadPollInput", "StreamConverter", "ChannelSplitter", "join_thread"]


class StreamConverter(ProcessingNode):
    """Forward a stream to an output configured differently (e.g. sharedmem -> tcp).

    Example
    -------
    >>> conv = StreamConverter()
    >>> conv.configure()
    >>> conv.input.connect(device.output)
    >>> conv.output.configure(protocol="tcp", transfermode="plaindata")
    >>> conv.initialize()
    """

    _input_specs = {"in": {}}
    _output_specs = {"out": {}}

    def after_input_connect(self, inputname: str) -> None:
        """Give the output the input's dtype, shape and metadata."""
        copy_metadata(self.input.params, self.output.spec, FORWARD_KEYS)

    def _initialize(self) -> None:
        # a chunk read from shared memory is valid only until the next one is received,
        # while a plaindata send of a large chunk keeps referencing it: copy it first
        params = self.input.params
        if params is None:  # (initialize() checked that the input is connected)
            raise NodeStateError(f"{self.name}: input 'in' is not connected; connect it before initialize()")
        self._copy = params.transfermode == "sharedmem"

    def _process(self, input_name: str, index: int, data: np.ndarray) -> None:
        self.output.send(data.copy() if self._copy else data, index=index)


class ChannelSplitter(ProcessingNode):
    """Split a multichannel stream into several outputs, one per channel group.

    ``configure(output_channels={'left': [0, 1], 'right': [2, 3]})`` creates
    outputs ``left`` and ``right``. Default: one output per channel
    (``ch0``, ``ch1``...), created when the input is connected.
    """

    _input_specs = {"in": {}}
    _output_specs: dict = {}
    _dynamic_streams = True

    def _configure(self, output_channels: dict[str, list[int]] | None = None) -> None:
        self.output_channels = None
        if output_channels is not None:
            if not isinstance(output_channels, dict) or not output_channels:
                raise ValueError(
                    f"{self.name}: output_channels must be a non-empty dict {{output_name: [channel indices]}}"
                )
            self.output_channels = {str(k): [int(c) for c in v] for k, v in output_channels.items()}
            self._make_outputs()

    def _make_outputs(self) -> None:
        for out_name in self.output_channels or {}:
            if out_name not in self.outputs:
                self.outputs[out_name] = OutputStream(node=self, name=out_name)

    def after_input_connect(self, inputname: str) -> None:
        """Give each output its channels' share of the input's metadata."""
        params = self.input.params
        if params is None:  # (called by connect() once the input has the output's params)
            raise NodeStateError(f"{self.name}: input {inputname!r} is not connected")
        if len(params.frame_shape) != 1:
            raise ValueError(f"{self.name}: ChannelSplitter needs a (time, channel) stream, got shape {params.shape}")
        n_channels = params.frame_shape[0]
        if self.output_channels is None:
            self.output_channels = {f"ch{i}": [i] for i in range(n_channels)}
            self._make_outputs()
        names = params.get("channel_names")
        for out_name, channels in self.output_channels.items():
            bad = [c for c in channels if not 0 <= c < n_channels]
            if bad:
                raise ValueError(
                    f"{self.name}: output {out_name!r} asks for channels {bad} but the input has {n_channels} channels"
                )
            spec = self.outputs[out_name].spec
            copy_metadata(params, spec, FORWARD_KEYS)
            spec["shape"] = (-1, len(channels))
            if names:
                spec["channel_names"] = [names[c] for c in channels]
        self._channel_index = {k: np.asarray(v) for k, v in self.output_channels.items()}

    def _process(self, input_name: str, index: int, data: np.ndarray) -> None:
        for out_name, channels in self._channel_index.items():
            self.outputs[out_name].send(np.ascontiguousarray(data[:, channels]), index=index)


def __getattr__(name: str):  # pyacq's core.tools names defined in chunking.py (imported on use: no import cycle)
    if name in ("ThreadPollOutput", "ChunkResizer"):
        from . import chunking

        return getattr(chunking, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
