"""Simulated EEG device: realistic multichannel EEG with an alpha rhythm and periodic events.

:class:`EEGSimulator` generates the signal (pure numpy, deterministic for a
seed, continuous across chunks); :class:`SimulatedEEG` is the device Node that
paces it in real time from a thread and sends it on two outputs:

* ``signals``: ``(n, nb_channel)`` float32 in microvolts at ``sample_rate``;
  channel names, units and types in the spec (``channel_names``,
  ``channel_units``, ``channel_types``);
* ``events``: :data:`lslacq.core.stream.events.EVENT_DTYPE` records, one every
  ``event_interval`` seconds, whose ``index`` is the sample of ``signals``
  at which the stimulus happened. Each stimulus also evokes a small
  event-related potential (N100/P300) in the signal, so triggered averaging
  shows something.

The spectrum is what EEG looks like at rest: a 1/f^a background (a ~ 1..2,
tens of microvolts), a ~10 Hz alpha rhythm strongest over occipital and
parietal sites with a slowly waxing and waning envelope, and a shared
common-mode component, plus a little white (amplifier) noise.

For developing a BCI, the events can belong to classes (markers named after
them): ``erp_classes`` gives each class its own evoked response (a P300
oddball), ``mi_classes`` its own motor imagery (a mu/beta rhythm over C3/C4/Cz
that desynchronises, ERD, over the site of the imagined limb during the trial).
"""

from __future__ import annotations

import logging

import numpy as np

from ..core.configargs import Arg
from ..core.node import Node
from ..core.pacing import PacedLoop

__all__ = ["EEGSimulator", "SimulatedEEG", "STANDARD_32"]

logger = logging.getLogger(__name__)

#: The 32-channel 10-20 montage of common research caps.
STANDARD_32 = (
    "Fp1",
    "Fp2",
    "F7",
    "F3",
    "Fz",
    "F4",
    "F8",
    "FC5",
    "FC1",
    "FC2",
    "FC6",
    "T7",
    "C3",
    "Cz",
    "C4",
    "T8",
    "TP9",
    "CP5",
    "CP1",
    "CP2",
    "CP6",
    "TP10",
    "P7",
    "P3",
    "Pz",
    "P4",
    "P8",
    "PO9",
    "O1",
    "Oz",
    "O2",
    "PO10",
)

# Posterior sites carry the alpha rhythm; weights in [0, 1].
_ALPHA_WEIGHT = {
    "O1": 1.0,
    "Oz": 1.0,
    "O2": 1.0,
    "PO9": 0.8,
    "PO10": 0.8,
    "P7": 0.6,
    "P3": 0.7,
    "Pz": 0.8,
    "P4": 0.7,
    "P8": 0.6,
    "CP1": 0.4,
    "CP2": 0.4,
    "CP5": 0.3,
    "CP6": 0.3,
}
# Sensorimotor sources of the mu (~11 Hz) and beta (~22 Hz) rhythms and their projection to the scalp; a
# motor-imagery class desynchronises (ERD) the source of its site: left hand -> C4, right hand -> C3, feet -> Cz.
_MU_SOURCES = {
    "C3": {"C3": 1.0, "FC5": 0.5, "FC1": 0.45, "CP5": 0.5, "CP1": 0.45, "T7": 0.25, "Cz": 0.2},
    "C4": {"C4": 1.0, "FC6": 0.5, "FC2": 0.45, "CP6": 0.5, "CP2": 0.45, "T8": 0.25, "Cz": 0.2},
    "Cz": {"Cz": 1.0, "FC1": 0.4, "FC2": 0.4, "CP1": 0.4, "CP2": 0.4, "Fz": 0.2, "Pz": 0.2},
}
_MU_FREQ = {"C3": 11.0, "C4": 11.6, "Cz": 10.4}
# Centro-parietal sites carry the evoked P300.
_ERP_WEIGHT = {"Pz": 1.0, "CPz": 1.0, "P3": 0.7, "P4": 0.7, "CP1": 0.8, "CP2": 0.8, "Cz": 0.6, "Oz": 0.4}


