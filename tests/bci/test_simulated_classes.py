"""SimulatedEEG erp_classes: markers named after the classes, class-dependent P300, the rest unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from lslacq.devices.simulated_eeg import EEGSimulator, SimulatedEEG


def _run(sim, n_chunks, chunk=50):
    parts = [sim.generate(chunk) for _ in range(n_chunks)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def test_markers_named_after_classes_with_their_evoked_response():
    sim = EEGSimulator(
        32,
        250.0,
        event_interval=0.5,
        seed=5,
        erp_classes={"target": 10.0, "nontarget": 0.0},
        class_probabilities={"target": 1, "nontarget": 3},
    )
    data, events = _run(sim, 600)  # 120 s
    desc = events["description"].tolist()
    assert set(desc) == {b"target", b"nontarget"}
    assert events["code"].tolist() == [1 if d == b"target" else 2 for d in desc]
    assert 0.15 < desc.count(b"target") / len(desc) < 0.35  # 1 in 4
    pz = sim.channel_names.index("Pz")

    def erp(label):
        idx = [i for i, d in zip(events["index"], desc, strict=True) if d == label and i + 200 < len(data)]
        ep = np.stack([data[i - 25 : i + 200, pz] for i in idx])
        return ep.mean(axis=0) - ep[:, :25].mean()

    target, nontarget = erp(b"target"), erp(b"nontarget")
    assert target[25 + 75] > 6.0  # P300 ~300 ms after the marker
    assert abs(nontarget[25 + 75]) < 3.0


def test_without_classes_nothing_changes_and_classes_do_not_touch_the_noise():
    a, ev_a = _run(EEGSimulator(4, 250.0, event_interval=0.5, seed=9, erp_amplitude=0.0), 50)
    b, ev_b = _run(EEGSimulator(4, 250.0, event_interval=0.5, seed=9, erp_classes={"x": 0.0, "y": 0.0}), 50)
    np.testing.assert_array_equal(a, b)  # same background: the classes draw from a generator of their own
    assert ev_a["description"][:2].tolist() == [b"S  1", b"S  2"]
    assert set(ev_b["description"].tolist()) <= {b"x", b"y"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(erp_classes={}), "non-empty dict"),
        (dict(erp_classes={"t": "big"}), "amplitude"),
        (dict(erp_classes={"t": 1.0}, class_probabilities={"u": 1}), "weight to each class"),
        (dict(class_probabilities={"t": 1}), "needs erp_classes"),
    ],
)
def test_bad_erp_classes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EEGSimulator(4, 250.0, **kwargs)


def test_node_announces_the_class_labels():
    dev = SimulatedEEG(name="dev")
    dev.configure(nb_channel=4, sample_rate=250.0, erp_classes={"target": 8.0, "nontarget": 0.0})
    assert dev.outputs["events"].spec["labels"] == ["target", "nontarget"]
    dev.close()
