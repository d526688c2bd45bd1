"""SimulatedEEG mi_classes.

A mu/beta rhythm over C3/C4/Cz that desynchronises over the site of the imagined limb, markers named after the classes;
the motor-imagery example's models decode it offline.
"""

from __future__ import annotations

import numpy as np
import pytest
from bci_helpers import load_example

from lslacq.bci import EpochingEngine
from lslacq.devices.simulated_eeg import EEGSimulator, SimulatedEEG

signal = pytest.importorskip("scipy.signal")
pytest.importorskip("sklearn")

FS = 250.0


def _example():
    return load_example("mi_bci")


def _session(seconds, seed, **kwargs):
    kwargs.setdefault("mi_classes", {"left": "C4", "right": "C3"})
    sim = EEGSimulator(32, FS, event_interval=2.5, seed=seed, mi_duration=2.0, **kwargs)
    parts = [sim.generate(125) for _ in range(int(seconds * FS) // 125)]
    data = np.concatenate([p[0] for p in parts])
    sos = signal.butter(4, [8.0, 30.0], "bandpass", fs=FS, output="sos")
    return signal.sosfilt(sos, data, axis=0).astype(np.float32), np.concatenate([p[1] for p in parts]), sim


def test_erd_over_the_hemisphere_opposite_the_imagined_hand():
    data, events, sim = _session(100, seed=2)
    assert set(events["description"].tolist()) == {b"left", b"right"}
    assert events["code"].tolist() == [1 if d == b"left" else 2 for d in events["description"]]
    c3, c4 = sim.channel_names.index("C3"), sim.channel_names.index("C4")

    def power(label, lo=0.5, hi=2.0):
        idx = [
            i
            for i, d in zip(events["index"], events["description"], strict=True)
            if d == label and i + hi * FS < len(data)
        ]
        return np.mean([(data[i + int(lo * FS) : i + int(hi * FS), [c3, c4]] ** 2).mean(axis=0) for i in idx], axis=0)

    left, right = power(b"left"), power(b"right")
    assert left[1] < 0.7 * right[1]  # left hand: mu/beta ERD over C4
    assert right[0] < 0.7 * left[0]  # right hand: over C3
    rest = power(b"left", -0.6, -0.1)  # before the cue: no ERD on either side
    assert rest[1] > 1.3 * left[1]


def test_mi_classes_leave_the_background_alone_and_bad_values():
    plain = EEGSimulator(32, FS, event_interval=2.5, seed=4, mu_amplitude=0.0)
    mi = EEGSimulator(
        32, FS, event_interval=2.5, seed=4, erp_amplitude=8.0, mi_classes={"a": "C3", "rest": None}, mu_amplitude=0.0
    )
    np.testing.assert_allclose(plain.generate(1000)[0], mi.generate(1000)[0], atol=1e-5)  # own generators
    for kwargs, match in [
        (dict(mi_classes={}), "non-empty dict"),
        (dict(mi_classes={"left": "C5"}), "not a sensorimotor source"),
        (dict(mi_classes={"left": "C4"}, erp_classes={"t": 1.0}), "not both"),
        (dict(mi_classes={"left": "C4"}, erd=1.5), "erd"),
        (dict(mi_classes={"left": "C4"}, mi_duration=3.0), "mi_duration"),
        (dict(mi_classes={"left": "C4"}, class_probabilities={"right": 1}), "weight to each class"),
    ]:
        with pytest.raises(ValueError, match=match):
            EEGSimulator(32, FS, event_interval=2.5, **kwargs)
    with pytest.raises(ValueError, match="nb_channel >= 15"):
        EEGSimulator(8, FS, mi_classes={"left": "C4"})


def test_node_announces_the_mi_labels_and_paces_faster_with_speed():
    dev = SimulatedEEG(name="dev")
    dev.configure(
        nb_channel=32, sample_rate=FS, event_interval=2.0, mi_classes={"left": "C4", "right": "C3"}, speed=4.0
    )
    assert dev.outputs["events"].spec["labels"] == ["left", "right"]
    assert dev.speed == 4.0
    with pytest.raises(ValueError, match="speed"):
        dev.configure(speed=0.0)
    dev.close()


@pytest.mark.parametrize("kind", ["csp", "riemann"])
def test_the_example_models_decode_the_simulated_imagery(kind):
    if kind == "riemann":
        pytest.importorskip("pyriemann")
    else:
        pytest.importorskip("mne.decoding")
    example = _example()

    def epochs(seconds, seed):
        data, events, sim = _session(seconds, seed)
        eng = EpochingEngine(
            32,
            FS,
            example.EVENT_ID,
            example.TMIN,
            example.TMAX,
            picks=example.PICKS,
            channel_names=sim.channel_names,
            buffer_size=len(data),
        )
        eng.add_events(events)
        X, labels = eng.feed(len(data), data)
        return X, np.array([d.decode() for d in labels["description"]])

    name, model = example.make_model(kind)
    X, y = epochs(75, seed=10)  # 29 trials
    Xt, yt = epochs(50, seed=11)
    model.fit(X, y)
    assert (kind == "riemann") == name.startswith("pyriemann")
    assert np.mean(model.predict(Xt) == yt) >= 0.8  # chance 0.5
