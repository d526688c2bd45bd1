"""WriteDeadlines: what arrived is on disk within the bound, a cycle's lateness and work included."""

from __future__ import annotations

import numpy as np
import pytest

from lslacq.rec.deadlines import WriteDeadlines


class _Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _run(lateness, work, bound: float = 1.0) -> tuple[np.ndarray, np.ndarray, WriteDeadlines]:
    """Simulate write cycles: each wakes ``lateness[k]`` after its deadline, takes what arrived, works ``work[k]``.

    Returns when each cycle took the data (its start) and when that data was on disk (its end).
    """
    clock = _Clock()
    deadlines = WriteDeadlines(bound, clock=clock)
    starts, ends = [], []
    for late, busy in zip(lateness, work, strict=True):
        clock.t = max(clock.t, deadlines.due) + late
        starts.append(clock.t)
        clock.t += busy
        ends.append(clock.t)
        deadlines.done()
    return np.array(starts), np.array(ends), deadlines


def _longest_wait(starts: np.ndarray, ends: np.ndarray) -> float:
    """Return the longest wait for the disk: data that came just after a cycle took what was there, until the next."""
    return float(np.max(ends[1:] - starts[:-1]))


def test_data_reaches_the_disk_within_the_bound_on_a_loaded_machine_at_about_one_wake_up_a_second():
    rng = np.random.default_rng(0)
    n = 600  # 10 minutes
    lateness = rng.uniform(0.0, 0.03, n)  # a loaded machine wakes a thread up to tens of ms late
    work = rng.uniform(0.002, 0.04, n)
    starts, ends, deadlines = _run(lateness, work)
    assert _longest_wait(starts, ends) <= 1.0
    rate = (n - 1) / (starts[-1] - starts[0])
    assert 1.0 < rate <= 1.15, rate  # ~1.1 wake-ups a second: the margin, not a faster polling
    # what the old "sleep(interval) after the work" loop did: the same cycles exceed the bound
    old_ends = np.cumsum(1.0 + lateness + work)
    old_starts = old_ends - work
    assert _longest_wait(old_starts, old_ends) > 1.0


def test_a_slower_phase_widens_the_margin_and_a_quiet_one_narrows_it_back():
    quiet, slow = [0.01] * 20, [0.15] * 20
    lateness = [0.0] * 60
    starts, ends, deadlines = _run(lateness, quiet + slow + quiet)
    # the first slow cycle finds the margin of the quiet phase: from the second one on, the bound holds again
    assert _longest_wait(starts[21:41], ends[21:41]) <= 1.0
    assert _longest_wait(starts[41:], ends[41:]) <= 1.0
    assert deadlines.margin == pytest.approx(deadlines.min_margin)  # 20 quiet cycles later: ~1.1 wake-ups/s again


def test_a_recorder_that_falls_behind_runs_its_next_cycle_at_once_never_in_the_past():
    clock = _Clock()
    deadlines = WriteDeadlines(1.0, clock=clock)
    clock.t = deadlines.due + 3.0  # a stalled disk: the cycle took 3 s
    deadlines.done()
    assert deadlines.due == clock.t and deadlines.delay() == 0.0
    assert deadlines.margin == deadlines.max_margin == 0.5


@pytest.mark.parametrize("bound", [0, -1.0, True, "1"])
def test_a_bound_that_is_not_a_positive_number_of_seconds_is_refused(bound):
    with pytest.raises(ValueError, match=r"bound must be a number of seconds > 0, got"):
        WriteDeadlines(bound)
