"""scikit-learn transformers from epochs ``(n_epochs, n_channels, n_times)`` to feature vectors.

Both remember the epoch shape they were fitted on (``epoch_shape_``); the
:class:`~lslacq.bci.Decoder` reads it to refuse an input of another shape
with a message that names the expected one.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

__all__ = ["Vectorizer", "WindowMeans"]


def _check_epochs(X, owner: str, expected: tuple | None) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(f"{owner}: epochs must have shape (n_epochs, n_channels, n_times), got {X.shape}")
    if expected is not None and tuple(X.shape[1:]) != tuple(expected):
        raise ValueError(
            f"{owner}: epochs of shape (n, {X.shape[1]}, {X.shape[2]}) given, but it was fitted on "
            f"epochs of shape (n, {expected[0]}, {expected[1]}) (n_channels, n_times); cut the epochs "
            "with the same picks, tmin and tmax as in training"
        )
    return X


class Vectorizer(TransformerMixin, BaseEstimator):
    """Flatten each epoch to one vector ``n_channels * n_times`` long (as mne.decoding.Vectorizer)."""

    def fit(self, X, y=None):
        """Remember the epoch shape of ``X``.

        Parameters
        ----------
        X : array_like, shape (n_epochs, n_channels, n_times)
            Training epochs.
        y : None
            Ignored (scikit-learn's signature).

        Returns
        -------
        self
        """
        self.epoch_shape_ = tuple(_check_epochs(X, "Vectorizer", None).shape[1:])
        self.n_features_in_ = int(np.prod(self.epoch_shape_))
        return self

    def transform(self, X):
        """Flatten each epoch of ``X``.

        Parameters
        ----------
        X : array_like, shape (n_epochs, n_channels, n_times)
            Epochs of the shape seen by :meth:`fit` (any shape before it is fitted).

        Returns
        -------
        ndarray, shape (n_epochs, n_channels * n_times)
        """
        X = _check_epochs(X, "Vectorizer", getattr(self, "epoch_shape_", None))
        return X.reshape(X.shape[0], -1)


class WindowMeans(TransformerMixin, BaseEstimator):
    """Mean of each channel over ``n_windows`` consecutive windows of the epoch, flattened.

    The classic P300 feature (the epoch's amplitude decimated to a few
    points per channel): ``n_channels * n_windows`` features.

    Parameters
    ----------
    n_windows : int
        Number of equal windows the epoch is cut into (the last samples that
        do not fill a window are ignored).
    """

    def __init__(self, n_windows: int = 10):
        self.n_windows = n_windows

    def fit(self, X, y=None):
        """Check ``n_windows`` against the epoch length of ``X`` and remember the epoch shape.

        Parameters
        ----------
        X : array_like, shape (n_epochs, n_channels, n_times)
            Training epochs.
        y : None
            Ignored (scikit-learn's signature).

        Returns
        -------
        self
        """
        X = _check_epochs(X, "WindowMeans", None)
        if not isinstance(self.n_windows, (int, np.integer)) or not 1 <= self.n_windows <= X.shape[2]:
            raise ValueError(
                f"WindowMeans: n_windows={self.n_windows!r} must be an int between 1 and the epoch "
                f"length ({X.shape[2]} samples)"
            )
        self.epoch_shape_ = tuple(X.shape[1:])
        return self

    def transform(self, X):
        """Average each channel of each epoch of ``X`` over the windows.

        Parameters
        ----------
        X : array_like, shape (n_epochs, n_channels, n_times)
            Epochs of the shape seen by :meth:`fit` (any shape before it is fitted).

        Returns
        -------
        ndarray, shape (n_epochs, n_channels * n_windows)
            Channel-major: the windows of channel 0, then those of channel 1...
        """
        X = _check_epochs(X, "WindowMeans", getattr(self, "epoch_shape_", None))
        w = X.shape[2] // self.n_windows
        means = X[:, :, : w * self.n_windows].reshape(X.shape[0], X.shape[1], self.n_windows, w).mean(axis=3)
        return means.reshape(X.shape[0], -1)
