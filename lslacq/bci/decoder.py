"""Decoder node: a scikit-learn-style model applied to each epoch; predictions as event records."""

from __future__ import annotations

import collections
import logging
import os
import threading
from typing import Any

import numpy as np

from ..core.configargs import Arg
from ..core.processing import ProcessingNode
from ..core.signal import Signal
from ..core.stream.events import EVENT_DTYPE, EVENT_STREAM_SPEC, is_event_dtype

__all__ = ["Decoder", "load_model", "model_epoch_shape", "METHODS"]

logger = logging.getLogger(__name__)

METHODS = ("predict_proba", "decision_function", "predict")


def load_model(model: Any, owner: str = "Decoder") -> Any:
    """Return ``model``, or the object stored in the joblib file it names."""
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{owner}: model file {path!r} does not exist; save a fitted model with "
                "joblib.dump(model, path) or pass the model object"
            )
        import joblib

        try:
            return joblib.load(path)
        except Exception as exc:
            raise ValueError(f"{owner}: cannot load the model from {path!r} with joblib: {exc}") from exc
    return model


def model_epoch_shape(model: Any) -> tuple[int, int] | None:
    """Return the ``(n_channels, n_times)`` a model was fitted on.

    Parameters
    ----------
    model : estimator or Pipeline
        A fitted model; it, or one step of a pipeline, records the shape as ``epoch_shape_``.

    Returns
    -------
    tuple of int or None
        The shape, or None when no step records it.
    """
    steps = [model]
    if hasattr(model, "steps"):
        steps += [step for _, step in model.steps]
    for step in steps:
        shape = getattr(step, "epoch_shape_", None)
        if shape is not None:
            return tuple(int(s) for s in shape)
    return None


def _is_fitted(model: Any) -> bool:
    try:
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted
    except ImportError:  # pragma: no cover - sklearn-like objects without sklearn
        return hasattr(model, "classes_")
    try:
        check_is_fitted(model)
        return True
    except NotFittedError:
        return False
    except TypeError:  # not an estimator in sklearn's sense: trust it if it knows its classes
        return hasattr(model, "classes_")


