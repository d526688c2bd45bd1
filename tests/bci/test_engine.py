"""EpochingEngine against mne.Epochs on the same data; markers early, late, by timestamps; bad values."""

from __future__ import annotations

import numpy as np
import pytest

from lslacq.bci.engine import EpochingEngine, TimeAligner, check_event_id
from lslacq.core.stream.events import make_events

mne = pytest.importorskip("mne")

FS = 500.0
N_CH = 4


def _signal(n=20000, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, N_CH)) * 10 + rng.uniform(-50, 50, N_CH)).astype(dtype)


def _events(seed=1, n=30, lo=50, hi=19900):
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(np.arange(lo, hi), n, replace=False))
    desc = np.where(rng.random(n) < 0.5, "target", "nontarget")
    return make_events(idx, type="marker", description=list(desc))


def _mne_epochs(x, events, event_id, tmin, tmax, baseline, reject=None, picks=None):
    info = mne.create_info([f"c{i}" for i in range(x.shape[1])], FS, "eeg")
    raw = mne.io.RawArray(x.T.astype(np.float64), info, verbose="error")
    labels = list(event_id)
    codes = {lab: i + 1 for i, lab in enumerate(labels)}
    desc = [d.decode() for d in events["description"]]
    keep = [d in event_id for d in desc]
    mev = np.array([[int(e["index"]), 0, codes[d]] for e, d, k in zip(events, desc, keep, strict=True) if k], dtype=int)
    ep = mne.Epochs(
        raw,
        mev,
        codes,
        tmin,
        tmax,
        baseline=baseline,
        reject=None if reject is None else {"eeg": reject},
        picks=picks,
        preload=True,
        verbose="error",
    )
    return ep


def _run(engine, x, events, chunk=37, events_first=True):
    outs = []
    if events_first:
        outs.append(engine.add_events(events))
    for end in range(chunk, x.shape[0] + chunk, chunk):
        end = min(end, x.shape[0])
        outs.append(engine.feed(end, x[max(0, end - chunk) : end]))
    if not events_first:
        outs.append(engine.add_events(events))
    data = np.concatenate([o[0] for o in outs])
    labels = np.concatenate([o[1] for o in outs])
    return data, labels


