"""Training the way it runs.

epochs_from_recording (RawRecorder and XDF) equals the online Epocher and mne.Epochs; the Decoder's predictions equal
model.predict on the offline epochs; fit_after; errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from bci_helpers import EVENT_ID, FS, p300_session, reader, recv_n, send_session, sources
from helpers import wait_until

from lslacq.bci import Decoder, Epocher, epochs_from_recording
from lslacq.bci.features import Vectorizer, WindowMeans

sklearn = pytest.importorskip("sklearn")
mne = pytest.importorskip("mne")
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

TMIN, TMAX, BASELINE = -0.1, 0.6, (None, 0)


def _epocher(sig, ev, name="epocher", **kw):
    ep = Epocher(name=name)
    ep.configure(event_id=EVENT_ID, tmin=TMIN, tmax=TMAX, baseline=BASELINE, max_epochs=1000, **kw)
    ep.inputs["signals"].connect(sig)
    ep.inputs["events"].connect(ev)
    ep.outputs["epochs"].configure(protocol="inproc")
    ep.outputs["labels"].configure(protocol="inproc")
    ep.initialize()
    return ep


@pytest.fixture(scope="module")
def session():
    return p300_session(60.0, seed=11)


@pytest.fixture(scope="module")
def recorded(session, tmp_path_factory):
    """The session recorded by a RawRecorder and an XdfRecorder, and cut online by an Epocher, at once."""
    from lslacq.rec import RawRecorder, XdfRecorder

    data, events, names = session
    root = tmp_path_factory.mktemp("rec")
    sig, ev = sources(data.shape[1], names)
    raw = RawRecorder(name="raw")
    raw.configure(streams={"eeg": sig, "markers": ev}, dirname=root / "session")
    xdf = XdfRecorder(name="xdf")
    xdf.configure(streams={"eeg": sig, "markers": ev}, filename=root / "session.xdf")
    ep = _epocher(sig, ev)
    nodes = (raw, xdf, ep)
    try:
        raw.initialize()
        xdf.initialize()
        for node in nodes:
            node.start()
        send_session(sig, ev, data, events, ep)
        n_complete = int(np.sum(events["index"] + round(TMAX * FS) < len(data)))
        wait_until(lambda: ep.n_epochs == n_complete, timeout=30, what="online epochs")
        online = ep.get_data(), ep.events
    finally:
        for node in nodes:
            node.close()
        sig.close()
        ev.close()
    return root / "session", root / "session.xdf", online


def test_epochs_from_recording_equal_online_epochs_and_mne(session, recorded):
    data, events, names = session
    rec_dir, _, (online, online_events) = recorded
    X, y, labels = epochs_from_recording(rec_dir, "eeg", "markers", EVENT_ID, TMIN, TMAX, BASELINE, return_events=True)
    assert X.shape == online.shape and X.shape[1:] == (16, 176)
    np.testing.assert_array_equal(X, online)  # the same engine: identical arrays
    assert labels["index"].tolist() == online_events["index"].tolist()
    assert y.tolist() == [d.decode() for d in online_events["description"]]
    assert set(y) == {"target", "nontarget"}
    info = mne.create_info(list(names), FS, "eeg")
    raw = mne.io.RawArray(data.T.astype(np.float64), info, verbose="error")
    codes = {"nontarget": 1, "target": 2}
    mev = np.array([[int(e["index"]), 0, codes[e["description"].decode()]] for e in events])
    ref = mne.Epochs(raw, mev, codes, TMIN, TMAX, baseline=BASELINE, preload=True, verbose="error")
    np.testing.assert_allclose(X, ref.get_data(), rtol=1e-6, atol=1e-5)  # float32 epochs of float32 data
    assert (ref.events[:, 2] - 1).tolist() == labels["code"].tolist()


def test_epochs_from_xdf_equal_the_recording(recorded):
    pytest.importorskip("pyxdf")
    rec_dir, xdf_path, _ = recorded
    X, y = epochs_from_recording(rec_dir, event_id=EVENT_ID, tmin=TMIN, tmax=TMAX, baseline=BASELINE)
    Xx, yx = epochs_from_recording(
        xdf_path, "eeg", "markers", event_id=EVENT_ID, tmin=TMIN, tmax=TMAX, baseline=BASELINE
    )
    assert yx.tolist() == y.tolist()
    np.testing.assert_allclose(Xx, X, atol=1e-5)


def test_epochs_from_recording_errors(recorded, tmp_path):
    rec_dir, _, _ = recorded
    with pytest.raises(ValueError, match="no signal stream 'nope'"):
        epochs_from_recording(rec_dir, "nope", event_id=EVENT_ID)
    with pytest.raises(FileNotFoundError, match="neither a recording"):
        epochs_from_recording(tmp_path / "missing", event_id=EVENT_ID)
    with pytest.raises(ValueError, match="event_id"):
        epochs_from_recording(rec_dir)


def _decoder(ep, name="decoder", **kw):
    dec = Decoder(name=name)
    dec.configure(**kw)
    dec.inputs["epochs"].connect(ep.outputs["epochs"])
    dec.inputs["labels"].connect(ep.outputs["labels"])
    dec.outputs["predictions"].configure(protocol="inproc")
    dec.outputs["scores"].configure(protocol="inproc")
    dec.initialize()
    return dec


def _run_online(session, n_expected, **decoder_kw):
    data, events, names = session
    sig, ev = sources(data.shape[1], names)
    ep = _epocher(sig, ev)
    dec = _decoder(ep, **decoder_kw)
    preds_in, scores_in = reader(dec.outputs["predictions"]), reader(dec.outputs["scores"])
    try:
        dec.start()
        ep.start()
        send_session(sig, ev, data, events, ep)
        preds = recv_n(preds_in, n_expected)
        scores = recv_n(scores_in, n_expected)
        assert dec.error is None and ep.error is None
        return preds, scores, dec
    finally:
        for s in (preds_in, scores_in):
            s.close()
        dec.close()
        ep.close()
        sig.close()
        ev.close()


def test_decoder_predictions_equal_model_predict_on_offline_epochs(session, recorded, tmp_path):
    import joblib

    rec_dir, _, _ = recorded
    X, y, labels = epochs_from_recording(
        rec_dir, event_id=EVENT_ID, tmin=TMIN, tmax=TMAX, baseline=BASELINE, return_events=True
    )
    model = make_pipeline(WindowMeans(10), LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")).fit(X, y)
    path = tmp_path / "p300.joblib"
    joblib.dump(model, path)
    preds, scores, dec = _run_online(session, len(X), model=path)  # the joblib file
    assert dec.method == "predict_proba"
    assert preds["index"].tolist() == labels["index"].tolist()
    assert [d.decode() for d in preds["description"]] == model.predict(X).tolist()
    assert preds["code"].tolist() == [list(model.classes_).index(c) for c in model.predict(X)]
    assert set(preds["type"].tolist()) == {b"prediction"}
    assert scores.dtype == np.float32 and scores.shape == (len(X), 2)
    np.testing.assert_allclose(scores, model.predict_proba(X), atol=1e-5)
    # the simulated P300 is decodable (training accuracy, sanity check of the data)
    assert np.mean(model.predict(X) == y) > 0.8


@pytest.mark.parametrize("method", ["decision_function", "predict"])
def test_decoder_methods(session, recorded, method):
    rec_dir, _, _ = recorded
    X, y = epochs_from_recording(rec_dir, event_id=EVENT_ID, tmin=TMIN, tmax=TMAX, baseline=BASELINE)
    # Vectorizer: 2816 features; a logistic regression fits them in ms (a shrinkage LDA's 2816 x 2816 covariance
    # and solve took 30-70 s on the 2-core CI machine)
    model = make_pipeline(Vectorizer(), LogisticRegression(max_iter=1000)).fit(X, y)
    preds, scores, _ = _run_online(session, len(X), model=model, method=method)
    assert [d.decode() for d in preds["description"]] == model.predict(X).tolist()
    if method == "decision_function":
        d = model.decision_function(X)
        np.testing.assert_allclose(scores, np.column_stack([-d, d]), rtol=1e-4, atol=1e-4)
    else:
        assert scores.tolist() == [[float(c == k) for k in model.classes_] for c in model.predict(X)]


def test_fit_after_fits_on_the_first_n_labelled_epochs(session, recorded):
    rec_dir, _, _ = recorded
    X, y, labels = epochs_from_recording(
        rec_dir, event_id=EVENT_ID, tmin=TMIN, tmax=TMAX, baseline=BASELINE, return_events=True
    )
    n_fit = 60
    unfitted = make_pipeline(WindowMeans(10), LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"))
    preds, scores, dec = _run_online(session, len(X) - n_fit, model=unfitted, fit_after=n_fit)
    reference = make_pipeline(WindowMeans(10), LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"))
    reference.fit(X[:n_fit], y[:n_fit])
    assert dec.fitted and dec.n_predicted == len(X) - n_fit
    assert preds["index"].tolist() == labels["index"][n_fit:].tolist()  # no prediction for the calibration
    assert [d.decode() for d in preds["description"]] == reference.predict(X[n_fit:]).tolist()
    np.testing.assert_allclose(scores, reference.predict_proba(X[n_fit:]), atol=1e-5)


class _Broken:
    classes_ = np.array(["nontarget", "target"])

    def predict(self, X):
        raise ArithmeticError("the model broke")

    predict_proba = predict


def test_model_errors_reach_the_node_failure_contract(session):
    data, events, names = session
    sig, ev = sources(data.shape[1], names)
    ep = _epocher(sig, ev)
    dec = _decoder(ep, model=_Broken())
    failures = []
    dec.failed.connect(failures.append)
    try:
        dec.start()
        ep.start()
        send_session(sig, ev, data[:2000], events[:3], ep)
        # error is set before failed is emitted (Node._report_error logs in between): wait for both
        wait_until(lambda: dec.error is not None and failures, timeout=20, what="decoder failure")
        assert "the model broke" in str(dec.error) and "predict_proba" in str(dec.error)
        assert failures and failures[0] is dec.error
    finally:
        dec.close()
        ep.close()
        sig.close()
        ev.close()


def test_wrong_epoch_shape_names_the_expected_one(session):
    data, events, names = session
    X = np.random.default_rng(0).standard_normal((20, 8, 50))
    model = make_pipeline(Vectorizer(), LinearDiscriminantAnalysis()).fit(X, np.repeat(["a", "b"], 10))
    sig, ev = sources(data.shape[1], names)
    ep = _epocher(sig, ev)  # (16, 176) epochs
    dec = Decoder(name="dec")
    dec.configure(model=model)
    try:
        with pytest.raises(ValueError, match=r"fitted on epochs of shape \(8, 50\)"):
            dec.inputs["epochs"].connect(ep.outputs["epochs"])
    finally:
        dec.close()
        ep.close()
        sig.close()
        ev.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(), "needs model="),
        (dict(model=LinearDiscriminantAnalysis()), "not fitted"),
        (dict(model="/nonexistent/model.joblib"), "does not exist"),
        (dict(model=LinearDiscriminantAnalysis(), fit_after=10, method="nope"), "not one of"),
        (dict(model=object()), "no predict"),
    ],
)
def test_bad_decoder_configure(kwargs, match):
    dec = Decoder(name="dec")
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        dec.configure(**kwargs)
