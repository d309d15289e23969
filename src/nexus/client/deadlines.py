"""When a waiting client asks, and when it stops waiting: a pure decision per run.

Two bounds make an indefinite spinner impossible. After ``idle_s`` without an event for a run the
client asks the gateway for the run (``run.get``), which also catches a lost ``run.final``; it asks
again every ``idle_s`` while the silence lasts. After ``deadline_s`` from sending it stops waiting and
says so; the run stays in the gateway and its answer lands in the session's history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from nexus.client.state import RunView


class Action(StrEnum):
    WAIT = "wait"
    CHECK = "check"
    GIVE_UP = "give_up"


@dataclass(frozen=True)
class Deadlines:
    idle_s: float = 30.0
    deadline_s: float = 300.0

    def __post_init__(self) -> None:
        if self.idle_s <= 0 or self.deadline_s <= 0:
            raise ValueError("idle and run deadlines must be positive numbers of seconds")

    def decide(self, run: RunView, now: float) -> tuple[Action, float]:
        """What to do about ``run`` at ``now``, and in how many seconds to decide again."""
        if run.finished:
            return Action.WAIT, math.inf
        give_up_at = run.started + self.deadline_s
        if now >= give_up_at:
            return Action.GIVE_UP, 0.0
        quiet_since = max(run.last_event, run.checked_at or run.last_event)
        check_at = quiet_since + self.idle_s
        if now >= check_at:
            return Action.CHECK, 0.0
        return Action.WAIT, min(check_at, give_up_at) - now

    def why_given_up(self, run: RunView) -> str:
        where = f"run {run.run_id}" if run.run_id else "the message"
        tail = (
            f"{where} stays in the gateway; its answer will appear in this session's history"
            if run.run_id
            else "it was never acknowledged by the gateway and will not be sent again"
        )
        return f"no answer within the {self.deadline_s:g}s run deadline; {tail}"