@pytest.mark.parametrize(
    ("tmin", "tmax", "baseline"),
    [
        (-0.2, 0.5, (None, 0)),
        (0.0, 0.3, None),
        (-0.1, 0.8, (-0.05, 0.05)),
        (0.1, 0.6, (None, None)),
        (-0.0031, 0.1999, (None, 0)),
    ],
)
def test_epochs_equal_mne_epochs(tmin, tmax, baseline):
    x, ev = _signal(), _events()
    eng = EpochingEngine(
        N_CH, FS, ["target", "nontarget"], tmin, tmax, baseline=baseline, dtype=np.float64, buffer_size=20000
    )
    data, labels = _run(eng, x, ev)
    ref = _mne_epochs(x, ev, eng.event_id, tmin, tmax, baseline)
    order = np.argsort(labels["index"], kind="stable")
    assert data.shape == ref.get_data().shape
    assert data.shape[2] == round(tmax * FS) - round(tmin * FS) + 1  # tmax inclusive
    np.testing.assert_allclose(data[order], ref.get_data(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(eng.times, ref.times, atol=1e-12)
    assert list(labels["index"][order]) == list(ref.events[:, 0])
    assert [lab.decode() for lab in labels["description"][order]] == [eng.labels[c - 1] for c in ref.events[:, 2]]
    assert list(labels["code"][order]) == list(ref.events[:, 2] - 1)


def test_float32_signal_float32_epochs_match_mne():
    x = _signal(dtype=np.float32)
    ev = _events()
    eng = EpochingEngine(N_CH, FS, ["target", "nontarget"], -0.2, 0.5, baseline=(None, 0))
    data, _ = _run(eng, x, ev)
    assert data.dtype == np.float32
    ref = _mne_epochs(x, ev, eng.event_id, -0.2, 0.5, (None, 0)).get_data()
    np.testing.assert_allclose(data, ref, rtol=1e-6, atol=1e-5)  # float32 output: its own rounding only


def test_reject_peak_to_peak_as_mne():
    x = _signal()
    ev = _events(n=40)
    x[ev["index"][::3] + 40, 2] += 120.0  # artefacts inside every third epoch
    eng = EpochingEngine(
        N_CH,
        FS,
        ["target", "nontarget"],
        -0.1,
        0.4,
        baseline=(None, 0),
        reject=100.0,
        dtype=np.float64,
        buffer_size=20000,
    )
    data, labels = _run(eng, x, ev)
    ref = _mne_epochs(x, ev, eng.event_id, -0.1, 0.4, (None, 0), reject=100.0)
    assert eng.n_rejected == 40 - len(ref) > 0
    assert list(labels["index"]) == list(ref.events[:, 0])
    np.testing.assert_allclose(data, ref.get_data(), atol=1e-6)


def test_picks_by_name_and_index():
    x, ev = _signal(), _events()
    names = ["Fz", "Cz", "Pz", "Oz"]
    eng = EpochingEngine(
        N_CH,
        FS,
        ["target", "nontarget"],
        -0.1,
        0.3,
        picks=["Pz", 0],
        channel_names=names,
        dtype=np.float64,
        buffer_size=20000,
    )
    data, _ = _run(eng, x, ev)
    ref = _mne_epochs(x, ev, eng.event_id, -0.1, 0.3, None, picks=[2, 0]).get_data()
    assert eng.pick_names == ["Pz", "Fz"]
    np.testing.assert_allclose(data, ref, atol=1e-6)


@pytest.mark.parametrize("chunk", [1, 7, 500, 4000])
def test_markers_late_and_early_give_the_same_epochs(chunk):
    x, ev = _signal(), _events()
    early = EpochingEngine(N_CH, FS, ["target", "nontarget"], -0.2, 0.5, baseline=(None, 0), dtype=np.float64)
    d1, l1 = _run(early, x, ev, chunk=chunk, events_first=True)
    # late: each marker arrives 1 s after its epoch's last sample (within the 5 s history)
    late = EpochingEngine(
        N_CH,
        FS,
        ["target", "nontarget"],
        -0.2,
        0.5,
        baseline=(None, 0),
        dtype=np.float64,
        buffer_size=max(2500, 2 * chunk + 1000),
    )
    outs, k = [], 0
    for end in range(chunk, len(x) + chunk, chunk):
        end = min(end, len(x))
        outs.append(late.feed(end, x[max(0, end - chunk) : end]))
        while k < len(ev) and ev["index"][k] + 250 + 500 <= end:
            outs.append(late.add_events(ev[k : k + 1]))
            k += 1
    outs.append(late.add_events(ev[k:]))
    d2 = np.concatenate([o[0] for o in outs])
    ref = _mne_epochs(x, ev, early.event_id, -0.2, 0.5, (None, 0)).get_data()
    np.testing.assert_allclose(d1, ref, atol=1e-6)
    np.testing.assert_allclose(d2, ref, atol=1e-6)
    assert late.n_dropped == early.n_dropped


def test_events_outside_signal_or_history_are_dropped_and_counted():
    x = _signal(n=6000)
    eng = EpochingEngine(N_CH, FS, {"a": "a"}, -0.2, 0.5, buffer_size=1000)
    eng.feed(3000, x[:3000])
    d, lab = eng.add_events(make_events([50, 2500], description="a"))  # 50: before the stream start
    assert len(lab) == 1 and lab["index"][0] == 2500
    d, lab = eng.add_events(make_events([1000], description="a"))  # left the 1000-sample history
    assert len(lab) == 0
    assert eng.n_dropped == 2


def test_codes_and_descriptions_match_unlisted_ignored():
    eng = EpochingEngine(1, 100.0, {"left": "S  1", "right": 2}, 0.0, 0.1, dtype=np.float64, buffer_size=1000)
    eng.feed(1000, np.arange(1000.0)[:, None])
    ev = make_events([100, 200, 300, 400], description=["S  1", "S  2", "x", ""], code=[1, 2, 3, 2])
    data, lab = eng.add_events(ev)
    assert [bytes(d).decode() for d in lab["description"]] == ["left", "right", "right"]
    assert list(lab["code"]) == [0, 1, 1]
    assert list(lab["index"]) == [100, 200, 400]
    assert eng.n_ignored == 1
    np.testing.assert_array_equal(data[0, 0], np.arange(100.0, 111.0))  # 0.0..0.1 s at 100 Hz: 11 samples


def test_timed_markers_placed_to_the_nearest_sample_early_and_late():
    fs = 100.0
    t0 = 1234.5678
    n = 3000
    ts = t0 + np.arange(n) / fs
    x = np.arange(n, dtype=np.float64)[:, None]
    # marker times between samples: 0.4 and 0.6 of a period after sample k
    marks = np.array([500, 800, 1200, 2000])
    mtimes = ts[marks] + np.array([0.004, 0.006, -0.004, 0.0])
    expected = np.array([500, 801, 1200, 2000])
    ev = make_events(np.arange(4), description="m")
    for mode in ("early", "late", "interleaved"):
        eng = EpochingEngine(1, fs, ["m"], 0.0, 0.05, dtype=np.float64, buffer_size=n)
        labels = []
        if mode == "early":
            labels.append(eng.add_timed_events(ev, mtimes)[1])
        for end in range(10, n + 10, 10):
            labels.append(eng.feed(end, x[end - 10 : end])[1])
            labels.append(eng.feed_timestamps(end, ts[end - 10 : end])[1])
            if mode == "interleaved":
                for j in np.nonzero((mtimes <= ts[end - 1]) & (mtimes > ts[end - 11] if end > 10 else True))[0]:
                    labels.append(eng.add_marker_chunk("times", j + 1, mtimes[j : j + 1])[1])
                    labels.append(eng.add_marker_chunk("events", j + 1, ev[j : j + 1])[1])
        if mode == "late":
            labels.append(eng.add_timed_events(ev, mtimes)[1])
        lab = np.concatenate(labels)
        assert list(lab["index"]) == list(expected), mode


def test_time_aligner_waits_for_the_next_sample():
    al = TimeAligner(100.0, 1000)
    al.feed(10, 5.0 + np.arange(10) / 100)
    al.add(make_events([0], description="m"), [5.0 + 9.6 / 100])  # after the newest sample: not placed yet
    assert len(al.ready()) == 0
    al.feed(11, [5.0 + 10 / 100])
    assert list(al.ready()["index"]) == [10]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(event_id={}), "non-empty dict"),
        (dict(event_id={"a": 1.5}), "must be a str"),
        (dict(event_id={"a": "x", "b": "x"}), "both match"),
        (dict(tmin=0.5, tmax=0.1), "less than or equal"),
        (dict(tmin=0.0, baseline=(None, 0)), "one-sample baseline"),
        (dict(baseline=(0.3, 0.1)), "must be less than baseline max"),
        (dict(baseline=(-1.0, 0)), "outside the epoch"),
        (dict(reject=-3), "peak-to-peak"),
        (dict(picks=[7]), "does not exist"),
        (dict(picks=["Cz"]), "no channel named"),
    ],
)
def test_bad_values_are_named(kwargs, match):
    args = dict(event_id={"a": "a"}, tmin=-0.2, tmax=0.5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        EpochingEngine(N_CH, FS, **args)


def test_check_event_id_list_form():
    assert check_event_id(["t", "n"]) == {"t": "t", "n": "n"}


@pytest.mark.parametrize(("picks", "reject", "buffer_size"), [(None, None, 20000), ([3, 1], 60.0, 400)])
def test_feed_first_then_finish_gives_the_epochs_of_feed(picks, reject, buffer_size):
    """The Epocher's low-latency path (epochs completed by a chunk first, the rest after) cuts the same arrays.

    Including with a history short enough to wrap, picks and reject.
    """
    x, ev = _signal(n=29 * 275, dtype=np.float32), _events(n=40, hi=7900)  # whole chunks
    kwargs = dict(baseline=(None, 0), reject=reject, picks=picks, buffer_size=buffer_size)
    plain = EpochingEngine(N_CH, FS, ["target", "nontarget"], -0.1, 0.3, **kwargs)
    ref, ref_labels = _run(plain, x, ev, chunk=29)
    eng = EpochingEngine(N_CH, FS, ["target", "nontarget"], -0.1, 0.3, **kwargs)
    outs = [eng.add_events(ev)]
    for end in range(29, x.shape[0] + 29, 29):
        end = min(end, x.shape[0])
        outs.append(eng.feed_first(end, x[max(0, end - 29) : end]))
        outs.append(eng.finish())
    data, labels = np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])
    assert len(ref) > 10 and (reject is None or plain.n_rejected > 0)
    np.testing.assert_array_equal(labels["index"], ref_labels["index"])
    np.testing.assert_array_equal(data, ref)
    assert eng.n_rejected == plain.n_rejected and eng.n_dropped == plain.n_dropped
    eng.add_events(make_events([7990], description="target"))
    eng.feed_first(7975 + 29, x[:29])  # starts its epoch (nothing was being filled: all done at once)
    eng.feed_first(7975 + 58, x[:29])  # fills it: the rest waits for finish()
    with pytest.raises(RuntimeError, match="finish"):
        eng.feed_first(7975 + 87, x[:29])
