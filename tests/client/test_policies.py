"""Backoff and deadlines: pure decisions, tested by tables."""

from __future__ import annotations

import math

import pytest

from nexus.client import Action, Backoff, Deadlines, Phase, RunView


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (1, 0.0, 0.2),
        (2, 0.0, 0.4),
        (3, 0.0, 0.8),
        (5, 0.0, 3.2),
        (6, 0.0, 5.0),  # capped
        (50, 0.0, 5.0),
        (1, 0.5, 0.21),  # 10% jitter at most
        (6, 0.99, 5.495),
    ],
)
def test_backoff_grows_is_capped_and_jitters(attempt: int, rand: float, expected: float) -> None:
    assert Backoff().delay(attempt, rand=lambda: rand) == pytest.approx(expected)


def test_backoff_counts_attempts_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        Backoff().delay(0)


def view(**changes: object) -> RunView:
    base = RunView(key="k", message="hi", started=100.0, last_event=100.0, run_id="run_1")
    return base.__class__(**{**base.__dict__, **changes})


D = Deadlines(idle_s=30, deadline_s=300)


@pytest.mark.parametrize(
    ("run", "now", "action", "next_in"),
    [
        (view(), 100.0, Action.WAIT, 30.0),
        (view(), 129.9, Action.WAIT, pytest.approx(0.1)),
        (view(), 130.0, Action.CHECK, 0.0),  # 30 s of silence: ask the gateway
        (view(last_event=125.0), 140.0, Action.WAIT, 15.0),  # events reset the silence
        (view(checked_at=130.0), 140.0, Action.WAIT, 20.0),  # just asked: ask again after idle_s
        (view(checked_at=130.0), 160.0, Action.CHECK, 0.0),
        (view(last_event=390.0), 395.0, Action.WAIT, 5.0),  # deadline nearer than the next check
        (view(last_event=399.0), 400.0, Action.GIVE_UP, 0.0),  # events do not extend the deadline
        (view(phase=Phase.DONE), 10_000.0, Action.WAIT, math.inf),
        (view(phase=Phase.ABANDONED), 10_000.0, Action.WAIT, math.inf),
        (view(run_id=None, phase=Phase.SENDING), 400.0, Action.GIVE_UP, 0.0),
    ],
)
def test_deadline_decisions(run: RunView, now: float, action: Action, next_in: float) -> None:
    assert D.decide(run, now) == (action, next_in)


def test_deadlines_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Deadlines(idle_s=0)


def test_give_up_message_says_the_run_stays_retrievable() -> None:
    assert "run_1 stays in the gateway" in D.why_given_up(view())
    assert "will not be sent again" in D.why_given_up(view(run_id=None))
