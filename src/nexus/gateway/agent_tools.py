"""The assistant's own ``schedule`` and ``memory_search`` tools, as plain functions over the stores.

Each tool is a JSON schema (what the model sees) and a function ``(arguments) -> result`` that never
raises for bad input: a problem comes back as ``{"error": ...}`` naming the field and an example,
so the model can correct itself. They plug into the agent tool registry once it exists; until then
nothing calls them but tests. ``schedule`` changes what runs later, so the registry must put it under
the same approval policy as ``exec`` (``SCHEDULE_NEEDS_APPROVAL``); ``memory_search`` only reads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nexus.schedule import ScheduleError, define_job, describe_slot, next_slot
from nexus.store.cron import CronStore, DuplicateJob
from nexus.store.memory import DEFAULT_LIMIT, MAX_LIMIT, MemoryStore

SCHEDULE_NEEDS_APPROVAL = True
TOOL_SOURCE = "tool"

SCHEDULE_SCHEMA: dict[str, Any] = {
    "name": "schedule",
    "description": (
        "Manage your scheduled jobs. action=add creates a job that sends `message` to you on a schedule "
        "(exactly one of every/cron/at); action=list shows jobs with their next fire; action=remove deletes "
        "one you or the user added with `nexus cron add`."
    ),
    "input_schema": {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": ["add", "list", "remove"]},
            "name": {"type": "string", "description": "Job name, e.g. 'water-plants'."},
            "every": {"type": "string", "description": "A period: '30s', '15m', '1h30m', '2d'."},
            "cron": {"type": "string", "description": "Five-field cron: '0 9 * * MON-FRI'."},
            "at": {"type": "string", "description": "Once, ISO time: '2026-12-24T18:00'."},
            "tz": {"type": "string", "description": "IANA zone for cron/at, e.g. 'Europe/Berlin'."},
            "message": {"type": "string", "description": "What you will be asked at each fire."},
            "deliver": {
                "type": "string",
                "description": "CHANNEL:CHAT for the answers, e.g. 'telegram:123'.",
            },
            "catch_up": {"type": "string", "enum": ["skip", "once", "all"]},
        },
        "required": ["action"],
    },
}

MEMORY_SEARCH_SCHEMA: dict[str, Any] = {
    "name": "memory_search",
    "description": (
        "Search every past conversation (all sessions) for words or phrases; returns session, time and a "
        "snippet per match, best first. Works for any language, Chinese and Japanese included."
    ),
    "input_schema": {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "Words that must all occur, e.g. 'dentist tuesday'."},
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        },
        "required": ["query"],
    },
}


def _job_summary(job: Any) -> dict[str, Any]:
    return {
        "name": job.name,
        job.schedule.kind.value: job.schedule.expr,
        "tz": job.schedule.tz,
        "message": job.message,
        "next_fire": describe_slot(job.next_due, job.schedule.tz),
        "source": job.source,
        "failures": job.failures,
    }


def schedule_tool(cron: CronStore, arguments: dict[str, Any], *, now: float) -> dict[str, Any]:
    action = arguments.get("action")
    if action == "list":
        return {"jobs": [_job_summary(job) for job in cron.jobs()]}
    name = str(arguments.get("name") or "")
    if action == "remove":
        job = cron.get(name)
        if job is None:
            return {"error": f"name: no job named {name!r}; action=list shows them"}
        if job.source not in ("cli", TOOL_SOURCE):
            return {"error": f"name: {name!r} is set in nexus.toml by the user; ask them to change it there"}
        cron.remove(name)
        return {"removed": name}
    if action != "add":
        return {"error": "action: use 'add', 'list' or 'remove'"}
    try:
        definition = define_job(
            name=name,
            message=str(arguments.get("message") or ""),
            every=arguments.get("every"),
            cron=arguments.get("cron"),
            at=arguments.get("at"),
            tz=arguments.get("tz"),
            deliver=arguments.get("deliver"),
            catch_up=arguments.get("catch_up"),
        )
    except ScheduleError as exc:
        return {"error": str(exc).replace("--", "").replace("catch-up", "catch_up")}
    if next_slot(definition.schedule, after=int(now), anchor=int(now)) is None:
        return {"error": f"at: {arguments.get('at')!r} is in the past; nothing would fire"}
    try:
        job = cron.add(definition, source=TOOL_SOURCE)
    except DuplicateJob as exc:
        return {"error": str(exc)}
    return {"added": _job_summary(job)}


def memory_search_tool(memory: MemoryStore, arguments: dict[str, Any]) -> dict[str, Any]:
    query = arguments.get("query")
    if not isinstance(query, str) or not query.strip():
        return {"error": "query: give the words to look for, e.g. {'query': 'dentist tuesday'}"}
    raw_limit = arguments.get("limit", DEFAULT_LIMIT)
    if not isinstance(raw_limit, int) or isinstance(raw_limit, bool) or raw_limit < 1:
        return {"error": f"limit: a whole number from 1 to {MAX_LIMIT}, e.g. 5"}
    hits = memory.search(query, limit=raw_limit)
    return {
        "results": [
            {
                "session": hit.session,
                "time": datetime.fromtimestamp(hit.created_at, UTC).isoformat(timespec="seconds"),
                "role": hit.role,
                "snippet": hit.snippet,
                "run_id": hit.run_id,
            }
            for hit in hits
        ]
    }
