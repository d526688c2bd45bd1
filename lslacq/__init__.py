"""lslacq: distributed acquisition and stream processing for LSL and dareplane.

The public names below are resolved lazily (PEP 562): ``import lslacq`` loads
no Qt, pyqtgraph or pylsl, and each sub-package (``lslacq.devices``,
``lslacq.viewers``, ``lslacq.dsp``, ``lslacq.rec``, ``lslacq.core``) is
imported only when it or one of its names is first used.
"""

from __future__ import annotations

from ._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    # errors
    "LslacqError": "lslacq.errors",
    "NodeStateError": "lslacq.errors",
    "StreamClosedError": "lslacq.errors",
    "BrokenStreamError": "lslacq.errors",
    "StreamTimeoutError": "lslacq.errors",
    "RemoteCallError": "lslacq.errors",
    # core data plane
    "StreamSpec": "lslacq.core.stream",
    "OutputStream": "lslacq.core.stream",
    "InputStream": "lslacq.core.stream",
    "RingBuffer": "lslacq.core.stream",
    "SharedMem": "lslacq.core.stream",
    "Node": "lslacq.core.node",
    "register_node_type": "lslacq.core.registry",
    "list_node_types": "lslacq.core.registry",
    "ThreadPollInput": "lslacq.core.tools",
    "ThreadPollOutput": "lslacq.core.chunking",
    "ChunkResizer": "lslacq.core.chunking",
    "StreamConverter": "lslacq.core.tools",
    "ChannelSplitter": "lslacq.core.tools",
    # rpc and process management
    "RPCServer": "lslacq.core.rpc",
    "RPCClient": "lslacq.core.rpc",
    "ObjectProxy": "lslacq.core.rpc",
    "Future": "lslacq.core.rpc",
    "ProcessSpawner": "lslacq.core.rpc",
    "QtRPCServer": "lslacq.core.rpc",
    "create_manager": "lslacq.core.manager",
    "Manager": "lslacq.core.manager",
    "NodeGroup": "lslacq.core.nodegroup",
    "Host": "lslacq.core.host",
    # dsp
    "SosFilter": "lslacq.dsp.sosfilter",
    "OverlapFiltfilt": "lslacq.dsp.overlapfiltfilt",
    "AnalogTrigger": "lslacq.dsp.trigger",
    "DigitalTrigger": "lslacq.dsp.trigger",
    "TriggerAccumulator": "lslacq.dsp.triggeraccumulator",
    "design_sos": "lslacq.dsp.sos",
    "EVENT_DTYPE": "lslacq.dsp.events",
    # devices
    "NumpyDeviceBuffer": "lslacq.devices.numpy_device",
    "BrainAmpSocket": "lslacq.devices.brainampsocket",
    "SimulatedEEG": "lslacq.devices.simulated_eeg",
    "EEGSimulator": "lslacq.devices.simulated_eeg",
    "PyAudio": "lslacq.devices.audio_pyaudio",
    "WebCamAV": "lslacq.devices.webcam_av",
    "WebCamImageIO": "lslacq.devices.webcam_av",
    "OpenBCI": "lslacq.devices.eeg_openbci",
    "Emotiv": "lslacq.devices.eeg_emotiv",
    # recording and replay (pyacq exports its recorders at the top level too)
    "RawRecorder": "lslacq.rec.rawrecorder",
    "AviRecorder": "lslacq.rec.avirecorder",
    "read_recording": "lslacq.rec.reader",
    "FileReplay": "lslacq.rec.replay",
    "XdfReplay": "lslacq.rec.xdf_replay",
    # viewers (Qt is imported only when one of these is used)
    "WidgetNode": "lslacq.viewers.widgetnode",
    "QOscilloscope": "lslacq.viewers.qoscilloscope",
    "QTriggeredOscilloscope": "lslacq.viewers.qtriggeredoscilloscope",
    "QTimeFreq": "lslacq.viewers.qtimefreq",
    "TimeFreqWorker": "lslacq.viewers.timefreqworker",
    "ImageViewer": "lslacq.viewers.imageviewer",
    "QDigitalOscilloscope": "lslacq.viewers.qdigitaloscilloscope",
    # graph files
    "load_graph": "lslacq.graph.graph",
}

# sub-packages reachable after a bare ``import lslacq`` (pyacq's manual 1.1:
# ``pyacq.devices.PyAudio()``), imported on first access
_SUBPACKAGES = ("core", "devices", "dsp", "rec", "viewers", "graph")

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY, globals(), submodules=_SUBPACKAGES)
__all__ = __all__ + ["__version__"]
