"""Parsing schedules and computing next slots, with time zones and DST (tables, no clock)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from nexus.schedule import Kind, ScheduleError, next_slot, parse_duration, parse_schedule

BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str, zone: ZoneInfo = BERLIN) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=zone).timestamp())


def local(slot: int | None, zone: ZoneInfo = BERLIN) -> str:
    assert slot is not None
    return datetime.fromtimestamp(slot, zone).isoformat()


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("1s", 1),
        ("2s", 2),
        ("15m", 900),
        ("1h", 3600),
        ("1h30m", 5400),
        ("2d", 172_800),
        ("1w", 604_800),
        ("1500ms", None),
        ("90S", 90),
        (" 5 m ", 300),
    ],
)
def test_durations(raw: str, seconds: int | None) -> None:
    if seconds is None:
        with pytest.raises(ScheduleError, match="whole seconds"):
            parse_duration(raw)
    else:
        assert parse_duration(raw) == seconds


@pytest.mark.parametrize(
    ("kwargs", "field", "example"),
    [
        ({"every": "5x"}, "--every", "'15m'"),
        ({"every": "0s"}, "--every", "'1s'"),
        ({"every": "500ms"}, "--every", "'1s'"),
        ({"every": ""}, "--every", "'30s'"),
        ({"cron": "61 * * * *"}, "--cron", "'0 9 * * MON-FRI'"),
        ({"cron": "* * *"}, "--cron", "five fields"),
        ({"at": "tomorrow"}, "--at", "'2026-12-24T18:00'"),
        ({"every": "5m", "tz": "Mars/Olympus"}, "--tz", "'Europe/Berlin'"),
        ({}, "schedule", "--every 15m"),
        ({"every": "5m", "cron": "* * * * *"}, "schedule", "exactly one"),
    ],
)
def test_bad_input_names_the_field_with_an_example(kwargs: dict[str, str], field: str, example: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_schedule(**kwargs)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert example in str(info.value)


def test_every_slots_do_not_drift_and_ignore_wall_clock_changes() -> None:
    schedule = parse_schedule(every="1h", tz="Europe/Berlin")
    anchor = at("2026-03-29T00:30")
    first = next_slot(schedule, after=anchor, anchor=anchor)
    second = next_slot(schedule, after=first + 10, anchor=anchor)  # late by 10 s: no drift
    assert first is not None and second is not None
    assert second - first == 3600
    # across the spring-forward the wall clock jumps, the period does not
    assert local(first) == "2026-03-29T01:30:00+01:00"
    assert local(second) == "2026-03-29T03:30:00+02:00"


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        # spring forward (02:00 -> 03:00): a daily 02:30 fires at 03:00, the first minute after the gap
        ("30 2 * * *", "2026-03-28T12:00", ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]),
        # fall back (03:00 -> 02:00): a daily 02:30 fires once, not in both passes of the hour
        ("30 2 * * *", "2026-10-24T12:00", ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]),
        # an every-30-minutes pattern fires in both passes of the repeated hour (Debian cron)
        (
            "*/30 * * * *",
            "2026-10-25T01:50",
            [
                "2026-10-25T02:00:00+02:00",
                "2026-10-25T02:30:00+02:00",
                "2026-10-25T02:00:00+01:00",
                "2026-10-25T02:30:00+01:00",
                "2026-10-25T03:00:00+01:00",
            ],
        ),
        # a weekday 9:00 keeps 9:00 local across the change (its UTC hour moves)
        ("0 9 * * MON-FRI", "2026-10-23T10:00", ["2026-10-26T09:00:00+01:00", "2026-10-27T09:00:00+01:00"]),
    ],
)
def test_cron_over_dst_follows_debian_cron(expr: str, after: str, expected: list[str]) -> None:
    schedule = parse_schedule(cron=expr, tz="Europe/Berlin")
    cursor = at(after)
    got = []
    for _ in expected:
        slot = next_slot(schedule, after=cursor, anchor=0)
        got.append(local(slot))
        assert slot is not None and slot > cursor  # strictly increasing, even in a repeated hour
        cursor = slot
    assert got == expected


def test_at_takes_the_zone_of_the_job_unless_the_time_has_an_offset() -> None:
    naive = parse_schedule(at="2026-12-24T18:00", tz="America/New_York")
    offset = parse_schedule(at="2026-12-24T18:00+00:00", tz="America/New_York")
    assert naive.kind is Kind.AT
    assert local(next_slot(naive, after=0, anchor=0), ZoneInfo("UTC")) == "2026-12-24T23:00:00+00:00"
    assert local(next_slot(offset, after=0, anchor=0), ZoneInfo("UTC")) == "2026-12-24T18:00:00+00:00"
    # once past, the schedule is over
    assert next_slot(naive, after=at("2027-01-01T00:00"), anchor=0) is None
