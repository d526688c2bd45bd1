"""tests/helpers.py wait_until: the value, the timeout and its message, the each= hook."""

from __future__ import annotations

import time

import pytest
from helpers import wait_until


def test_wait_until_returns_the_conditions_first_true_value():
    values = iter([0, None, "", 3, 4])
    assert wait_until(lambda: next(values), timeout=5, interval=0) == 3


def test_wait_until_fails_after_its_timeout_naming_what_it_waited_for():
    t0 = time.monotonic()
    with pytest.raises(AssertionError, match=r"timed out after 0\.05 s waiting for the answer"):
        wait_until(lambda: False, timeout=0.05, what="the answer")
    assert 0.05 <= time.monotonic() - t0 < 2


def test_wait_until_calls_a_callable_what_at_the_timeout_only():
    seen = []
    calls = []

    def what():
        calls.append(len(seen))
        return f"3 items (got {len(seen)})"

    with pytest.raises(AssertionError, match=r"waiting for 3 items \(got \d+\)"):
        wait_until(lambda: seen.append(1), timeout=0.05, interval=0.001, what=what)
    assert calls == [len(seen)]  # called once, when it failed


def test_wait_until_calls_each_before_every_check():
    order = []
    wait_until(
        lambda: order.append("check") or len(order) >= 6, timeout=5, interval=0, each=lambda: order.append("each")
    )
    assert order == ["each", "check"] * 3
