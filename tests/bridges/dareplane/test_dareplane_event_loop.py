"""EventLoop: dareplane's interface, ctx adaptation, drift-free grid, missed ticks, stopping."""

from __future__ import annotations

import threading
import time

import pytest
from helpers import wait_until

from lslacq_dareplane import EventLoop


def run_in_thread(loop: EventLoop) -> threading.Thread:
    th = threading.Thread(target=loop.run, name="test-event-loop")
    th.start()
    return th


def test_dareplane_readme_example():
    out = []

    def no_arg_callback():
        out.append("no args")

    evloop = EventLoop(dt_s=0.01)
    evloop.add_callback_once(lambda ctx: no_arg_callback())
    evloop.add_delayed_callback_once(cb=lambda ctx: evloop.stop_event.set(), dt=0.05)
    evloop.run()
    assert out == ["no args"]


def test_ctx_passed_by_name_positionally_or_not_at_all():
    seen = []
    ctx = {"a": 11}
    loop = EventLoop(dt_s=0.005, ctx=ctx)
    loop.add_callback_once(lambda ctx: seen.append(("named", ctx["a"])))
    loop.add_callback_once(lambda context: seen.append(("positional", context["a"])))
    loop.add_callback_once(lambda: seen.append(("none", None)))
    loop.add_callback_once(lambda **kw: seen.append(("kwargs", kw["ctx"]["a"])))
    loop.add_callback_once(lambda: loop.stop())
    loop.run()
    assert seen == [("named", 11), ("positional", 11), ("none", None), ("kwargs", 11)]


def test_bad_callbacks_and_arguments_are_rejected():
    loop = EventLoop(dt_s=0.01)
    with pytest.raises(TypeError, match="must be callable"):
        loop.add_callback(42)
    with pytest.raises(TypeError, match="requires arguments"):
        loop.add_callback(lambda a, b: None)
    with pytest.raises(ValueError, match="positive"):
        EventLoop(dt_s=0)
    with pytest.raises(ValueError, match="spin_s"):
        EventLoop(dt_s=0.1, spin_s=-1)
    with pytest.raises(ValueError, match="delay"):
        loop.add_delayed_callback_once(lambda: None, dt=-1)


def test_once_periodic_and_delayed_callbacks():
    counts = {"periodic": 0, "once": 0}
    fired = {}
    loop = EventLoop(dt_s=0.005)
    loop.add_callbacks([lambda ctx: counts.__setitem__("periodic", counts["periodic"] + 1)])
    loop.add_callbacks_once([lambda: counts.__setitem__("once", counts["once"] + 1)])
    t_added = time.perf_counter()
    loop.add_delayed_callback_once(lambda: fired.setdefault("t", time.perf_counter()), dt=0.05)
    loop.add_delayed_callback_once(lambda: loop.stop(), dt=0.1)
    loop.run()
    assert counts["once"] == 1
    assert counts["periodic"] >= 2
    assert fired["t"] - t_added >= 0.05  # never early
    assert loop.n_ticks == counts["periodic"]


def test_ticks_follow_the_grid_and_never_run_early():
    ticks = []
    dt = 0.004
    loop = EventLoop(dt_s=dt)

    def tick():
        ticks.append(time.perf_counter())
        end = time.perf_counter() + 0.2 * dt  # a callback using 20 % of the period
        while time.perf_counter() < end:
            pass
        if len(ticks) == 30:
            loop.stop()

    loop.add_callback(tick)
    loop.run()
    # tick i is scheduled at t0 + i*dt (skipped slots only push it later)
    for i, t in enumerate(ticks):
        assert t >= loop.t0 + i * dt


def test_overrunning_callback_skips_whole_slots_and_counts_them():
    dt = 0.01
    loop = EventLoop(dt_s=dt)
    state = {"n": 0}

    def tick():
        state["n"] += 1
        if state["n"] == 2:
            time.sleep(3.5 * dt)  # overrun by more than two whole slots
        if state["n"] == 5:
            loop.stop()

    loop.add_callback(tick)
    loop.run()
    assert loop.missed_ticks >= 2


def test_stop_from_another_thread_is_prompt():
    loop = EventLoop(dt_s=30.0)  # would sleep 30 s between ticks
    loop.add_callback(lambda: None)
    th = run_in_thread(loop)
    wait_until(lambda: loop.n_ticks >= 1, timeout=10, interval=0.001, what="the first tick")
    t0 = time.monotonic()
    loop.stop()
    th.join(10)
    assert not th.is_alive()
    assert time.monotonic() - t0 < 10


def test_callbacks_added_and_removed_while_running():
    loop = EventLoop(dt_s=0.002)
    hits = []
    done = threading.Event()

    def late():
        hits.append("late")
        if len(hits) >= 3:
            done.set()

    th = run_in_thread(loop)
    try:
        loop.add_callback(late)
        assert done.wait(10)
        assert loop.remove_callback(late)
        assert not loop.remove_callback(late)
    finally:
        loop.stop()
        th.join(10)


def test_exception_ends_run_unless_on_error_given():
    loop = EventLoop(dt_s=0.001)
    loop.add_callback(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        loop.run()

    errors = []
    loop = EventLoop(dt_s=0.001, on_error=lambda exc, cb: errors.append(type(exc).__name__))
    loop.add_callback(lambda: 1 / 0)
    loop.add_callback(lambda: loop.stop() if len(errors) >= 3 else None)
    loop.run()
    assert errors[:3] == ["ZeroDivisionError"] * 3


def test_process_callbacks_can_be_driven_manually():
    loop = EventLoop(dt_s=1.0, ctx=[])
    loop.add_callback(lambda ctx: ctx.append("p"))
    loop.add_callback_once(lambda ctx: ctx.append("o"))
    loop.now = time.perf_counter()
    loop.process_callbacks()
    loop.process_callbacks()
    assert loop.ctx == ["o", "p", "p"]