def channel_names_for(nb_channel: int) -> list[str]:
    """10-20 names for up to 32 channels, then ``EEG33``, ``EEG34``..."""
    names = list(STANDARD_32[:nb_channel])
    names += [f"EEG{i + 1}" for i in range(len(names), nb_channel)]
    return names


class _AR1:
    """Bank of first-order low-pass filters y[n] = a*y[n-1] + x[n], applied chunk by chunk.

    ``poles`` has the shape of the state (or broadcasts to it along its first
    axis); scipy's lfilter runs the recursion when scipy is installed, a
    Python loop over samples for short chunks or without scipy.
    """

    def __init__(self, poles: np.ndarray, shape: tuple[int, ...]):
        self.poles = np.asarray(poles, dtype=np.float64)
        self.state = np.zeros(shape)
        try:
            from scipy.signal import lfilter
        except ImportError:  # pragma: no cover - scipy is optional
            lfilter = None
        self._lfilter = lfilter

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self._lfilter is None or x.shape[0] < 64:  # short chunks: the loop beats lfilter's call overhead
            return self._loop(x)
        out = np.empty_like(x)
        poles = np.broadcast_to(self.poles, self.state.shape)
        if self.state.ndim == 2:  # (n_poles, n_channels): one filter per pole, vectorised over channels
            for p in range(self.state.shape[0]):
                a = float(poles[p, 0])
                out[:, p], zf = self._lfilter([1.0], [1.0, -a], x[:, p], axis=0, zi=(a * self.state[p])[None])
                self.state[p] = out[-1, p]
        else:
            a = float(poles.reshape(-1)[0])
            out[:], zf = self._lfilter([1.0], [1.0, -a], x, axis=0, zi=(a * self.state)[None])
            self.state = out[-1].copy()
        return out

    def _loop(self, x: np.ndarray) -> np.ndarray:
        out = np.empty_like(x)
        y = self.state
        a = self.poles
        for i in range(x.shape[0]):
            y = a * y + x[i]
            out[i] = y
        self.state = y
        return out


