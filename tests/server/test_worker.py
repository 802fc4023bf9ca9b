"""server.worker.LoopWorker: the one background loop of the server's periodic parts."""

from __future__ import annotations

import logging
import threading

import pytest

from linli.testing import wait_for
from server.worker import LoopWorker


def test_runs_first_then_every_interval_and_stops_cleanly() -> None:
    calls: list[int] = []
    w = LoopWorker("t-loop", lambda: calls.append(1), 0.01)
    w.start()
    w.start()  # a second start does nothing
    wait_for(lambda: len(calls) >= 3, what="three steps")
    w.stop()
    assert not w.alive and w.stopping
    n = len(calls)
    assert w.runs == n
    w.stop()  # stopping twice is harmless
    w.start()  # and it can start again
    wait_for(lambda: len(calls) > n, what="a step after the restart")
    w.stop()


def test_waits_first_and_wake_runs_at_once() -> None:
    ran = threading.Event()
    w = LoopWorker("t-wait", ran.set, 3600.0, first="wait")
    w.start()
    try:
        assert not ran.wait(0.05)  # nothing before the first wait ends
        w.wake()
        wait_for(ran.is_set, what="the step woken early")
    finally:
        w.stop()
    assert not w.alive  # stop() ends an hour-long wait at once


def test_an_exception_is_logged_and_counted_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def step() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")

    w = LoopWorker("t-err", step, 0.01, error_pause_s=lambda: 0.01)
    with caplog.at_level(logging.ERROR, logger="server.worker"):
        w.start()
        wait_for(lambda: len(calls) >= 3, what="steps after the failure")
        w.stop()
    assert w.errors == 1
    assert any("t-err: step failed" in r.getMessage() and r.exc_info for r in caplog.records)


def test_the_interval_is_read_before_every_wait() -> None:
    interval = {"s": 3600.0}
    calls: list[int] = []
    w = LoopWorker("t-int", lambda: calls.append(1), lambda: interval["s"])
    w.start()
    try:
        wait_for(lambda: len(calls) == 1, what="the first step")
        interval["s"] = 0.01
        w.wake()  # ends the hour-long wait; from now on the short interval applies
        wait_for(lambda: len(calls) >= 4, what="steps at the new interval")
    finally:
        w.stop()


def test_sleep_inside_a_step_ends_when_stopped() -> None:
    started = threading.Event()
    outcome: list[bool] = []
    w: LoopWorker

    def step() -> None:
        started.set()
        outcome.append(w.sleep(3600.0))

    w = LoopWorker("t-sleep", step, 3600.0)
    w.start()
    started.wait(10)
    w.stop()
    assert outcome == [True] and not w.alive
