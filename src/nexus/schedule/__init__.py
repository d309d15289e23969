"""Time-based jobs, pure: parsing schedules, next slots in a time zone, catch-up and backoff plans.

Nothing here does I/O or reads the clock; the store keeps jobs and fires, the gateway's scheduler
drives these functions with its clock.
"""

from nexus.schedule.job import HEARTBEAT_JOB, JobDefinition, define_job, parse_catch_up, parse_deliver
from nexus.schedule.plan import ALERT_AFTER, GRACE_S, CatchUp, Plan, after_outcome, backoff_s, plan
from nexus.schedule.spec import (
    Kind,
    Schedule,
    ScheduleError,
    describe_slot,
    next_slot,
    parse_at,
    parse_duration,
    parse_schedule,
    parse_zone,
)

__all__ = [
    "ALERT_AFTER",
    "GRACE_S",
    "HEARTBEAT_JOB",
    "CatchUp",
    "JobDefinition",
    "Kind",
    "Plan",
    "Schedule",
    "ScheduleError",
    "after_outcome",
    "backoff_s",
    "define_job",
    "describe_slot",
    "next_slot",
    "parse_at",
    "parse_catch_up",
    "parse_deliver",
    "parse_duration",
    "parse_schedule",
    "parse_zone",
    "plan",
]
