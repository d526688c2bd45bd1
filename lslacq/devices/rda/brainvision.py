"""Read BrainVision Core Data Format files (.vhdr/.eeg/.vmrk) for the RDA emulator.

Only what Recorder itself writes is supported: binary data, multiplexed or
vectorized, int16 or float32 samples. The samples are memory-mapped, not
loaded, so recordings of any length can be replayed.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass, field

import numpy as np

from .protocol import MARKER_DTYPE

__all__ = ["BrainVisionRecording", "read_brainvision"]

_BINARY_FORMATS = {"INT_16": np.dtype("<i2"), "IEEE_FLOAT_32": np.dtype("<f4")}
_UNIT_SCALE = {"µv": 1.0, "uv": 1.0, "μv": 1.0, "": 1.0, "mv": 1e3, "v": 1e6, "nv": 1e-3}


@dataclass
class BrainVisionRecording:
    """A BrainVision recording, as the RDA emulator replays it.

    Attributes
    ----------
    channel_names : list of str
    resolutions : ndarray of float64
        Microvolts per raw unit, per channel.
    sample_rate : float
        Hz.
    data : ndarray, shape (n_samples, n_channels)
        Raw int16 or float32 values (a memory map).
    markers : ndarray of MARKER_DTYPE
        ``pos`` is the 0-based sample index.
    """

    channel_names: list
    resolutions: np.ndarray
    sample_rate: float
    data: np.ndarray
    markers: np.ndarray = field(default_factory=lambda: np.zeros(0, MARKER_DTYPE))

    @property
    def int16(self) -> bool:
        """True for INT_16 data (replayed as DATA16 blocks)."""
        return self.data.dtype == np.int16

    @property
    def n_samples(self) -> int:
        """Number of samples (rows of :attr:`data`)."""
        return self.data.shape[0]


def _read_ini(path: str) -> configparser.ConfigParser:
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # Recorder's default codepage before UTF-8
    lines = text.splitlines()
    if lines and lines[0].startswith(("Brain Vision", "BrainVision")):
        lines = lines[1:]  # the identification line is not INI
    parser = configparser.ConfigParser(interpolation=None, strict=False, comment_prefixes=(";",))
    parser.optionxform = str  # keys are case-sensitive (Ch1, Mk1)
    parser.read_string("\n".join(lines))
    return parser


def _split_commas(value: str) -> list[str]:
    r"""Split a BrainVision list value; ``\1`` stands for a comma inside a field."""
    return [part.replace(r"\1", ",") for part in value.split(",")]


def read_brainvision(vhdr_path: str | os.PathLike) -> BrainVisionRecording:
    """Read a BrainVision header, memory-map its data file and read its markers.

    Raises
    ------
    ValueError
        If the header is missing a key or uses a format Recorder does not
        write (ASCII data, other binary formats); the message names it.
    """
    vhdr_path = os.fspath(vhdr_path)
    if not os.path.isfile(vhdr_path):
        raise FileNotFoundError(f"BrainVision header {vhdr_path!r} does not exist")
    base = os.path.dirname(vhdr_path)
    hdr = _read_ini(vhdr_path)

    def get(section, key, default=None):
        try:
            return hdr[section][key].strip()
        except KeyError:
            if default is not None:
                return default
            raise ValueError(f"{vhdr_path}: [{section}] has no {key}=; is this a BrainVision .vhdr file?") from None

    if get("Common Infos", "DataFormat", "BINARY").upper() != "BINARY":
        raise ValueError(f"{vhdr_path}: DataFormat={get('Common Infos', 'DataFormat')}; only BINARY is supported")
    fmt = get("Binary Infos", "BinaryFormat", "INT_16").upper()
    if fmt not in _BINARY_FORMATS:
        raise ValueError(f"{vhdr_path}: BinaryFormat={fmt}; supported: {', '.join(_BINARY_FORMATS)}")
    dtype = _BINARY_FORMATS[fmt]
    n_channels = int(get("Common Infos", "NumberOfChannels"))
    interval = float(get("Common Infos", "SamplingInterval"))
    if n_channels < 1 or interval <= 0:
        raise ValueError(f"{vhdr_path}: NumberOfChannels={n_channels}, SamplingInterval={interval}: invalid")
    orientation = get("Common Infos", "DataOrientation", "MULTIPLEXED").upper()

    names, resolutions = [], []
    for i in range(1, n_channels + 1):
        fields = _split_commas(get("Channel Infos", f"Ch{i}"))
        names.append(fields[0])
        res = float(fields[2]) if len(fields) > 2 and fields[2].strip() else 1.0
        unit = fields[3].strip().lower() if len(fields) > 3 else ""
        resolutions.append(res * _UNIT_SCALE.get(unit, 1.0))

    data_path = os.path.join(base, get("Common Infos", "DataFile"))
    n_values = os.path.getsize(data_path) // dtype.itemsize
    n_samples = n_values // n_channels
    if n_samples == 0:
        raise ValueError(f"{data_path}: no complete sample for {n_channels} channels")
    if orientation == "MULTIPLEXED":
        data = np.memmap(data_path, dtype=dtype, mode="r", shape=(n_samples, n_channels))
    elif orientation == "VECTORIZED":
        data = np.memmap(data_path, dtype=dtype, mode="r", shape=(n_channels, n_samples)).T
    else:
        raise ValueError(f"{vhdr_path}: DataOrientation={orientation}; supported: MULTIPLEXED, VECTORIZED")

    markers = np.zeros(0, MARKER_DTYPE)
    marker_file = get("Common Infos", "MarkerFile", "")
    if marker_file and os.path.isfile(os.path.join(base, marker_file)):
        vmrk = _read_ini(os.path.join(base, marker_file))
        rows = []
        if vmrk.has_section("Marker Infos"):
            for value in vmrk["Marker Infos"].values():
                fields = _split_commas(value)
                if len(fields) < 4:
                    continue
                mtype, desc, pos, points = fields[0], fields[1], int(fields[2]), int(fields[3] or 1)
                channel = int(fields[4]) - 1 if len(fields) > 4 and fields[4].strip() else -1
                channel = -1 if channel < 0 else channel
                rows.append((pos - 1, points, channel, mtype.encode("utf-8")[:32], desc.encode("utf-8")[:64]))
        markers = np.array(sorted(rows, key=lambda r: r[0]), dtype=MARKER_DTYPE)
    return BrainVisionRecording(names, np.array(resolutions), 1e6 / interval, data, markers)