class EEGSimulator:
    """Stateful generator of realistic EEG, continuous across calls.

    Parameters
    ----------
    nb_channel : int
        Number of channels (names from :data:`STANDARD_32`).
    sample_rate : float
        Sampling rate in Hz.
    alpha_freq : float
        Alpha peak frequency in Hz (default 10).
    alpha_amplitude : float
        Peak alpha amplitude in microvolts at occipital sites (default 20).
    background_amplitude : float
        Standard deviation of the 1/f background in microvolts (default 15).
    event_interval : float
        Seconds between stimulus events (0 disables events).
    erp_amplitude : float
        P300 amplitude in microvolts at Pz (0 disables evoked responses).
    seed : int, optional
        Seed of the random generator (same seed, same signal).
    erp_classes : dict, optional
        Class-dependent evoked responses, for developing a BCI:
        ``{class name: P300 amplitude in microvolts}``, e.g. ``{"target":
        8.0, "nontarget": 0.0}``. Each event then belongs to one class, drawn
        at random with ``class_probabilities`` (default: equal), and its
        marker is named after the class (``description``; ``code`` is the
        class's position + 1); ``erp_amplitude`` is not used. Without it,
        events alternate ``S  1``/``S  2`` with the same response.
    class_probabilities : dict, optional
        ``{class name: probability}`` for ``erp_classes`` (normalised), e.g.
        ``{"target": 1, "nontarget": 5}`` for an oddball (or of ``mi_classes``).
    mi_classes : dict, optional
        Motor imagery, for developing a BCI: ``{class name: site}`` where the
        site is the sensorimotor source whose mu/beta rhythm desynchronises
        during the trial, ``"C4"`` for the left hand, ``"C3"`` for the right
        hand, ``"Cz"`` for the feet (a list of them, or None for a rest class
        without ERD), e.g. ``{"left": "C4", "right": "C3"}``. The signal then
        carries a mu (~11 Hz) and beta (~22 Hz) rhythm of ``mu_amplitude``
        over C3, C4 and Cz (needs the 10-20 names: ``nb_channel >= 15``);
        each event (the cue) belongs to one class, drawn with
        ``class_probabilities``, its marker named after the class (``code``:
        the class's position + 1), and from 0.25 s after the cue until
        ``mi_duration`` s the rhythm of the class's site loses ``erd`` of its
        amplitude (0.25 s ramps). Not together with ``erp_classes``; every
        cue evokes the same ``erp_amplitude`` response.
    mu_amplitude : float
        Peak mu amplitude in microvolts at C3/C4/Cz with ``mi_classes`` (default 10).
    erd : float
        Fraction of the mu/beta amplitude lost during imagery (default 0.6).
    mi_duration : float, optional
        Seconds of imagery after each cue (default: 0.8 * event_interval, at most 4 s).
    """

    def __init__(
        self,
        nb_channel: int = 32,
        sample_rate: float = 500.0,
        alpha_freq: float = 10.0,
        alpha_amplitude: float = 20.0,
        background_amplitude: float = 15.0,
        event_interval: float = 1.0,
        erp_amplitude: float = 8.0,
        seed: int | None = None,
        erp_classes: dict | None = None,
        class_probabilities: dict | None = None,
        mi_classes: dict | None = None,
        mu_amplitude: float = 10.0,
        erd: float = 0.6,
        mi_duration: float | None = None,
    ):
        if int(nb_channel) < 1:
            raise ValueError(f"EEGSimulator: nb_channel must be >= 1, got {nb_channel}")
        if not sample_rate or sample_rate <= 0:
            raise ValueError(f"EEGSimulator: sample_rate must be > 0 Hz, got {sample_rate}")
        if not 0 < alpha_freq < sample_rate / 2:
            raise ValueError(
                f"EEGSimulator: alpha_freq={alpha_freq} Hz must lie between 0 and Nyquist ({sample_rate / 2} Hz)"
            )
        if event_interval < 0:
            raise ValueError(f"EEGSimulator: event_interval must be >= 0 s (0 = no events), got {event_interval}")
        self.nb_channel = int(nb_channel)
        self.sample_rate = float(sample_rate)
        self.alpha_freq = float(alpha_freq)
        self.alpha_amplitude = float(alpha_amplitude)
        self.background_amplitude = float(background_amplitude)
        self.event_interval = float(event_interval)
        self.erp_amplitude = float(erp_amplitude)
        self.channel_names = channel_names_for(self.nb_channel)
        self.rng = np.random.default_rng(seed)
        self.index = 0  # absolute index of the next sample

        # 1/f^a background: a sum of AR(1) processes with log-spaced corner
        # frequencies and equal variance approximates a 1/f spectrum over the
        # band they span (0.2 Hz .. 0.4*fs); the slowest pole adds a 1/f^2 tail.
        corners = np.geomspace(0.2, 0.4 * self.sample_rate, 8)
        poles = np.exp(-2 * np.pi * corners / self.sample_rate)
        # equal power per octave-ish band: scale input so each AR(1) has unit variance
        self._bg_gain = np.sqrt(1 - poles**2)
        self._bg = _AR1(poles[:, None], (len(poles), self.nb_channel))
        self._common = _AR1(poles[:, None], (len(poles), 1))
        # envelope of alpha: low-passed (0.3 Hz) noise around 1
        self._env = _AR1(np.array([np.exp(-2 * np.pi * 0.3 / self.sample_rate)]), (1,))
        self._env_gain = np.sqrt(1 - self._env.poles**2)
        self._drift = _AR1(self._env.poles, (1,))
        self._phase = 0.0
        self._alpha_phase = self.rng.uniform(0, 2 * np.pi, self.nb_channel) * 0.2
        self._alpha_w = np.array([_ALPHA_WEIGHT.get(n, 0.15) for n in self.channel_names])
        self._erp_w = np.array([_ERP_WEIGHT.get(n, 0.1) for n in self.channel_names])
        self._erp = self._erp_template()
        self._pending_erps: list = []  # onset indexes (or (onset, template)) whose ERP is not fully added yet
        self._set_classes(erp_classes, class_probabilities, seed)
        self._set_mi_classes(mi_classes, class_probabilities, seed, mu_amplitude, erd, mi_duration)
        if erp_classes is None and mi_classes is None and class_probabilities is not None:
            raise ValueError(
                "EEGSimulator: class_probabilities needs erp_classes={class: amplitude} or mi_classes={class: site}"
            )
        self._bg_scale = self.background_amplitude / np.sqrt(len(poles))
        self._event_period = int(round(self.event_interval * self.sample_rate)) if self.event_interval else 0
        self._event_count = 0

    def _set_classes(self, erp_classes: dict | None, probabilities: dict | None, seed: int | None) -> None:
        self.erp_classes = None
        if erp_classes is None:
            return
        if not isinstance(erp_classes, dict) or not erp_classes:
            raise ValueError(
                f"EEGSimulator: erp_classes={erp_classes!r} must be a non-empty dict {{class name: P300 "
                "amplitude in microvolts}}, e.g. {'target': 8.0, 'nontarget': 0.0}"
            )
        for name, amp in erp_classes.items():
            if not isinstance(name, str) or not name or len(name.encode("ascii", "replace")) > 32:
                raise ValueError(
                    f"EEGSimulator: erp_classes key {name!r} must be a class name of 1 to 32 ASCII "
                    "characters (it becomes the marker)"
                )
            if isinstance(amp, bool) or not isinstance(amp, (int, float)) or not np.isfinite(amp):
                raise ValueError(f"EEGSimulator: erp_classes[{name!r}] = {amp!r} must be an amplitude in microvolts")
        names = list(erp_classes)
        self.class_probabilities = self._class_weights(names, probabilities)
        self.erp_classes = {n: float(a) for n, a in erp_classes.items()}
        self._class_names = names
        unit = self._erp / self.erp_amplitude if self.erp_amplitude else self._erp_template(1.0)
        self._class_erps = [unit * a for a in self.erp_classes.values()]
        # a generator of its own, so the classes do not change the signal's random stream
        self._class_rng = np.random.default_rng(None if seed is None else [int(seed), 1])

    def _set_mi_classes(
        self,
        mi_classes: dict | None,
        probabilities: dict | None,
        seed: int | None,
        mu_amplitude: float,
        erd: float,
        mi_duration: float | None,
    ) -> None:
        self.mi_classes = None
        if mi_classes is None:
            return
        if self.erp_classes is not None:
            raise ValueError(
                "EEGSimulator: give erp_classes (evoked responses) or mi_classes (motor imagery), not both"
            )
        if not isinstance(mi_classes, dict) or not mi_classes:
            raise ValueError(
                f"EEGSimulator: mi_classes={mi_classes!r} must be a non-empty dict {{class name: site "
                "of the ERD}}, e.g. {'left': 'C4', 'right': 'C3'} (C4: left hand, C3: right hand, Cz: "
                "feet, None: rest)"
            )
        sources = [site for site in _MU_SOURCES if site in self.channel_names]
        if not sources:
            raise ValueError(
                f"EEGSimulator: mi_classes needs the sensorimotor channels C3, C4 or Cz; "
                f"{self.nb_channel} channels have none (use nb_channel >= 15)"
            )
        classes: dict[str, tuple[str, ...]] = {}
        for name, sites in mi_classes.items():
            if not isinstance(name, str) or not name or len(name.encode("ascii", "replace")) > 32:
                raise ValueError(
                    f"EEGSimulator: mi_classes key {name!r} must be a class name of 1 to 32 ASCII "
                    "characters (it becomes the marker)"
                )
            sites = () if sites is None else (sites,) if isinstance(sites, str) else tuple(sites)
            for site in sites:
                if site not in sources:
                    raise ValueError(
                        f"EEGSimulator: mi_classes[{name!r}] site {site!r} is not a sensorimotor "
                        f"source of this montage; use one of {sources} (or None for rest)"
                    )
            classes[name] = sites
        for label, value, lo, hi in (("mu_amplitude", mu_amplitude, 0.0, np.inf), ("erd", erd, 0.0, 1.0)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
                raise ValueError(f"EEGSimulator: {label}={value!r} must be a number in [{lo}, {hi}]")
        if not self.event_interval:
            raise ValueError("EEGSimulator: mi_classes needs cues: set event_interval > 0 (seconds between trials)")
        if mi_duration is None:
            mi_duration = min(0.8 * self.event_interval, 4.0)
        if (
            isinstance(mi_duration, bool)
            or not isinstance(mi_duration, (int, float))
            or not 0.5 <= mi_duration <= self.event_interval
        ):
            raise ValueError(
                f"EEGSimulator: mi_duration={mi_duration!r} must be between 0.5 s and event_interval "
                f"({self.event_interval} s): the imagery of a trial ends before the next cue"
            )
        self.mi_classes = {n: list(v) for n, v in classes.items()}
        self.mu_amplitude, self.erd, self.mi_duration = float(mu_amplitude), float(erd), float(mi_duration)
        names = list(classes)
        self._class_names = names
        self.class_probabilities = self._class_weights(names, probabilities)
        self._class_rng = np.random.default_rng(None if seed is None else [int(seed), 1])
        self._mi_rng = np.random.default_rng(None if seed is None else [int(seed), 2])  # the signal's stays
        self._mu_sources = sources
        self._mu_w = np.array([[_MU_SOURCES[src].get(ch, 0.0) for ch in self.channel_names] for src in sources])
        self._mu_freq = np.array([_MU_FREQ[src] for src in sources])
        self._mu_phase = self._mi_rng.uniform(0, 2 * np.pi, (2, len(sources)))  # mu, beta
        self._mu_env = _AR1(np.array([np.exp(-2 * np.pi * 0.5 / self.sample_rate)]), (len(sources),))
        self._mu_env_gain = np.sqrt(1 - self._mu_env.poles**2)
        # the ERD of one trial: gain 1 - erd from 0.25 s after the cue to mi_duration, 0.25 s ramps
        fs = self.sample_rate
        t = np.arange(int(round((self.mi_duration + 0.25) * fs))) / fs
        ramp = np.clip(np.minimum((t - 0.25) / 0.25, (self.mi_duration + 0.25 - t) / 0.25), 0.0, 1.0)
        self._erd_gain = 1.0 - self.erd * ramp
        self._class_sources = [[sources.index(site) for site in classes[n]] for n in names]
        self._pending_mi: list[tuple[int, list[int]]] = []  # (onset, source indexes) of trials not finished

    @staticmethod
    def _class_weights(names: list, probabilities: dict | None) -> np.ndarray:
        if probabilities is None:
            weights = np.ones(len(names))
        else:
            if not isinstance(probabilities, dict) or set(probabilities) != set(names):
                raise ValueError(
                    f"EEGSimulator: class_probabilities={probabilities!r} must give a weight to each class ({names})"
                )
            weights = np.array([float(probabilities[n]) for n in names])
            if np.any(weights < 0) or not weights.sum() > 0:
                raise ValueError(f"EEGSimulator: class_probabilities={probabilities!r} must be >= 0, not all 0")
        return weights / weights.sum()

    def _sensorimotor(self, start: int, n: int) -> np.ndarray:
        """Return the mu/beta rhythm of ``n`` samples from ``start`` with the ERD of the trials in progress."""
        fs = self.sample_rate
        n_src = len(self._mu_sources)
        env = 1.0 + 0.4 * self._mu_env(self._mi_rng.standard_normal((n, n_src)) * self._mu_env_gain)
        env = np.clip(env, 0.1, None)
        steps = np.arange(1, n + 1)[:, None] * (2 * np.pi / fs)
        mu = np.sin(self._mu_phase[0] + steps * self._mu_freq)
        beta = np.sin(self._mu_phase[1] + steps * 2 * self._mu_freq)
        self._mu_phase = (self._mu_phase + n * (2 * np.pi / fs) * np.stack([self._mu_freq, 2 * self._mu_freq])) % (
            2 * np.pi
        )
        gain = np.ones((n, n_src))
        still = []
        for onset, srcs in self._pending_mi:
            length = len(self._erd_gain)
            lo, hi = max(onset, start), min(onset + length, start + n)
            if lo < hi and srcs:
                gain[lo - start : hi - start, srcs] *= self._erd_gain[lo - onset : hi - onset, None]
            if onset + length > start + n:
                still.append((onset, srcs))
        self._pending_mi = still
        rhythm = self.mu_amplitude * env * gain * (mu + 0.4 * beta)
        return rhythm @ self._mu_w

    def _erp_template(self, amplitude: float | None = None) -> np.ndarray:
        t = np.arange(int(0.8 * self.sample_rate)) / self.sample_rate
        n100 = -0.5 * np.exp(-(((t - 0.10) / 0.025) ** 2))
        p300 = 1.0 * np.exp(-(((t - 0.30) / 0.06) ** 2))
        return (self.erp_amplitude if amplitude is None else amplitude) * (n100 + p300)

    def next_event_index(self) -> int | None:
        """Absolute sample index of the next event (None if events are disabled)."""
        if not self._event_period:
            return None
        return (self._event_count + 1) * self._event_period

    def generate(self, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the next ``n_samples`` samples and the events among them.

        Returns
        -------
        data : ndarray, float32, shape (n_samples, nb_channel)
            Microvolts.
        events : ndarray of EVENT_DTYPE
            Stimulus events whose index falls in this chunk.
        """
        from lslacq.core.stream.events import make_events

        n = int(n_samples)
        start = self.index
        noise = self.rng.standard_normal((n, len(self._bg_gain), self.nb_channel)) * self._bg_gain[None, :, None]
        bg = self._bg(noise).sum(axis=1) * self._bg_scale
        common = self._common(self.rng.standard_normal((n, len(self._bg_gain), 1)) * self._bg_gain[None, :, None]).sum(
            axis=1
        ) * (0.5 * self._bg_scale)
        env = 1.0 + 0.6 * self._env(self.rng.standard_normal((n, 1)) * self._env_gain)[:, 0]
        env = np.clip(env, 0.1, None)
        # the alpha frequency wanders by ~0.3 Hz so it is not phase-locked to periodic events
        freq = self.alpha_freq + 0.3 * self._drift(self.rng.standard_normal((n, 1)) * self._env_gain)[:, 0]
        phase = self._phase + 2 * np.pi * np.cumsum(freq) / self.sample_rate
        self._phase = float(phase[-1] % (2 * np.pi))
        alpha = np.sin(phase[:, None] + self._alpha_phase[None, :])
        alpha *= (self.alpha_amplitude * env)[:, None] * self._alpha_w[None, :]
        data = bg + common + alpha + 0.5 * self.rng.standard_normal((n, self.nb_channel))

        events = np.zeros(0)
        if self._event_period:
            period = self._event_period
            first = max(period, -(-start // period) * period)  # first multiple of the period >= start
            onsets = np.arange(first, start + n, period)
            if len(onsets) and self.mi_classes is not None:
                which = self._class_rng.choice(len(self._class_names), size=len(onsets), p=self.class_probabilities)
                events = make_events(
                    onsets,
                    type="Stimulus",
                    description=[self._class_names[k] for k in which],
                    code=[int(k) + 1 for k in which],
                )
                self._event_count += len(onsets)
                self._pending_mi.extend((int(o), self._class_sources[k]) for o, k in zip(onsets, which, strict=True))
                self._pending_erps.extend(int(o) for o in onsets)
            elif len(onsets) and self.erp_classes is not None:
                which = self._class_rng.choice(len(self._class_names), size=len(onsets), p=self.class_probabilities)
                events = make_events(
                    onsets,
                    type="Stimulus",
                    description=[self._class_names[k] for k in which],
                    code=[int(k) + 1 for k in which],
                )
                self._event_count += len(onsets)
                self._pending_erps.extend((int(o), self._class_erps[k]) for o, k in zip(onsets, which, strict=True))
            elif len(onsets):
                codes = [1 if (self._event_count + k) % 2 == 0 else 2 for k in range(len(onsets))]
                events = make_events(onsets, type="Stimulus", description=[f"S{c:3d}" for c in codes], code=codes)
                self._event_count += len(onsets)
                self._pending_erps.extend(int(o) for o in onsets)
        if self.mi_classes is not None:
            data += self._sensorimotor(start, n)
        if (self.erp_amplitude or self.erp_classes is not None) and self._pending_erps:
            still = []
            for item in self._pending_erps:
                onset, erp = item if isinstance(item, tuple) else (item, self._erp)
                lo, hi = max(onset, start), min(onset + len(erp), start + n)
                if lo < hi:
                    data[lo - start : hi - start] += erp[lo - onset : hi - onset, None] * self._erp_w[None, :]
                if onset + len(erp) > start + n:
                    still.append(item)
            self._pending_erps = still
        if not len(events):
            from lslacq.core.stream.events import EVENT_DTYPE

            events = np.zeros(0, dtype=EVENT_DTYPE)
        self.index += n
        return data.astype(np.float32), events


class SimulatedEEG(Node):
    """Device node streaming simulated EEG in real time (paced by a thread).

    Configure with :meth:`configure`:

    Parameters
    ----------
    nb_channel : int
        Number of channels (default 32, 10-20 names).
    sample_rate : float
        Hz (default 500).
    chunksize : int
        Samples per chunk sent (default: 20 ms worth).
    event_interval : float
        Seconds between stimulus events on the ``events`` output (default 1; 0: none).
    alpha_freq, alpha_amplitude, background_amplitude, erp_amplitude, seed
        See :class:`EEGSimulator`.
    erp_classes, class_probabilities : dict, optional
        Class-dependent evoked responses with markers named after the
        classes (``{"target": 8.0, "nontarget": 0.0}``), see
        :class:`EEGSimulator`.
    mi_classes : dict, optional
        Motor imagery with markers named after the classes (``{"left": "C4",
        "right": "C3"}``: the site whose mu/beta rhythm desynchronises), with
        ``mu_amplitude``, ``erd`` and ``mi_duration``, see :class:`EEGSimulator`.
    speed : float
        Pace the simulation ``speed`` times faster than real time (default 1;
        for demos and tests: sample rate and sample indexes are unchanged).

    Outputs ``signals`` (float32 microvolts, ``(n, nb_channel)``) and
    ``events`` (:data:`~lslacq.core.stream.events.EVENT_DTYPE`; optional:
    leave it unconfigured if no one needs the markers). The pacing thread
    sends chunk ``k`` when ``(k + 1) * chunksize`` samples are due since
    :meth:`start`, so the long-run rate is exact whatever the scheduling
    jitter; after a stall (machine suspended) it catches up at most one
    second and skips the rest, counting it in :attr:`n_skipped`.

    Attributes
    ----------
    n_sent : int
        Samples sent since initialize.
    n_events : int
        Events sent.
    n_skipped : int
        Samples skipped after stalls.

    A failure of the pacing thread goes through the node contract
    (``error``, ``failed``, ``counters()``).
    """

    live_source = True  # paced by the clock, like the amplifier it simulates: never waits for a reader

    _output_specs = {
        "signals": {"streamtype": "analogsignal", "dtype": "float32"},
        "events": {"streamtype": "event", "optional": True},  # may stay unconfigured
    }

    #: types and ranges of the configure() arguments (checked by configure() and `lslacq check`)
    configure_args = {
        "nb_channel": Arg(int, ge=1, doc="EEG channels"),
        "sample_rate": Arg(float, gt=0, doc="Hz"),
        "chunksize": Arg(int, ge=1, doc="samples per chunk"),
        "event_interval": Arg(float, ge=0, doc="seconds between stimulus events, 0 for none"),
        "alpha_freq": Arg(float, gt=0, doc="Hz, below Nyquist"),
        "alpha_amplitude": Arg(float, ge=0, doc="microvolts"),
        "background_amplitude": Arg(float, ge=0, doc="microvolts"),
        "erp_amplitude": Arg(float, ge=0, doc="microvolts"),
        "seed": Arg(int, doc="random seed"),
        "erp_classes": Arg(dict, doc="{class name: P300 amplitude in microvolts}; markers named after the classes"),
        "class_probabilities": Arg(dict, doc="{class name: weight} of erp_classes or mi_classes"),
        "mi_classes": Arg(
            dict, doc="{class name: site of the ERD (C3, C4, Cz) or None}; markers named after the classes"
        ),
        "mu_amplitude": Arg(float, ge=0, doc="microvolts (mi_classes)"),
        "erd": Arg(float, ge=0, le=1, doc="fraction of the mu/beta amplitude lost during imagery"),
        "mi_duration": Arg(float, gt=0, none=True, doc="seconds of imagery after each cue"),
        "speed": Arg(float, gt=0, doc="times faster than real time"),
    }

    def __init__(self, name: str = "", parent=None, **kwargs):
        super().__init__(name=name, parent=parent, **kwargs)
        self.n_sent = 0
        self.n_events = 0
        self.n_skipped = 0
        self._loop: PacedLoop | None = None

    def _configure(
        self,
        nb_channel: int = 32,
        sample_rate: float = 500.0,
        chunksize: int | None = None,
        event_interval: float = 1.0,
        alpha_freq: float = 10.0,
        alpha_amplitude: float = 20.0,
        background_amplitude: float = 15.0,
        erp_amplitude: float = 8.0,
        seed: int | None = None,
        erp_classes: dict | None = None,
        class_probabilities: dict | None = None,
        mi_classes: dict | None = None,
        mu_amplitude: float = 10.0,
        erd: float = 0.6,
        mi_duration: float | None = None,
        speed: float = 1.0,
    ) -> None:
        from ..core.stream.events import EVENT_DTYPE

        self.simulator = EEGSimulator(
            nb_channel,
            sample_rate,
            alpha_freq,
            alpha_amplitude,
            background_amplitude,
            event_interval,
            erp_amplitude,
            seed,
            erp_classes,
            class_probabilities,
            mi_classes,
            mu_amplitude,
            erd,
            mi_duration,
        )
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not speed > 0:
            raise ValueError(f"{self.name}: speed={speed!r} must be a number > 0 (1: real time)")
        self.speed = float(speed)
        self.nb_channel = self.simulator.nb_channel
        self.sample_rate = self.simulator.sample_rate
        if chunksize is None:
            chunksize = max(1, int(round(self.sample_rate * 0.02)))
        if int(chunksize) < 1:
            raise ValueError(f"{self.name}: chunksize must be >= 1 sample, got {chunksize!r}")
        self.chunksize = int(chunksize)
        sig = self.outputs["signals"].spec
        sig["shape"] = (-1, self.nb_channel)
        sig["sample_rate"] = self.sample_rate
        sig["channel_names"] = list(self.simulator.channel_names)
        sig["channel_units"] = ["microvolts"] * self.nb_channel
        sig["channel_types"] = ["EEG"] * self.nb_channel
        sig["units"] = "microvolts"
        sig["manufacturer"] = "lslacq"
        sig["model"] = "SimulatedEEG"
        ev = self.outputs["events"].spec
        ev["dtype"] = EVENT_DTYPE.descr
        ev["shape"] = (-1,)
        ev["sample_rate"] = self.sample_rate  # of the signal the event indexes refer to
        if erp_classes is not None:
            ev["labels"] = list(self.simulator.erp_classes)
        elif mi_classes is not None:
            ev["labels"] = list(self.simulator.mi_classes)

    def _initialize(self) -> None:
        self.n_sent = 0
        self.n_events = 0

    def _start(self) -> None:
        self._events_out = self.outputs["events"]
        self._loop = PacedLoop(
            self._send_chunk,
            self.chunksize / (self.sample_rate * self.speed),
            name=f"{self.name}-simulated-eeg",
            max_catch_up=1.0,
            on_skip=self._skip,
        )
        self._loop.failed.connect(lambda exc: self._report_error(exc, context="generating the signal"))
        self._loop.start()

    def _stop(self) -> None:
        if self._loop is not None:
            self._loop.stop(10)
            self._loop = None

    def _skip(self, n_chunks: int) -> None:
        """After a stall: the skipped time is not generated, the sample count jumps over it."""
        skipped = n_chunks * self.chunksize
        self.n_skipped += skipped
        self.simulator.index += skipped
        self.n_sent += skipped

    def _send_chunk(self) -> None:
        data, evs = self.simulator.generate(self.chunksize)
        self.n_sent += len(data)
        self.outputs["signals"].send(data, index=self.n_sent)
        if len(evs) and self._events_out.configured:
            self.outputs["events"].send(evs, index=self.n_events + len(evs))
            self.n_events += len(evs)
