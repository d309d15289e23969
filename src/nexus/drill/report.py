"""What a drill found, judged against budgets, for people (a table) and machines (JSON). Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Budget:
    restored_s: float
    truth_s: float


@dataclass(frozen=True)
class Result:
    name: str
    restored_s: float | None = None
    """Faults Nexus must heal itself: the longest any message sent after the fault waited for its
    answer. Faults the world must end (providers back, the channel hearing again): from that moment
    until the first message sent after it was answered."""
    refused: int = 0
    lost: int = 0
    duplicated: int = 0
    truth_s: float | None = None
    """From the fault until ``nexus status`` / ``/status`` named the cause and, where the fault calls
    for one, the alert was raised."""
    budget: Budget | None = None
    sent: int = 0
    failed: int = 0
    """Messages that ended with an explained failure (every provider down): told, not lost."""
    cause: str = ""
    alert: str | None = None
    available: bool = True
    note: str = ""
    misses: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool | None:
        """None when the scenario could not run here (reported, never counted as passed)."""
        return None if not self.available else not self.misses


def judge(result: Result) -> Result:
    """Pure: the same result with every missed budget spelled out in ``misses``."""
    if not result.available:
        return result
    misses = []
    budget = result.budget
    if result.lost:
        misses.append(f"{result.lost} message(s) lost")
    if result.duplicated:
        misses.append(f"{result.duplicated} message(s) answered twice")
    if result.refused:
        misses.append(f"{result.refused} connection(s) refused")
    if result.restored_s is None:
        misses.append("service was not restored")
    elif budget and result.restored_s > budget.restored_s:
        misses.append(f"restored in {result.restored_s:.2f}s > budget {budget.restored_s:g}s")
    if result.truth_s is None:
        misses.append(
            "the cause was never shown" + (f" (or no {result.alert} alert)" if result.alert else "")
        )
    elif budget and result.truth_s > budget.truth_s:
        misses.append(f"truth after {result.truth_s:.2f}s > budget {budget.truth_s:g}s")
    return Result(**{**result.__dict__, "misses": tuple(misses)})


def to_json(results: Sequence[Result]) -> dict[str, Any]:
    return {
        "scenarios": [
            {
                "name": r.name,
                "restored_s": r.restored_s,
                "refused": r.refused,
                "lost": r.lost,
                "duplicated": r.duplicated,
                "truth_s": r.truth_s,
                "ok": r.ok,
                "budget": None
                if r.budget is None
                else {"restored_s": r.budget.restored_s, "truth_s": r.budget.truth_s},
                "sent": r.sent,
                "failed": r.failed,
                "cause": r.cause,
                "alert": r.alert,
                "misses": list(r.misses),
                "note": r.note,
            }
            for r in results
        ]
    }


def exit_code(results: Sequence[Result]) -> int:
    """0 when every scenario that could run met its budgets; 1 otherwise."""
    return 1 if any(r.ok is False for r in results) else 0


def _seconds(value: float | None, budget: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" + (f" / {budget:g}" if budget is not None else "")


def table(results: Sequence[Result]) -> str:
    """A fixed-width table: one line per scenario, then what each missed or why it did not run."""
    head = ("scenario", "restored s", "refused", "lost", "dup", "truth s", "sent", "ok", "cause seen")
    rows = [head]
    for r in results:
        mark = "n/a" if r.ok is None else "ok" if r.ok else "MISS"
        rows.append(
            (
                r.name,
                _seconds(r.restored_s, r.budget.restored_s if r.budget else None) if r.available else "-",
                str(r.refused),
                str(r.lost),
                str(r.duplicated),
                _seconds(r.truth_s, r.budget.truth_s if r.budget else None) if r.available else "-",
                str(r.sent),
                mark,
                r.cause if r.available else r.note,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    ]
    for r in results:
        for miss in r.misses:
            lines.append(f"MISS {r.name}: {miss}")
        if r.note and r.available:
            lines.append(f"note {r.name}: {r.note}")
    return "\n".join(lines)
