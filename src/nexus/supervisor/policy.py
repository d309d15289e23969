"""Pure restart decisions: given how a generation ended and the recent history, what happens next.

No I/O and no clock reads here: the loop passes times in, tests pass tables of cases.

    exit 78 (EX_CONFIG)             -> BLOCK: restarting will not help; wait for a file change or `restart`
    crash loop (>= N unclean exits   -> RESTART after the cap (60 s): at most 60 restarts an hour, named
      in the window) and this one       with its cause in `nexus status`
      never got healthy
    ready for >= healthy_after_s     -> RESTART at once (named as a crash loop if it is one)
    otherwise                       -> RESTART after exponential backoff with jitter
    ran healthy >= reset_after_s     -> the backoff counter starts over
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
    """True when the supervisor itself stopped it (restart command, watchdog, liveness)."""

    @property
    def clean(self) -> bool:
        return self.code == 0 and self.signal is None

    @property
    def config_error(self) -> bool:
        return self.code == EX_CONFIG


@dataclass(frozen=True)
class Decision:
    action: Action
    delay_s: float
    failures: int
    """Consecutive quick failures after this decision (drives the next backoff)."""
    crash_loop: bool


def backoff_delay(
    failures: int, cfg: SupervisorConfig, *, uniform: Callable[[], float] = random.random
) -> float:
    """Delay before the restart that follows ``failures`` consecutive quick failures (>= 1)."""
    base = min(cfg.backoff_max_s, cfg.backoff_initial_s * 2 ** max(0, failures - 1))
    return base * (1.0 - JITTER * uniform())


def in_crash_loop(unclean_exit_times: Sequence[float], now: float, cfg: SupervisorConfig) -> bool:
    """True when at least ``crash_loop_exits`` unclean exits happened within the window ending now."""
    recent = [t for t in unclean_exit_times if now - t <= cfg.crash_loop_window_s]
    return len(recent) >= cfg.crash_loop_exits


def decide(
    exit: Exit,
    *,
    ready_for_s: float | None,
    failures: int,
    unclean_exit_times: Sequence[float],
    now: float,
    cfg: SupervisorConfig,
    uniform: Callable[[], float] = random.random,
) -> Decision:
    """What to do after ``exit``.

    ``ready_for_s`` is how long the generation had been ready (None: never ready);
    ``unclean_exit_times`` includes this exit when it was unclean.
    """
    if exit.requested:
        return Decision(Action.RESTART, 0.0, failures, crash_loop=False)
    if exit.config_error:
        return Decision(Action.BLOCK, 0.0, failures, crash_loop=False)
    healthy = ready_for_s is not None and ready_for_s >= cfg.healthy_after_s
    if ready_for_s is not None and ready_for_s >= cfg.backoff_reset_after_s:
        failures = 0
    looping = not exit.clean and in_crash_loop(unclean_exit_times, now, cfg)
    if healthy:
        return Decision(Action.RESTART, 0.0, failures, crash_loop=looping)
    if looping:
        return Decision(Action.RESTART, cfg.backoff_max_s, failures + 1, crash_loop=True)
    failures += 1
    return Decision(Action.RESTART, backoff_delay(failures, cfg, uniform=uniform), failures, crash_loop=False)


def liveness_failure(
    *,
    now: float,
    started: float,
    ready_at: float | None,
    last_beat: float | None,
    probe_failures: int,
    cfg: SupervisorConfig,
) -> str | None:
    """Which liveness rule a running generation breaks at ``now``, if any (monotonic seconds).

    Readiness is deliberately absent: a gateway that is alive but not ready (provider down, broken
    credential) is never restarted, since a restart does not fix that.
    """
    if last_beat is not None and now - last_beat > cfg.watchdog_timeout_s:
        return "watchdog"
    if probe_failures >= cfg.probe_failures:
        return "liveness"
    if ready_at is None and now - started > cfg.start_timeout_s:
        return "start-timeout"
    return None


def restarts_in_last_hour(restart_times: Sequence[float], now: float) -> int:
    return sum(1 for t in restart_times if now - t <= 3600.0)
