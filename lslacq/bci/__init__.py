"""Online BCI loop: epochs on marker streams, decoders, training the way it runs.

* :class:`Epocher` (node): epochs of a signal around markers, as mne.Epochs cuts them;
* :class:`Decoder` (node): a scikit-learn-style model applied to each epoch, predictions as markers;
* :func:`epochs_from_recording`: ``(X, y)`` from a recording or an XDF file through the Epocher's own engine;
* :class:`EpochingEngine`: that engine, on plain numpy chunks (no node, no threads).

Names are imported lazily: ``import lslacq.bci`` imports neither scikit-learn nor MNE.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_LAZY = {
    "EpochingEngine": ".engine",
    "EventMatcher": ".engine",
    "TimeAligner": ".engine",
    "check_event_id": ".engine",
    "epoch_times": ".engine",
    "Epocher": ".epocher",
    "Decoder": ".decoder",
    "load_model": ".decoder",
    "Vectorizer": ".features",
    "WindowMeans": ".features",
    "epochs_from_recording": ".offline",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY, globals())
