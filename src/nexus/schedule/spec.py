"""When a job fires: parsing ``--every`` / ``--cron`` / ``--at`` and computing the next slot (pure).

Slots are whole epoch seconds, so a slot is an exact key (``UNIQUE(job, scheduled_for)``), never a
float compared for equality. ``every`` slots are ``anchor + k * period`` (k >= 1), so they do not drift
with the time a fire took. ``cron`` slots come from cronsim, which follows Debian cron over DST: a
time skipped by a spring-forward fires at the first minute after the gap, a daily time repeated by a
fall-back fires once, and an hourly or finer pattern fires in both passes of the repeated hour.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nexus.errors import NexusError

MIN_PERIOD_S = 1
"""The shortest ``every``: one second."""

_DURATION = re.compile(r"(\d+)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


class ScheduleError(NexusError):
    """A schedule does not parse; ``field`` names the option or key at fault."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class Kind(StrEnum):
    EVERY = "every"
    CRON = "cron"
    AT = "at"


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule; ``expr`` is what the user wrote, kept for listing and for storage."""

    kind: Kind
    expr: str
    tz: str
    period_s: int = 0

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)


def parse_duration(raw: str, *, field: str = "--every") -> int:
    """``90s``, ``15m``, ``1h30m``, ``2d`` -> whole seconds (at least one)."""
    text = raw.strip().replace(" ", "")
    pos = 0
    total_ms = 0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        value, unit = int(match.group(1)), match.group(2).lower()
        total_ms += value if unit == "ms" else value * _UNIT_S[unit] * 1000
        pos = match.end()
    if not text or pos != len(text):
        raise ScheduleError(field, f"{raw!r} is not a duration; write e.g. '30s', '15m', '1h30m' or '2d'")
    if total_ms < MIN_PERIOD_S * 1000 or total_ms % 1000:
        raise ScheduleError(field, f"{raw!r}: a period is whole seconds, at least 1s (e.g. '1s', '90s')")
    return total_ms // 1000


def parse_zone(raw: str | None, *, field: str = "--tz") -> str:
    """An IANA zone name (``Europe/Berlin``); ``None`` means this machine's zone."""
    name = (raw or "").strip() or local_zone_name()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(
            field, f"unknown time zone {name!r}; write an IANA name, e.g. 'Europe/Berlin' or 'UTC'"
        ) from exc
    return name


def local_zone_name(
    environ: dict[str, str] | None = None, *, localtime: Path = Path("/etc/localtime")
) -> str:
    """This machine's IANA zone: ``$TZ``, else the ``/etc/localtime`` link target, else UTC."""
    env = os.environ if environ is None else environ
    tz = env.get("TZ", "").lstrip(":")
    if tz:
        return tz
    try:
        target = str(localtime.resolve())
    except OSError:
        return "UTC"
    marker = "zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else "UTC"


def parse_schedule(
    *, every: str | None = None, cron: str | None = None, at: str | None = None, tz: str | None = None
) -> Schedule:
    """Exactly one of ``every``, ``cron``, ``at``; raises :class:`ScheduleError` naming the field."""
    given = [name for name, value in (("every", every), ("cron", cron), ("at", at)) if value is not None]
    if len(given) != 1:
        raise ScheduleError(
            "schedule",
            "give exactly one of --every DURATION, --cron EXPR or --at TIME "
            "(e.g. --every 15m, --cron '0 9 * * MON-FRI', --at 2026-12-24T18:00)",
        )
    zone = parse_zone(tz)
    if every is not None:
        period = parse_duration(every)
        return Schedule(Kind.EVERY, every.strip(), zone, period_s=period)
    if cron is not None:
        from cronsim import CronSim, CronSimError  # here: the supervisor imports the config schema

        expr = " ".join(cron.split())
        try:
            CronSim(expr, datetime(2000, 1, 1, tzinfo=ZoneInfo(zone)))
        except CronSimError as exc:
            raise ScheduleError(
                "--cron", f"{cron!r} is not a cron expression ({exc}); five fields, e.g. '0 9 * * MON-FRI'"
            ) from exc
        return Schedule(Kind.CRON, expr, zone)
    assert at is not None
    parse_at(at, zone)
    return Schedule(Kind.AT, at.strip(), zone)


def parse_at(raw: str, zone: str) -> int:
    """An ISO time (``2026-12-24T18:00``, zone offset optional: the job's zone otherwise) -> epoch."""
    try:
        when = datetime.fromisoformat(raw.strip())
    except ValueError as exc:
        raise ScheduleError("--at", f"{raw!r} is not an ISO time; write e.g. '2026-12-24T18:00'") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(zone))
    return int(when.timestamp())


def next_slot(schedule: Schedule, *, after: int, anchor: int) -> int | None:
    """The first slot strictly after ``after`` (epoch seconds); None when the schedule is over."""
    if schedule.kind is Kind.EVERY:
        period = schedule.period_s
        if after < anchor:
            return anchor + period
        return anchor + ((after - anchor) // period + 1) * period
    if schedule.kind is Kind.AT:
        slot = parse_at(schedule.expr, schedule.tz)
        return slot if slot > after else None
    from cronsim import CronSim

    zone = schedule.zone()
    start = datetime.fromtimestamp(after, zone)
    try:
        found = next(CronSim(schedule.expr, start))
    except StopIteration:
        return None
    slot = int(found.timestamp())
    if slot <= after:  # cronsim works in wall time; never hand back a slot that is not later
        return next_slot(schedule, after=after + 60, anchor=anchor)
    return slot


def count_slots(schedule: Schedule, *, after: int, until: int, anchor: int, limit: int) -> list[int]:
    """Slots in ``(after, until]``, at most ``limit`` of them (the earliest)."""
    slots: list[int] = []
    cursor = after
    while len(slots) < limit:
        slot = next_slot(schedule, after=cursor, anchor=anchor)
        if slot is None or slot > until:
            break
        slots.append(slot)
        cursor = slot
    return slots


def describe_slot(slot: int | None, tz: str) -> str:
    if slot is None:
        return "-"
    return datetime.fromtimestamp(slot, ZoneInfo(tz)).isoformat()


def slots_missed_estimate(schedule: Schedule, *, after: int, until: int, anchor: int) -> int:
    """How many slots lie in ``(after, until]`` (exact for ``every``, counted up to 10,000 otherwise)."""
    if until <= after:
        return 0
    if schedule.kind is Kind.EVERY:
        first = next_slot(schedule, after=after, anchor=anchor)
        assert first is not None
        return 0 if first > until else (until - first) // schedule.period_s + 1
    return len(count_slots(schedule, after=after, until=until, anchor=anchor, limit=10_000))


__all__ = [
    "MIN_PERIOD_S",
    "Kind",
    "Schedule",
    "ScheduleError",
    "count_slots",
    "describe_slot",
    "local_zone_name",
    "next_slot",
    "parse_at",
    "parse_duration",
    "parse_schedule",
    "parse_zone",
    "slots_missed_estimate",
]
