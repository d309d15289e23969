"""Pure restart decisions: given how a generation ended and the recent history, what happens next.

No I/O and no clock reads here: the loop passes times in, tests pass tables of cases.

The crash-loop breaker exists for generations that cannot start (the incident: 388 restarts an hour,
never ready). A generation that served and was then killed is no such thing: it is restarted at once,
every time. So first the ending is classified (:func:`classify`), then the ending decides:

    requested          the supervisor stopped it (restart command)         -> RESTART at once
    config             exit 78 (EX_CONFIG)                                  -> BLOCK until a file changes
    ready-then-died    ready for its meaningful uptime, then killed or     -> RESTART at once, every time;
                       crashed (a signal), or ready >= healthy_after_s        never counts toward a loop
                       then ended any way
    never-ready        died or was killed before READY                      -> escalate
    exits-soon         ready, but exited by itself (a status, 0 included)   -> escalate
                       within healthy_after_s, or died before its uptime
                       was meaningful

    meaningful uptime  ready for >= ready_uptime_s (0.5 s: about what one gateway start costs). For a
                       generation the supervisor killed as hung, only the time up to its last sign of
                       life (heartbeat, good probe) counts. (Not relative to the start's own duration:
                       on a loaded machine that balloons, and a kill from outside would then wait.)
    escalate           exponential backoff with jitter (0.5 s doubling to 60 s); >= crash_loop_exits
                       unclean escalating exits within crash_loop_window_s is a crash loop: each further
                       start waits backoff_max_s (60 s), so at most ~60 starts an hour, named with its
                       cause in `nexus status`
    ran healthy >= backoff_reset_after_s -> the backoff counter starts over
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nexus.config import SupervisorConfig
from nexus.errors import EX_CONFIG

JITTER = 0.2
"""A delay is drawn from [base * (1 - JITTER), base]: spread, but never above the cap."""


class Action(enum.Enum):
    RESTART = "restart"
    BLOCK = "block"


@dataclass(frozen=True)
class Exit:
    """How one generation ended, as the loop observed it."""

    code: int | None
    """Exit status, or None when a signal ended it."""
    signal: int | None = None
    requested: bool = False
    """True when the owner asked for the stop (``nexus restart``, SIGHUP, ``down``); a kill for a failed
    liveness rule is not requested: its ending is classified like any other."""

    @property
    def clean(self) -> bool:
        return self.code == 0 and self.signal is None

    @property
    def config_error(self) -> bool:
        return self.code == EX_CONFIG


class Ending(enum.Enum):
    """How a generation's life ended, as the restart policy sees it (named in ``nexus status``)."""

    REQUESTED = "requested"
    CONFIG = "config"
    READY_THEN_DIED = "ready-then-died"
    NEVER_READY = "never-ready"
    EXITS_SOON = "exits-soon"

    @property
    def escalates(self) -> bool:
        return self in (Ending.NEVER_READY, Ending.EXITS_SOON)


@dataclass(frozen=True)
class Decision:
    action: Action
    delay_s: float
    failures: int
    """Consecutive quick failures after this decision (drives the next backoff)."""
    crash_loop: bool
    ending: Ending = Ending.REQUESTED
    quick_failure: bool = False
    """This exit counts toward the crash-loop window (an unclean escalating one)."""


def backoff_delay(
    failures: int, cfg: SupervisorConfig, *, uniform: Callable[[], float] = random.random
) -> float:
    """Delay before the restart that follows ``failures`` consecutive quick failures (>= 1)."""
    base = min(cfg.backoff_max_s, cfg.backoff_initial_s * 2 ** max(0, failures - 1))
    return base * (1.0 - JITTER * uniform())


def in_crash_loop(quick_failure_times: Sequence[float], now: float, cfg: SupervisorConfig) -> bool:
    """True when at least ``crash_loop_exits`` quick failures happened within the window ending now."""
    recent = [t for t in quick_failure_times if now - t <= cfg.crash_loop_window_s]
    return len(recent) >= cfg.crash_loop_exits


def classify(exit: Exit, *, ready_for_s: float | None, cfg: SupervisorConfig) -> Ending:
    """``ready_for_s``: how long it was ready and alive (None: never ready)."""
    if exit.requested:
        return Ending.REQUESTED
    if exit.config_error:
        return Ending.CONFIG
    if ready_for_s is None:
        return Ending.NEVER_READY
    if ready_for_s >= cfg.healthy_after_s:
        return Ending.READY_THEN_DIED
    if exit.signal is not None and ready_for_s >= cfg.ready_uptime_s:
        return Ending.READY_THEN_DIED
    return Ending.EXITS_SOON


