"""The restart policy, as tables of cases (pure: no clock, no processes)."""

from __future__ import annotations

import pytest

from nexus.config import SupervisorConfig
from nexus.supervisor.policy import (
    Action,
    Exit,
    backoff_delay,
    decide,
    in_crash_loop,
    liveness_failure,
    restarts_in_last_hour,
)

CFG = SupervisorConfig()  # 0.5 s doubling to 60 s, healthy after 10 s, reset after 600 s, 5 exits in 300 s


def never_jitter() -> float:
    return 0.0


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (7, 32.0), (8, 60.0), (30, 60.0)],
)
def test_backoff_doubles_from_half_a_second_to_the_cap(failures: int, expected: float) -> None:
    assert backoff_delay(failures, CFG, uniform=never_jitter) == expected


@pytest.mark.parametrize("u", [0.0, 0.3, 0.999])
def test_jitter_spreads_downwards_only_so_the_cap_is_a_true_maximum(u: float) -> None:
    delay = backoff_delay(30, CFG, uniform=lambda: u)
    assert 60.0 * 0.8 <= delay <= 60.0


@pytest.mark.parametrize(
    ("times", "now", "expected"),
    [
        ([], 1000.0, False),
        ([1000.0] * 4, 1000.0, False),
        ([1000.0] * 5, 1000.0, True),
        ([600.0, 990.0, 995.0, 998.0, 999.0], 1000.0, False),  # the first is outside the 300 s window
        ([700.0, 990.0, 995.0, 998.0, 999.0], 1000.0, True),
    ],
)
def test_crash_loop_is_n_unclean_exits_within_the_window(
    times: list[float], now: float, expected: bool
) -> None:
    assert in_crash_loop(times, now, CFG) is expected


CASES = [
    # name, exit, ready_for, failures, unclean times, -> action, delay, failures after, crash loop
    ("killed after long health: at once", Exit(None, 9), 30.0, 0, [100.0], Action.RESTART, 0.0, 0, False),
    ("crash before ready: backoff", Exit(1), None, 0, [100.0], Action.RESTART, 0.5, 1, False),
    ("third quick crash: 2 s", Exit(1), 2.0, 2, [98.0, 99.0, 100.0], Action.RESTART, 2.0, 3, False),
    ("healthy 10 min resets the count", Exit(1), 700.0, 6, [100.0], Action.RESTART, 0.0, 0, False),
    ("healthy 10 s keeps the count", Exit(1), 11.0, 6, [100.0], Action.RESTART, 0.0, 6, False),
    ("exit 78: block", Exit(78), None, 0, [100.0], Action.BLOCK, 0.0, 0, False),
    ("exit 78 even after long health", Exit(78), 900.0, 3, [100.0], Action.BLOCK, 0.0, 3, False),
    ("crash loop: the cap", Exit(1), None, 4, [96.0, 97.0, 98.0, 99.0, 100.0], Action.RESTART, 60.0, 5, True),
    (
        "healthy in a loop: at once, named",
        Exit(None, 9),
        20.0,
        0,
        [96.0, 97.0, 98.0, 99.0, 100.0],
        Action.RESTART,
        0.0,
        0,
        True,
    ),
    ("requested restart: at once", Exit(None, 15, requested=True), 1.0, 3, [], Action.RESTART, 0.0, 3, False),
    (
        "clean exit is no crash loop",
        Exit(0),
        None,
        0,
        [96.0, 97.0, 98.0, 99.0, 100.0],
        Action.RESTART,
        0.5,
        1,
        False,
    ),
]


@pytest.mark.parametrize(
    ("name", "exit_", "ready_for", "failures", "times", "action", "delay", "failures_after", "loop"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_decide(
    name: str,
    exit_: Exit,
    ready_for: float | None,
    failures: int,
    times: list[float],
    action: Action,
    delay: float,
    failures_after: int,
    loop: bool,
) -> None:
    d = decide(
        exit_,
        ready_for_s=ready_for,
        failures=failures,
        unclean_exit_times=times,
        now=100.0,
        cfg=CFG,
        uniform=never_jitter,
    )
    assert (d.action, d.delay_s, d.failures, d.crash_loop) == (action, delay, failures_after, loop)


def test_the_incidents_388_restarts_an_hour_become_at_most_60() -> None:
    """Simulate an hour of a gateway that dies at once, with the real jitter: the cap bounds the rate."""
    now, failures, unclean, restarts = 0.0, 0, [], 0
    while now < 3600.0:
        now += 0.05  # it runs 50 ms, then dies
        unclean.append(now)
        d = decide(Exit(1), ready_for_s=None, failures=failures, unclean_exit_times=unclean, now=now, cfg=CFG)
        failures = d.failures
        now += d.delay_s
        restarts += 1
    assert restarts <= 60 + CFG.crash_loop_exits


def test_restarts_in_the_last_hour() -> None:
    assert restarts_in_last_hour([0.0, 100.0, 3000.0, 3700.0], 3700.0) == 3


@pytest.mark.parametrize(
    ("now", "ready_at", "last_beat", "probe_failures", "expected"),
    [
        (10.0, 1.0, 9.0, 0, None),  # heartbeats flowing
        (10.0, 1.0, 4.9, 0, "watchdog"),  # 5.1 s without one (timeout 5 s)
        (10.0, 1.0, 5.0, 0, None),  # exactly at the bound: not yet
        (10.0, 1.0, None, 0, None),  # a child that never heartbeats is not watched by the watchdog
        (10.0, 1.0, 9.0, 3, "liveness"),  # 3 failed /healthz probes in a row
        (10.0, 1.0, 9.0, 2, None),
        (61.0, None, None, 0, "start-timeout"),  # no READY=1 within start_timeout_s (60 s)
        (59.0, None, None, 0, None),
    ],
)
def test_liveness_failure(
    now: float, ready_at: float | None, last_beat: float | None, probe_failures: int, expected: str | None
) -> None:
    got = liveness_failure(
        now=now, started=0.0, ready_at=ready_at, last_beat=last_beat, probe_failures=probe_failures, cfg=CFG
    )
    assert got == expected
