"""The reconnect ladder: how long a channel waits before its next attempt. Pure; tested by a table.

Each failure climbs one rung; a connection that stayed up for ``healthy_after_s`` resets the ladder,
so a channel that flaps once a day reconnects fast while one that cannot connect at all backs off to
the top rung instead of hammering the platform (or, for a conflict, fighting another poller).
"""

from __future__ import annotations

from enum import StrEnum

RUNGS_S: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
HEALTHY_AFTER_S = 60.0


class FailureKind(StrEnum):
    TRANSPORT = "transport"
    """Network, 5xx, stall: climb the ladder from the bottom."""
    CONFLICT = "conflict"
    """Another poller: start at 5 s, never faster, so two pollers cannot storm each other."""
    STANDBY = "standby"
    """Another process on this host holds the poller lock: trying the lock costs nothing and sends
    nothing to the platform, so check every 5 s and take over quickly when the holder dies."""
    FATAL = "fatal"
    """Config or credential refused: only the owner can fix it; check again every 5 minutes."""


def failures_after(
    previous: int, *, connected_for_s: float | None, healthy_after_s: float = HEALTHY_AFTER_S
) -> int:
    """The failure count after one more failure; a long healthy connection wipes the history."""
    if connected_for_s is not None and connected_for_s >= healthy_after_s:
        return 1
    return previous + 1


def reconnect_delay(failures: int, kind: FailureKind, *, rungs: tuple[float, ...] = RUNGS_S) -> float:
    """Seconds to wait before attempt ``failures + 1`` (``failures`` >= 1)."""
    if kind is FailureKind.FATAL:
        return 300.0
    if kind is FailureKind.STANDBY:
        return 5.0
    index = max(failures, 1) - 1
    if kind is FailureKind.CONFLICT:
        index += 3  # 5 s at the first conflict
    return rungs[min(index, len(rungs) - 1)]
