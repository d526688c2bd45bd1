"""Device nodes: one module per device; vendor libraries are imported inside each module.

Names are resolved lazily (``lslacq.devices.BrainAmpSocket`` imports only
its own module). Every device node of the ``lslacq.nodes`` entry points that
lives in this package is importable from here (a test checks it).
"""

from __future__ import annotations

from .._lazy import lazy_exports

# public name -> module (relative to this package)
_LAZY = {
    "NumpyDeviceBuffer": ".numpy_device",
    "SimulatedEEG": ".simulated_eeg",
    "EEGSimulator": ".simulated_eeg",
    "BrainAmpSocket": ".brainampsocket",
    "OpenBCI": ".eeg_openbci",
    "Emotiv": ".eeg_emotiv",
    "PyAudio": ".audio_pyaudio",
    "WebCamAV": ".webcam_av",
    "WebCamImageIO": ".webcam_av",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY, globals())
