"""Catch-up policies and failure backoff, by tables over an injected "now"."""

from __future__ import annotations

import pytest

from nexus.schedule import ALERT_AFTER, CatchUp, after_outcome, backoff_s, parse_schedule, plan
from nexus.schedule.plan import MAX_CATCH_UP

EVERY_10 = parse_schedule(every="10s")
ANCHOR = 1_000


@pytest.mark.parametrize(
    ("policy", "now", "fire", "missed", "next_due"),
    [
        # not due yet
        (CatchUp.ONCE, 1_009.9, (), 0, 1_010),
        # due, on time: every policy fires it
        (CatchUp.SKIP, 1_010.02, (1_010,), 0, 1_020),
        (CatchUp.ONCE, 1_010.02, (1_010,), 0, 1_020),
        (CatchUp.ALL, 1_010.02, (1_010,), 0, 1_020),
        # down for 45 s (slots 1010..1050 due): once folds them into one fire keyed by the latest slot
        (CatchUp.ONCE, 1_055, (1_050,), 4, 1_060),
        (CatchUp.ALL, 1_055, (1_010, 1_020, 1_030, 1_040, 1_050), 0, 1_060),
        # skip keeps the latest slot only while it is within the grace (60 s), drops the rest
        (CatchUp.SKIP, 1_055, (1_050,), 4, 1_060),
    ],
)
def test_catch_up(policy: CatchUp, now: float, fire: tuple[int, ...], missed: int, next_due: int) -> None:
    decided = plan(EVERY_10, due=1_010, now=now, anchor=ANCHOR, policy=policy)
    assert (decided.fire, decided.missed, decided.next_due) == (fire, missed, next_due)


def test_skip_drops_a_daily_slot_hours_late() -> None:
    daily = parse_schedule(cron="0 9 * * *", tz="UTC")
    nine = 1_790_067_600  # 2026-09-22T09:00Z
    assert plan(daily, due=nine, now=nine + 3 * 3600, anchor=0, policy=CatchUp.SKIP).fire == ()
    once = plan(daily, due=nine, now=nine + 3 * 3600, anchor=0, policy=CatchUp.ONCE)
    assert once.fire == (nine,) and once.next_due == nine + 86_400


def test_all_is_capped_and_counts_the_rest_as_missed() -> None:
    decided = plan(EVERY_10, due=1_010, now=1_000 + 10 * 500, anchor=ANCHOR, policy=CatchUp.ALL)
    assert len(decided.fire) == MAX_CATCH_UP
    assert decided.missed == 500 - MAX_CATCH_UP
    assert decided.next_due == 6_010


def test_a_one_shot_job_fires_once_then_is_over() -> None:
    once = parse_schedule(at="2026-12-24T18:00+00:00")
    slot = 1_798_135_200
    decided = plan(once, due=slot, now=slot + 7200, anchor=0, policy=CatchUp.ONCE)
    assert decided.fire == (slot,) and decided.next_due is None


@pytest.mark.parametrize(("failures", "pause"), [(0, 0), (1, 30), (2, 60), (3, 120), (8, 3600), (30, 3600)])
def test_backoff_doubles_up_to_an_hour(failures: int, pause: int) -> None:
    assert backoff_s(failures) == pause


def test_failures_push_the_next_slot_past_the_pause_and_alert_at_the_threshold() -> None:
    failures, next_due, alert = 0, 1_020, False
    for n in range(1, ALERT_AFTER + 1):
        failures, next_due, alert = after_outcome(
            EVERY_10, failures=failures, ok=False, finished_at=1_011, next_due=1_020, anchor=ANCHOR
        )
        assert failures == n
        assert next_due is not None and next_due >= 1_011 + backoff_s(n)
        assert alert is (n >= ALERT_AFTER)
    assert after_outcome(EVERY_10, failures=5, ok=True, finished_at=2_000, next_due=2_010, anchor=ANCHOR) == (
        0,
        2_010,
        False,
    )


@pytest.mark.parametrize("policy", list(CatchUp))
def test_a_due_time_off_the_grid_moves_to_the_grids_next_slot_instead_of_staying_due(policy: CatchUp) -> None:
    # next_due 1_013 is not a slot of "every 10 s from 1_000" (an edited anchor, a clock step): before
    # the fix the plan kept 1_013, so the job stayed due and the scheduler polled every 250 ms
    decided = plan(EVERY_10, due=1_013, now=1_015.5, anchor=ANCHOR, policy=policy)
    assert decided == type(decided)((), 0, 1_020)
    assert plan(EVERY_10, due=1_013, now=1_020.01, anchor=ANCHOR, policy=policy).fire == (1_020,)
