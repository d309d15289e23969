"""The restart policy, as tables of cases (pure: no clock, no processes)."""

from __future__ import annotations

import pytest

from nexus.config import SupervisorConfig
from nexus.supervisor.policy import (
    Action,
    Ending,
    Exit,
    backoff_delay,
    decide,
    in_crash_loop,
    liveness_failure,
    policy_summary,
    restart_counts,
)

CFG = SupervisorConfig()  # 0.5 s doubling to 60 s, healthy after 10 s, reset after 600 s, 5 exits in 300 s,
# ready-then-died after 0.5 s of ready


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


RTD, NEVER, SOON = Ending.READY_THEN_DIED, Ending.NEVER_READY, Ending.EXITS_SOON
LOOP4 = [96.0, 97.0, 98.0, 99.0]  # four earlier quick failures: one more is a crash loop (5 in 300 s)

GO, BLOCK = Action.RESTART, Action.BLOCK

CASES = [
    # name, exit, ready_for, failures, earlier quick failures -> action, delay, failures after, loop, ending
    # ready, then killed or crashed by a signal: at once, every time, never a loop
    ("killed after long health", Exit(None, 9), 30.0, 0, [], GO, 0.0, 0, False, RTD),
    ("killed 1.2 s after ready", Exit(None, 9), 1.2, 0, [], GO, 0.0, 0, False, RTD),
    ("killed ready amid quick failures", Exit(None, 9), 1.0, 2, LOOP4, GO, 0.0, 2, False, RTD),
    ("segfault after ready", Exit(None, 11), 2.0, 0, [], GO, 0.0, 0, False, RTD),
    ("ready exactly ready_uptime_s", Exit(None, 9), 0.5, 0, [], GO, 0.0, 0, False, RTD),
    ("exit 1 after healthy_after_s", Exit(1), 11.0, 6, [], GO, 0.0, 6, False, RTD),
    ("healthy 10 min resets the count", Exit(1), 700.0, 6, [], GO, 0.0, 0, False, RTD),
    # never ready: escalation, then the crash-loop cap
    ("crash before ready", Exit(1), None, 0, [], GO, 0.5, 1, False, NEVER),
    ("killed before ready", Exit(None, 9), None, 1, [], GO, 1.0, 2, False, NEVER),
    ("fifth quick failure: the cap", Exit(1), None, 4, LOOP4, GO, 60.0, 5, True, NEVER),
    ("old failures are outside the window", Exit(1), None, 4, [-250.0] * 4, GO, 8.0, 5, False, NEVER),
    # exits soon: by itself within healthy_after_s, or dead before its uptime meant anything
    ("exit 1 two seconds after ready", Exit(1), 2.0, 2, [], GO, 2.0, 3, False, SOON),
    ("exit 1 soon, in a loop", Exit(1), 0.3, 4, LOOP4, GO, 60.0, 5, True, SOON),
    ("clean exit soon: backoff, no loop", Exit(0), 0.1, 0, LOOP4, GO, 0.5, 1, False, SOON),
    ("killed 0.2 s after ready", Exit(None, 9), 0.2, 0, [], GO, 0.5, 1, False, SOON),
    # exit 78 stays blocking; a requested restart is at once
    ("exit 78: block", Exit(78), None, 0, [], BLOCK, 0.0, 0, False, Ending.CONFIG),
    ("exit 78 after long health", Exit(78), 900.0, 3, [], BLOCK, 0.0, 3, False, Ending.CONFIG),
    ("requested restart", Exit(None, 15, requested=True), 1.0, 3, [], GO, 0.0, 3, False, Ending.REQUESTED),
]


@pytest.mark.parametrize(
    ("name", "exit_", "ready_for", "failures", "times", "action", "delay", "after", "loop", "ending"),
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
    after: int,
    loop: bool,
    ending: Ending,
) -> None:
    d = decide(
        exit_,
        ready_for_s=ready_for,
        failures=failures,
        quick_failure_times=times,
        now=100.0,
        cfg=CFG,
        uniform=never_jitter,
    )
    assert (d.action, d.delay_s, d.failures, d.crash_loop, d.ending) == (action, delay, after, loop, ending)
    assert d.quick_failure == (ending.escalates and not exit_.clean)


def simulate_hour(*, runs_s: float, ready_after_s: float | None, exit_: Exit) -> tuple[int, float]:
    """An hour of generations that each run ``runs_s`` then end with ``exit_``: (restarts, longest wait)."""
    now, failures, quick, restarts, longest = 0.0, 0, [], 0, 0.0
    while now < 3600.0:
        now += runs_s
        ready_for = None if ready_after_s is None else runs_s - ready_after_s
        d = decide(
            exit_,
            ready_for_s=ready_for,
            failures=failures,
            quick_failure_times=quick,
            now=now,
            cfg=CFG,
        )
        failures = d.failures
        if d.quick_failure:
            quick.append(now)
        now += d.delay_s
        longest = max(longest, d.delay_s)
        restarts += 1
    return restarts, longest


def test_the_incidents_388_restarts_an_hour_become_at_most_60() -> None:
    """A gateway that dies at once, on bind, never ready, with the real jitter: the cap bounds the rate."""
    restarts, _ = simulate_hour(runs_s=0.05, ready_after_s=None, exit_=Exit(1))
    assert restarts <= 60 + CFG.crash_loop_exits


def test_a_gateway_killed_every_1_2_s_after_ready_is_never_made_to_wait() -> None:
    """The issue's run: kill -9 again and again; every restart is at once, for the whole hour."""
    restarts, longest = simulate_hour(runs_s=1.2, ready_after_s=0.45, exit_=Exit(None, 9))
    assert longest == 0.0 and restarts >= 3000


def test_a_gateway_that_exits_by_itself_soon_after_ready_is_capped_like_a_crash_loop() -> None:
    restarts, longest = simulate_hour(runs_s=0.6, ready_after_s=0.45, exit_=Exit(1))
    assert longest == CFG.backoff_max_s and restarts <= 60 + CFG.crash_loop_exits


def test_restart_counts_split_by_behaviour() -> None:
    kinds = ["ready-then-died", "never-ready", "exits-soon", "requested"]
    counts = restart_counts([0.0, 100.0, 3000.0, 3700.0], kinds, 3700.0)
    assert counts == {
        "restarts_last_hour": 3,
        "restarts_at_once_last_hour": 0,
        "restarts_escalated_last_hour": 2,
    }
    assert restart_counts([3600.0, 3650.0], [], 3700.0)["restarts_last_hour"] == 2  # an older status file


def test_the_policy_summary_names_both_behaviours_with_the_configured_numbers() -> None:
    summary = policy_summary(CFG)
    assert "at once" in summary["at_once"] and "0.5s" in summary["at_once"]
    assert "crash loop" in summary["escalating"] and "60s" in summary["escalating"]


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


@pytest.mark.parametrize(
    ("now", "stopped_since", "expected"),
    [
        (10.0, None, None),  # running
        (10.0, 8.5, None),  # stopped 1.5 s: fewer than two missed heartbeats (interval 1 s)
        (10.0, 8.0, "stopped"),  # stopped 2 s: replaced long before the 5 s watchdog
        (10.0, 1.0, "stopped"),
    ],
)
def test_a_stopped_generation_is_replaced_after_two_heartbeat_intervals(
    now: float, stopped_since: float | None, expected: str | None
) -> None:
    got = liveness_failure(
        now=now,
        started=0.0,
        ready_at=1.0,
        last_beat=9.5,
        probe_failures=0,
        cfg=CFG,
        stopped_since=stopped_since,
    )
    assert got == expected
