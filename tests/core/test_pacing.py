"""PacedLoop (lslacq.core.pacing): drift-free schedule, stall skipping, failure reporting."""

import logging
import threading
import time

import pytest

from lslacq.core.pacing import PacedLoop


def test_steps_on_an_absolute_schedule_and_stops():
    ticks = []
    done = threading.Event()

    def step():
        ticks.append(time.perf_counter())
        if len(ticks) == 20:
            done.set()

    loop = PacedLoop(step, 0.005, name="sched")
    started = time.perf_counter()
    loop.start()
    assert done.wait(10)
    assert loop.stop(10) and not loop.is_alive()
    # absolute deadlines: step k never runs before t0 + k * period
    assert all(t >= started + (k + 1) * 0.005 - 1e-3 for k, t in enumerate(ticks[:20]))
    assert loop.n_skipped_steps == 0 and loop.error is None


@pytest.mark.slow
def test_a_long_stall_is_skipped_not_burst(caplog):
    """After a stall longer than max_catch_up, missed steps beyond one are skipped and reported."""
    calls = []
    skips = []
    done = threading.Event()

    def step():
        calls.append(1)
        if len(calls) == 2:
            time.sleep(0.5)  # the stall: 50 periods
        if len(calls) == 5:
            done.set()

    loop = PacedLoop(step, 0.01, name="stall", max_catch_up=0.1, on_skip=skips.append)
    with caplog.at_level(logging.WARNING, logger="lslacq.core.pacing"):
        loop.start()
        assert done.wait(10)
        loop.stop(10)
    assert len(skips) >= 1 and sum(skips) == loop.n_skipped_steps >= 40
    assert "skipping" in caplog.text and "'stall'" not in caplog.text and "stall:" in caplog.text


def test_without_max_catch_up_every_step_runs():
    calls = []
    done = threading.Event()

    def step():
        calls.append(1)
        if len(calls) == 2:
            time.sleep(0.2)  # 20 periods behind: all caught up
        if len(calls) == 25:
            done.set()

    loop = PacedLoop(step, 0.01, name="catchup")
    loop.start()
    assert done.wait(10)
    loop.stop(10)
    assert loop.n_skipped_steps == 0


@pytest.mark.parametrize("listen", [False, True])
def test_failure_is_stored_emitted_and_logged_only_without_listener(caplog, listen):
    seen = []

    def step():
        raise ValueError("bad sample")

    loop = PacedLoop(step, 0.001, name="failing")
    if listen:
        loop.failed.connect(seen.append)
    with caplog.at_level(logging.ERROR, logger="lslacq.core.pacing"):
        loop.start()
        loop.join(10)
    assert isinstance(loop.error, ValueError)
    assert seen == ([loop.error] if listen else [])
    assert ("failing failed" in caplog.text) is not listen


def test_bad_period_is_explained():
    with pytest.raises(ValueError, match="period must be >= 0"):
        PacedLoop(lambda: None, -0.1, name="p")
    with pytest.raises(ValueError, match="max_catch_up"):
        PacedLoop(lambda: None, 1, name="p", max_catch_up=-1)


def test_old_import_path_still_works():
    from lslacq.devices.numpy_device import PacedLoop as Old

    assert Old is PacedLoop


def test_period_zero_runs_steps_back_to_back_until_stopped():
    """period=0 (a replay at speed='max'): no schedule, the steps run as fast as they return."""
    done = threading.Event()
    count = [0]

    def step():
        count[0] += 1
        if count[0] == 1000:
            done.set()

    loop = PacedLoop(step, 0, name="free")
    loop.start()
    try:
        assert done.wait(10), "1000 unpaced steps did not run within 10 s"
    finally:
        assert loop.stop(10)
    assert loop.error is None and count[0] >= 1000
