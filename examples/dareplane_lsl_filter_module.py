r"""A dareplane module: an LSL stream -> band-pass filter -> a new LSL stream, driven by dareplane commands.

The graph (built by ``build_graph``) is

    LslInlet(stream) --signals--> SosFilter(band-pass) --signals--> LslOutlet(out_name)
            \--timestamps---------------------------------------------^

so the filtered stream carries the original LSL timestamps and its channel
names, and LabRecorder or any LSL consumer sees it next to the raw stream.

Start the module the way a dareplane control room does (or with
``lslacq dareplane serve examples/dareplane_lsl_filter_module.py --port 8081``)::

    python -m lslacq_dareplane examples/dareplane_lsl_filter_module.py --port=8081 --ip=127.0.0.1

then drive it from the control room, or by hand (``nc 127.0.0.1 8081``)::

    CONFIGURE | {"stream": "lslacq-EEG", "band": [1, 40]}
    START
    STATUS
    STOP_ACQ
    CLOSE

Something to filter: ``lslacq demo`` publishes simulated EEG as ``lslacq-EEG``.
Running this file directly serves the module too (``--port``, ``--ip``).
"""

from __future__ import annotations

import sys


def check_config(
    stream: str = "lslacq-EEG",
    band=(1.0, 40.0),
    order: int = 4,
    out_name: str | None = None,
    resolve_timeout: float = 10.0,
) -> tuple[float, float]:
    """Check a configuration without building anything; return the band as floats.

    The module calls it (as ``build_graph.validate``) before a CONFIGURE
    rebuilds the graph, so a bad value is answered with an error while the
    running graph goes on.
    """
    if not isinstance(stream, str) or not stream:
        raise ValueError(f"stream must be the name of an LSL stream, got {stream!r}")
    try:
        low, high = (float(f) for f in band)
    except (TypeError, ValueError):
        raise ValueError(f"band must be two frequencies [low, high] in Hz, got {band!r}") from None
    if not 0 < low < high:
        raise ValueError(f"band {band!r} must satisfy 0 < low < high (Hz)")
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"order must be a whole number >= 1, got {order!r}")
    if out_name is not None and (not isinstance(out_name, str) or not out_name):
        raise ValueError(f"out_name must be a stream name or null, got {out_name!r}")
    return low, high


def build_graph(
    stream: str = "lslacq-EEG",
    band=(1.0, 40.0),
    order: int = 4,
    out_name: str | None = None,
    resolve_timeout: float = 10.0,
):
    """Create and wire the inlet -> filter -> outlet graph.

    Parameters
    ----------
    stream : str
        Name of the LSL stream to filter.
    band : (float, float)
        Pass band in Hz.
    order : int
        Butterworth order.
    out_name : str, optional
        Name of the filtered LSL stream (default ``"<stream>-filtered"``).
    resolve_timeout : float
        Seconds to wait for ``stream`` to appear on the network.
    """
    from lslacq.dsp import SosFilter, design_sos
    from lslacq_lsl import LslInlet, LslOutlet

    low, high = check_config(stream, band, order, out_name, resolve_timeout)
    inlet = LslInlet(name="inlet")
    inlet.configure(name=stream, resolve_timeout=resolve_timeout)
    for output in inlet.outputs.values():
        output.configure(protocol="inproc")
    sample_rate = inlet.outputs["signals"].spec.get("sample_rate")
    if not sample_rate:
        inlet.close()
        raise ValueError(f"LSL stream {stream!r} has an irregular rate; a band-pass filter needs a regular stream")
    if not 0 < low < high < sample_rate / 2:
        inlet.close()
        raise ValueError(f"band {band!r} must satisfy 0 < low < high < {sample_rate / 2} Hz (Nyquist of {stream!r})")

    filt = SosFilter(name="filter")
    filt.configure(coefficients=design_sos("bandpass", [low, high], sample_rate=sample_rate, order=int(order)))
    filt.input.connect(inlet.outputs["signals"])
    filt.output.configure(protocol="inproc")

    outlet = LslOutlet(name="outlet")
    outlet.configure(
        name=out_name or f"{stream}-filtered",
        type="EEG",
        timestamps_input=True,
        extra_desc={"filter": {"kind": "bandpass", "low": low, "high": high, "order": int(order)}},
    )
    outlet.inputs["signals"].connect(filt.output)
    outlet.inputs["timestamps"].connect(inlet.outputs["timestamps"])
    return [inlet, filt, outlet]


build_graph.validate = check_config  # CONFIGURE checks here first: a bad value leaves the running graph alone


if __name__ == "__main__":
    from lslacq_dareplane.cli import main_module

    sys.exit(main_module([f"{__file__}:build_graph", *sys.argv[1:]]))
