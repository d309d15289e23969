"""A job definition checked in one place for every way in: ``nexus cron add``, ``[[cron]]`` tables
and the assistant's ``schedule`` tool. Each problem names the field and shows an example."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from nexus.schedule.plan import CatchUp
from nexus.schedule.spec import Schedule, ScheduleError, parse_schedule

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
HEARTBEAT_JOB = "heartbeat"
"""The reserved name of the heartbeat job (from ``[agent] heartbeat_every``)."""


@dataclass(frozen=True)
class JobDefinition:
    name: str
    schedule: Schedule
    message: str
    session: str
    deliver: tuple[str, str] | None
    catch_up: CatchUp

    @property
    def deliver_text(self) -> str | None:
        return format_deliver(self.deliver)

    def same_definition(self, other: JobDefinition) -> bool:
        """Both define the same job (whatever else a stored :class:`Job` keeps about itself)."""
        return all(getattr(self, f.name) == getattr(other, f.name) for f in fields(JobDefinition))


def format_deliver(deliver: tuple[str, str] | None) -> str | None:
    return f"{deliver[0]}:{deliver[1]}" if deliver else None


def parse_deliver(raw: str | None, *, field: str = "--deliver") -> tuple[str, str] | None:
    """``CHANNEL:CHAT`` (``telegram:123456789``); None or ``log`` means the answer goes to the log."""
    if raw is None or raw.strip() in ("", "log"):
        return None
    channel, sep, chat = raw.strip().partition(":")
    if not sep or not channel or not chat or not re.fullmatch(r"[a-z][a-z0-9_-]*", channel):
        raise ScheduleError(field, f"{raw!r} is not CHANNEL:CHAT; write e.g. 'telegram:123456789' or 'log'")
    return channel, chat


def parse_catch_up(raw: str | None, *, field: str = "--catch-up") -> CatchUp:
    try:
        return CatchUp((raw or CatchUp.ONCE.value).strip().lower())
    except ValueError as exc:
        raise ScheduleError(field, f"{raw!r} is not a catch-up policy; use skip, once or all") from exc


def define_job(
    *,
    name: str,
    message: str,
    every: str | None = None,
    cron: str | None = None,
    at: str | None = None,
    tz: str | None = None,
    session: str | None = None,
    deliver: str | None = None,
    catch_up: str | None = None,
    allow_reserved: bool = False,
) -> JobDefinition:
    """Check everything before anything is stored; raises :class:`ScheduleError`."""
    if not _NAME.match(name or ""):
        raise ScheduleError(
            "name", f"{name!r}: letters, digits, '.', '_' and '-', at most 64 (e.g. 'morning-brief')"
        )
    if name == HEARTBEAT_JOB and not allow_reserved:
        raise ScheduleError("name", "'heartbeat' is reserved for [agent] heartbeat_every; pick another name")
    if not (message or "").strip():
        raise ScheduleError(
            "--message",
            "the message is empty; write what the assistant should do, e.g. "
            "--message 'Summarise my unread mail'",
        )
    schedule = parse_schedule(every=every, cron=cron, at=at, tz=tz)
    chosen_session = (session or "").strip() or f"cron:{name}"
    return JobDefinition(
        name=name,
        schedule=schedule,
        message=message.strip(),
        session=chosen_session,
        deliver=parse_deliver(deliver),
        catch_up=parse_catch_up(catch_up),
    )