class Decoder(ProcessingNode):
    """Classify each epoch with a fitted scikit-learn-style model (or fit one on the first N).

    Inputs
    ------
    epochs
        ``(n_epochs, n_channels, n_times)`` chunks (an :class:`~lslacq.bci.Epocher`'s ``epochs``).
    labels
        The matching event records (the Epocher's ``labels``): they give each
        prediction its trigger index, and the true labels for ``fit_after``.

    Outputs (both optional)
    -----------------------
    predictions
        One EVENT_DTYPE record per epoch: ``index`` the trigger's sample in
        the signal, ``description`` the predicted class (``str`` of the
        label), ``code`` its position in ``model.classes_``, ``type``
        ``b'prediction'``. Connect it to an LslOutlet to publish the
        predictions as string markers.
    scores
        ``(n_epochs, n_classes)`` float32: ``predict_proba``; or
        ``decision_function`` (binary models: ``(-d, d)`` so the larger
        column is the predicted class); or ``predict`` as one-hot rows.

    configure() parameters
    ----------------------
    model : estimator or str
        A fitted estimator or pipeline taking 3-D epochs (e.g.
        ``make_pipeline(WindowMeans(), LinearDiscriminantAnalysis())``), the
        path of a joblib file holding one, or an unfitted one with
        ``fit_after``.
    method : {'predict_proba', 'decision_function', 'predict'}, optional
        Default: ``predict_proba`` when the model has it, else
        ``decision_function``, else ``predict``.
    fit_after : int
        0 (default): the model is fitted already. N > 0: fit (a clone of) the
        model on the first N epochs and their labels (the ``description`` of
        the labels records), then predict the following ones; no predictions
        before.
    labels_timeout : float
        Seconds to wait for the labels of received epochs (default 5).

    Attributes
    ----------
    model : estimator
    fitted : bool
    n_predicted : int
    prediction : Signal
        Emitted in the node's thread with ``(records, scores)`` for each batch.
    fit_done : Signal
        Emitted with the model once ``fit_after`` epochs have been fitted.

    Errors of the model (and epochs of the wrong shape) stop the node and go
    through the node failure contract (``error``, ``failed``, ``health()``).
    """

    _input_specs = {"epochs": {}, "labels": {"streamtype": "event"}}
    _output_specs = {
        "predictions": dict(EVENT_STREAM_SPEC, optional=True),
        "scores": {"streamtype": "analogsignal", "dtype": "float32", "optional": True},
    }

    configure_args = {
        "method": Arg(str, none=True, choices=METHODS),
        "fit_after": Arg(int, ge=0, doc="epochs to fit on first, 0 if the model is fitted"),
        "labels_timeout": Arg(float, gt=0, doc="seconds"),
    }

    def __init__(self, name: str = "", parent: Any = None, **kwargs):
        super().__init__(name=name, parent=parent, **kwargs)
        self.prediction = Signal()
        self.fit_done = Signal()
        self.model = None
        self.fitted = False
        self.n_predicted = 0
        self._last: tuple | None = None  # (label, trigger index, scores) of the newest prediction
        self._lock = threading.Lock()

    def _configure(
        self, model: Any = None, method: str | None = None, fit_after: int = 0, labels_timeout: float = 5.0
    ) -> None:
        if model is None:
            raise ValueError(
                f"{self.name}: configure() needs model=..., a fitted scikit-learn estimator or pipeline "
                "(or the path of a joblib file holding one; or an unfitted one with fit_after=N)"
            )
        model = load_model(model, self.name)
        for needed in ("predict",):
            if not callable(getattr(model, needed, None)):
                raise ValueError(
                    f"{self.name}: model {type(model).__name__} has no {needed}() method; give a "
                    "scikit-learn-style classifier"
                )
        self.fit_after = int(fit_after)
        if self.fit_after:
            if not callable(getattr(model, "fit", None)):
                raise ValueError(
                    f"{self.name}: fit_after={fit_after} needs a model with fit(); {type(model).__name__} has none"
                )
            try:
                from sklearn.base import clone

                model = clone(model)
            except Exception:  # not clonable: fit the object given
                pass
            self.fitted = False
        else:
            if not _is_fitted(model):
                raise ValueError(
                    f"{self.name}: the model {type(model).__name__} is not fitted; fit it first (e.g. "
                    "on lslacq.bci.epochs_from_recording(...)) or give fit_after=N to fit it on the "
                    "first N labelled epochs"
                )
            self.fitted = True
        self.model = model
        self.requested_method = method
        self.method = self._choose_method(method)
        self.labels_timeout = float(labels_timeout)
        if self.fitted:
            self._set_classes(list(getattr(model, "classes_", [])))

    def _choose_method(self, method: str | None) -> str:
        model = self.model
        if method is None:
            for m in METHODS:
                try:
                    if callable(getattr(model, m, None)):
                        return m
                except AttributeError:
                    continue
            raise ValueError(f"{self.name}: the model has none of {list(METHODS)}")
        if method not in METHODS:
            raise ValueError(f"{self.name}: method={method!r} is unknown; use one of {list(METHODS)}")
        try:
            ok = callable(getattr(model, method, None))
        except AttributeError:  # sklearn's available_if raises AttributeError when the method is not available
            ok = False
        if not ok and (self.fitted or method != "predict_proba"):
            have = [m for m in METHODS if callable(getattr(model, m, None))]
            raise ValueError(f"{self.name}: the model {type(model).__name__} has no {method}(); it has {have}")
        return method

    def _set_classes(self, classes: list) -> None:
        if not classes:
            raise ValueError(f"{self.name}: the model has no classes_; a classifier is needed")
        self.classes = list(classes)
        self.outputs["scores"].spec["shape"] = (-1, len(self.classes))
        self.outputs["scores"].spec["classes"] = [str(c) for c in self.classes]
        self.outputs["predictions"].spec["classes"] = [str(c) for c in self.classes]

    def after_input_connect(self, inputname: str) -> None:
        """Check the connected stream: ``epochs`` against the fitted model's epoch shape, ``labels`` for events.

        The ``labels`` input also gives the predictions their sample rate and, before the model is fitted, the
        class names (its spec key ``labels``).
        """
        params = self.inputs[inputname].params
        if inputname == "epochs":
            frame = tuple(params.frame_shape)
            if len(frame) != 2:
                raise ValueError(
                    f"{self.name}: input 'epochs' has shape {tuple(params.shape)}; epochs of shape "
                    "(-1, n_channels, n_times) are expected (an Epocher's 'epochs' output)"
                )
            expected = model_epoch_shape(self.model) if self.fitted else None
            if expected is not None and frame != expected:
                raise ValueError(
                    f"{self.name}: input 'epochs' gives epochs of shape {frame} (n_channels, n_times) "
                    f"but the model was fitted on epochs of shape {expected}; cut them with the "
                    "picks, tmin and tmax used in training"
                )
            self.epoch_shape = frame
        else:
            dtype = params.np_dtype
            if not is_event_dtype(dtype) or "index" not in (dtype.names or ()):
                raise ValueError(
                    f"{self.name}: input 'labels' has dtype {dtype}; connect it to an Epocher's "
                    "'labels' output (EVENT_DTYPE records)"
                )
            rate = params.get("sample_rate")
            if rate:
                self.outputs["predictions"].spec["sample_rate"] = rate  # of the signal the indexes refer to
            if not self.fitted:
                labels = params.get("labels")
                if labels:
                    self._set_classes(sorted(labels))  # sklearn's classes_ are sorted

    def check_input_specs(self) -> None:
        """Raise if the ``scores`` output is configured but the number of classes is not known yet."""
        if self.outputs["scores"].configured and not getattr(self, "classes", None):
            raise ValueError(
                f"{self.name}: the scores output needs the number of classes; the model is not "
                "fitted and the labels input does not list them (spec key 'labels')"
            )

    def _initialize(self) -> None:
        self._labels: collections.deque = collections.deque()
        self._labels_end = 0  # labels input position after the newest record received
        self._labels_start = 0
        self._fit_X: list[np.ndarray] = []
        self._fit_y: list[str] = []
        self.n_predicted = 0

    def _poll_inputs(self) -> list[str]:
        return ["epochs"]  # labels are read in the same thread, next to their epochs

    def _start(self) -> None:
        self._labels.clear()
        self._labels_start = self._labels_end = 0
        self._warm_up()
        super()._start()

    def _warm_up(self) -> None:
        """Run the fitted model once on a noise epoch, before the data flows; the result is discarded.

        A model's first call costs several times a later one (its code paths and buffers warmed, 3-20 ms
        for WindowMeans + LDA on 384 x 1801 epochs against 0.6 ms): paid here, not by the first epoch
        of the session. A failure is left to the first real epoch to report (a model may refuse noise).
        """
        shape = getattr(self, "epoch_shape", None)
        if not self.fitted or shape is None:
            return
        dtype = self.inputs["epochs"].params.np_dtype if self.inputs["epochs"].connected else np.float32
        X = np.random.default_rng(0).standard_normal((1, *shape)).astype(dtype if dtype.kind == "f" else np.float32)
        try:
            self._scores(X)
        except Exception as exc:  # reported by the first real epoch, if it is real
            logger.debug("%s: the model's warm-up call failed (%s); the first epoch will tell", self.name, exc)

    def counters(self) -> dict:
        """Return the node counters plus ``n_predicted``, ``fitted`` and the last prediction.

        The last prediction is ``last_prediction`` (its label), ``last_prediction_index`` (its trigger sample)
        and ``last_scores`` (a list), e.g. for a dareplane module's STATUS.
        """
        counters = super().counters()
        last = self._last
        counters.update(
            n_predicted=self.n_predicted,
            fitted=self.fitted,
            last_prediction=None if last is None else last[0],
            last_prediction_index=None if last is None else last[1],
            last_scores=None if last is None else last[2],
        )
        return counters

    # -- processing -------------------------------------------------------------------------------
    def _take_labels(self, start: int, stop: int) -> np.ndarray:
        labels_in = self.inputs["labels"]
        while self._labels_end < stop:
            if not labels_in.poll(int(self.labels_timeout * 1000)):
                raise TimeoutError(
                    f"{self.name}: the labels of epochs {start}..{stop - 1} did not arrive within "
                    f"{self.labels_timeout:g} s; connect 'labels' to the Epocher that sends 'epochs'"
                )
            end, recs = labels_in.recv()
            recs = np.asarray(recs).reshape(-1)
            first = int(end) - len(recs)
            if first != self._labels_end:  # a gap or a restart: restart the count there
                self._labels.clear()
                self._labels_start = first
            self._labels.extend(recs)
            self._labels_end = int(end)
        while self._labels_start < start and self._labels:
            self._labels.popleft()
            self._labels_start += 1
        n = stop - start
        if self._labels_start != start or len(self._labels) < n:
            raise RuntimeError(
                f"{self.name}: the labels stream does not match the epochs (epochs {start}..{stop - 1}, "
                f"labels from {self._labels_start}); connect both inputs to the same Epocher"
            )
        out = np.array([self._labels.popleft() for _ in range(n)], dtype=EVENT_DTYPE)
        self._labels_start += n
        return out

    def _process(self, input_name: str, index: int, data) -> None:
        X = np.asarray(data)
        if X.ndim != 3 or tuple(X.shape[1:]) != tuple(self.epoch_shape):
            raise ValueError(
                f"{self.name}: received epochs of shape {X.shape}; expected (n_epochs, "
                f"{self.epoch_shape[0]}, {self.epoch_shape[1]})"
            )
        labels = self._take_labels(index - X.shape[0], index)
        if not self.fitted:
            need = self.fit_after - len(self._fit_y)
            take = min(need, len(X))
            self._fit_X.append(X[:take].copy())
            self._fit_y.extend(bytes(d).decode("ascii", "replace") for d in labels["description"][:take])
            X, labels = X[take:], labels[take:]
            if len(self._fit_y) >= self.fit_after:
                self._fit()
            if not len(X):
                return
        self._predict(X, labels)

    def _fit(self) -> None:
        Xf = np.concatenate(self._fit_X)
        y = np.asarray(self._fit_y)
        if len(np.unique(y)) < 2:
            raise ValueError(
                f"{self.name}: the first {len(y)} epochs (fit_after) all have label {y[0]!r}; a "
                "classifier needs at least two classes: raise fit_after"
            )
        try:
            self.model.fit(Xf, y)
        except Exception as exc:
            raise RuntimeError(
                f"{self.name}: fitting {type(self.model).__name__} on {Xf.shape} epochs failed: {exc}"
            ) from exc
        self._fit_X, self._fit_y = [], []
        with self._lock:
            self.fitted = True
            self.method = self._choose_method(self.requested_method)
            classes = list(self.model.classes_)
            if [str(c) for c in classes] != self.outputs["scores"].spec.get("classes", [str(c) for c in classes]):
                raise RuntimeError(
                    f"{self.name}: the fitted model's classes {classes} differ from the labels "
                    f"announced by the labels input {self.outputs['scores'].spec.get('classes')}"
                )
            self.classes = classes
        self.fit_done.emit(self.model)

    def _scores(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        model, method = self.model, self.method
        try:
            out = np.asarray(getattr(model, method)(X))
            if method == "predict":
                pred = out
                scores = (pred[:, None] == np.asarray(self.classes, dtype=object)[None, :]).astype(np.float32)
                codes = scores.argmax(axis=1)
                return codes, scores
        except Exception as exc:
            raise RuntimeError(
                f"{self.name}: {type(model).__name__}.{method}() failed on epochs of shape {X.shape}: {exc}"
            ) from exc
        if out.ndim == 1:  # binary decision_function: the score of classes_[1]
            out = np.column_stack([-out, out])
        if out.shape != (len(X), len(self.classes)):
            raise RuntimeError(
                f"{self.name}: {method}() returned shape {out.shape}; expected "
                f"({len(X)}, {len(self.classes)}) (n_epochs, n_classes)"
            )
        return out.argmax(axis=1), out.astype(np.float32)

    def _predict(self, X: np.ndarray, labels: np.ndarray) -> None:
        codes, scores = self._scores(X)
        preds = np.zeros(len(X), dtype=EVENT_DTYPE)
        preds["index"] = labels["index"]
        preds["channel"] = -1
        preds["code"] = codes
        preds["type"] = b"prediction"
        preds["description"] = [str(self.classes[c]).encode("ascii", "replace")[:32] for c in codes]
        self.n_predicted += len(X)
        self._last = (str(self.classes[codes[-1]]), int(preds["index"][-1]), [float(v) for v in scores[-1]])
        if self.outputs["predictions"].configured:
            self.outputs["predictions"].send(preds, index=self.n_predicted)
        if self.outputs["scores"].configured:
            self.outputs["scores"].send(np.ascontiguousarray(scores), index=self.n_predicted)
        self.prediction.emit(preds, scores)