def decide(
    exit: Exit,
    *,
    ready_for_s: float | None,
    failures: int,
    quick_failure_times: Sequence[float],
    now: float,
    cfg: SupervisorConfig,
    uniform: Callable[[], float] = random.random,
) -> Decision:
    """What to do after ``exit``; ``quick_failure_times`` are the earlier quick failures (not this one)."""
    ending = classify(exit, ready_for_s=ready_for_s, cfg=cfg)
    if ending is Ending.REQUESTED:
        return Decision(Action.RESTART, 0.0, failures, crash_loop=False, ending=ending)
    if ending is Ending.CONFIG:
        return Decision(Action.BLOCK, 0.0, failures, crash_loop=False, ending=ending)
    if ready_for_s is not None and ready_for_s >= cfg.backoff_reset_after_s:
        failures = 0
    if ending is Ending.READY_THEN_DIED:
        return Decision(Action.RESTART, 0.0, failures, crash_loop=False, ending=ending)
    quick = not exit.clean
    times = [*quick_failure_times, now] if quick else quick_failure_times
    if quick and in_crash_loop(times, now, cfg):
        return Decision(Action.RESTART, cfg.backoff_max_s, failures + 1, True, ending, quick)
    failures += 1
    delay = backoff_delay(failures, cfg, uniform=uniform)
    return Decision(Action.RESTART, delay, failures, False, ending, quick)


def policy_summary(cfg: SupervisorConfig) -> dict[str, str]:
    """Both restart behaviours in words, for ``nexus status`` (human and ``--json``)."""
    return {
        "at_once": (
            f"ready >= {cfg.ready_uptime_s:g}s then killed or crashed, "
            f"or ready >= {cfg.healthy_after_s:g}s then ended: restarted at once, every time"
        ),
        "escalating": (
            f"never ready, or exited by itself within {cfg.healthy_after_s:g}s of ready: backoff "
            f"{cfg.backoff_initial_s:g}s doubling to {cfg.backoff_max_s:g}s; {cfg.crash_loop_exits} in "
            f"{cfg.crash_loop_window_s:g}s is a crash loop, one start per {cfg.backoff_max_s:g}s"
        ),
    }


def liveness_failure(
    *,
    now: float,
    started: float,
    ready_at: float | None,
    last_beat: float | None,
    probe_failures: int,
    cfg: SupervisorConfig,
    stopped_since: float | None = None,
) -> str | None:
    """Which liveness rule a running generation breaks at ``now``, if any (monotonic seconds).

    ``stopped_since``: when its main process was first seen stopped (state T, SIGSTOP): a stopped
    process answers nobody and sends no heartbeat, so it is replaced after two heartbeat intervals
    instead of the whole watchdog timeout. A process stopped by a debugger (state t) is not counted.
    Readiness is deliberately absent: a gateway that is alive but not ready (provider down, broken
    credential) is never restarted, since a restart does not fix that.
    """
    if stopped_since is not None and now - stopped_since >= stopped_after_s(cfg):
        return "stopped"
    if last_beat is not None and now - last_beat > cfg.watchdog_timeout_s:
        return "watchdog"
    if probe_failures >= cfg.probe_failures:
        return "liveness"
    if ready_at is None and now - started > cfg.start_timeout_s:
        return "start-timeout"
    return None


def stopped_after_s(cfg: SupervisorConfig) -> float:
    """How long a generation may stay stopped (SIGSTOP) before it is replaced: two missed heartbeats."""
    return min(cfg.watchdog_timeout_s, 2 * cfg.watchdog_interval_s)


def restart_counts(times: Sequence[float], kinds: Sequence[str | None], now: float) -> dict[str, int]:
    """Restarts in the last hour, split by the behaviour that made them (``kinds``: Ending values,
    parallel to ``times``; a status file from before kinds were kept has none)."""
    padded = [*kinds, *[None] * (len(times) - len(kinds))]
    recent = [kind for t, kind in zip(times, padded, strict=False) if now - t <= 3600.0]
    escalating = (Ending.NEVER_READY.value, Ending.EXITS_SOON.value)
    return {
        "restarts_last_hour": len(recent),
        "restarts_at_once_last_hour": recent.count(Ending.READY_THEN_DIED.value),
        "restarts_escalated_last_hour": sum(1 for kind in recent if kind in escalating),
    }
