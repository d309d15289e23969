"""What the scheduler does when it wakes (pure): which slots fire now, and the slot to wait for next.

Catch-up after downtime, per job:

* ``skip``: missed slots are dropped; only a slot that is due now (at most ``grace_s`` late) fires.
* ``once`` (default): every due slot folds into one fire, keyed by the latest due slot.
* ``all``: each due slot fires on its own (at most ``MAX_CATCH_UP``; the rest are counted as missed).

Failure backoff: each failed fire in a row doubles the pause before the next one (30 s up to an
hour); slots inside the pause are dropped, not caught up, so a broken job does not burn tokens in a
burst when it starts working again. ``ALERT_AFTER`` failures in a row raise an owner alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from nexus.schedule.spec import Schedule, count_slots, next_slot, slots_missed_estimate

GRACE_S = 60
"""How late a slot may be and still count as due now rather than missed."""
MAX_CATCH_UP = 100
MAX_LISTED = 10_080
"""A week of minutes: missed cron slots beyond it are not counted one by one."""
BACKOFF_INITIAL_S = 30
BACKOFF_MAX_S = 3600
ALERT_AFTER = 3


class CatchUp(StrEnum):
    SKIP = "skip"
    ONCE = "once"
    ALL = "all"


@dataclass(frozen=True)
class Plan:
    fire: tuple[int, ...]
    """Slots to fire now, in order (each gets its own fire row)."""
    missed: int
    """Due slots that will not fire (skipped, folded into the one fire, or beyond the cap)."""
    next_due: int | None
    """The slot to wake for after these fires (None: the schedule is over)."""


def plan(
    schedule: Schedule,
    *,
    due: int,
    now: float,
    anchor: int,
    policy: CatchUp,
    grace_s: int = GRACE_S,
) -> Plan:
    """``due`` is the earliest slot not fired yet; nothing fires while ``now`` is before it."""
    if now < due:
        return Plan((), 0, due)
    until = int(now)
    if schedule.period_s:
        slots = count_slots(schedule, after=due - 1, until=until, anchor=anchor, limit=MAX_CATCH_UP)
        total = slots_missed_estimate(schedule, after=due - 1, until=until, anchor=anchor)
        latest = anchor + ((until - anchor) // schedule.period_s) * schedule.period_s if slots else 0
    else:  # cron and at: minute resolution at the finest, so listing up to a week of slots is cheap
        every_slot = count_slots(schedule, after=due - 1, until=until, anchor=anchor, limit=MAX_LISTED)
        slots, total = every_slot[:MAX_CATCH_UP], len(every_slot)
        latest = every_slot[-1] if every_slot else 0
    if not slots:  # ``due`` is off the schedule's grid (an edited anchor, a clock step): wait for
        # the grid's next slot instead of staying due, which would keep the scheduler polling
        return Plan((), 0, next_slot(schedule, after=due - 1, anchor=anchor))
    following = next_slot(schedule, after=max(latest, until), anchor=anchor)
    if policy is CatchUp.ALL:
        return Plan(tuple(slots), total - len(slots), following)
    if policy is CatchUp.ONCE:
        return Plan((latest,), total - 1, following)
    on_time = now - latest <= grace_s
    return Plan((latest,) if on_time else (), total - (1 if on_time else 0), following)


def backoff_s(failures: int) -> int:
    """Pause after ``failures`` failed fires in a row (0 -> none)."""
    if failures <= 0:
        return 0
    return min(BACKOFF_INITIAL_S * 2 ** (failures - 1), BACKOFF_MAX_S)


def after_outcome(
    schedule: Schedule, *, failures: int, ok: bool, finished_at: float, next_due: int | None, anchor: int
) -> tuple[int, int | None, bool]:
    """A fire ended: ``(failures, next_due, alert)``; a failure pushes the next slot past the pause."""
    if ok:
        return 0, next_due, False
    failures += 1
    pause_end = int(finished_at) + backoff_s(failures)
    if next_due is not None and next_due < pause_end:
        next_due = next_slot(schedule, after=pause_end - 1, anchor=anchor)
    return failures, next_due, failures >= ALERT_AFTER
