"""Viewers: Nodes that are Qt widgets (pyacq 5.4).

:class:`WidgetNode` is the base; :class:`QOscilloscope`,
:class:`QOscilloscopeMultiPlot` (a plot per channel) and
:class:`QTriggeredOscilloscope` display analog signals, :class:`QDigitalOscilloscope`
bit-packed digital ones, :class:`QTimeFreq` Morlet spectrograms (computed by
:class:`TimeFreqWorker` nodes, which need no Qt) and :class:`ImageViewer` video
frames. Qt and pyqtgraph are
imported only when one of these names is first used (``import
lslacq.viewers`` stays Qt-free); install them with ``pip install 'lslacq[qt]'``.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_LAZY = {
    "WidgetNode": "lslacq.viewers.widgetnode",
    "InputPoller": "lslacq.viewers.widgetnode",
    "QOscilloscope": "lslacq.viewers.qoscilloscope",
    "QOscilloscopeMultiPlot": "lslacq.viewers.qoscilloscopemultiplot",
    "QTriggeredOscilloscope": "lslacq.viewers.qtriggeredoscilloscope",
    "QTimeFreq": "lslacq.viewers.qtimefreq",
    "TimeFreqWorker": "lslacq.viewers.timefreqworker",
    "MorletEngine": "lslacq.viewers.morlet",
    "ImageViewer": "lslacq.viewers.imageviewer",
    "QDigitalOscilloscope": "lslacq.viewers.qdigitaloscilloscope",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY, globals())
