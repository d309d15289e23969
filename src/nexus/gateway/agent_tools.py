"""The assistant's own ``schedule`` and ``memory_search`` tools, as plain functions over the stores.

Each tool is a JSON schema (what the model sees) and a function ``(arguments) -> result`` that never
raises for bad input: a problem comes back as ``{"error": ...}`` naming the field and an example,
so the model can correct itself. :func:`gateway_tools` wraps them as agent tools (the registry of
``gateway/tools_host.py``); their stores come through ``ToolContext.services`` (``cron``, ``memory``).
``schedule`` changes what runs later, so ``nexus.agent.policy`` gates it like ``exec``;
``memory_search`` only reads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from nexus.agent.tool import SideEffect, Tool, ToolContext, ToolError, ToolInput, ToolResult
from nexus.schedule import ScheduleError, define_job, describe_slot, next_slot
from nexus.store.cron import CronStore, DuplicateJob
from nexus.store.memory import DEFAULT_LIMIT, MAX_LIMIT, MemoryStore

TOOL_SOURCE = "tool"


class ScheduleInput(ToolInput):
    action: Literal["add", "list", "remove"]
    name: str | None = Field(default=None, description="Job name, e.g. 'water-plants'.")
    every: str | None = Field(default=None, description="A period: '30s', '15m', '1h30m', '2d'.")
    cron: str | None = Field(default=None, description="Five-field cron: '0 9 * * MON-FRI'.")
    at: str | None = Field(default=None, description="Once, ISO time: '2026-12-24T18:00'.")
    tz: str | None = Field(default=None, description="IANA zone for cron/at, e.g. 'Europe/Berlin'.")
    message: str | None = Field(default=None, description="What you will be asked at each fire.")
    deliver: str | None = Field(
        default=None, description="CHANNEL:CHAT for the answers, e.g. 'telegram:123'."
    )
    catch_up: Literal["skip", "once", "all"] | None = None


class MemorySearchInput(ToolInput):
    query: str = Field(description="Words that must all occur, e.g. 'dentist tuesday'.")
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


def _result(value: dict[str, Any]) -> ToolResult:
    return ToolResult(json.dumps(value, ensure_ascii=False), is_error="error" in value)


class ScheduleTool:
    """Gated like ``exec`` (``nexus.agent.policy``): adding or removing a job acts later, unattended."""

    name: ClassVar[str] = "schedule"
    description: ClassVar[str] = (
        "Manage your scheduled jobs. action=add creates a job that sends `message` to you on a schedule "
        "(exactly one of every/cron/at); action=list shows jobs with their next fire; action=remove deletes "
        "one you or the user added with `nexus cron add`."
    )
    Input: ClassVar[type[ToolInput]] = ScheduleInput
    side_effect: ClassVar[SideEffect] = SideEffect.EXTERNAL

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    async def run(self, args: ScheduleInput, ctx: ToolContext) -> ToolResult:
        cron = ctx.services.get("cron")
        if cron is None:
            raise ToolError("schedule is not available: this gateway has no job store")
        return _result(schedule_tool(cron, args.model_dump(exclude_none=True), now=self._clock()))


class MemorySearchTool:
    name: ClassVar[str] = "memory_search"
    description: ClassVar[str] = (
        "Search every past conversation (all sessions) for words or phrases; returns session, time and a "
        "snippet per match, newest first. Works for any language, Chinese and Japanese included."
    )
    Input: ClassVar[type[ToolInput]] = MemorySearchInput
    side_effect: ClassVar[SideEffect] = SideEffect.NONE

    async def run(self, args: MemorySearchInput, ctx: ToolContext) -> ToolResult:
        memory = ctx.services.get("memory")
        if memory is None:
            raise ToolError("memory_search is not available: this gateway has no memory index")
        return _result(memory_search_tool(memory, args.model_dump()))


def gateway_tools() -> list[Tool]:
    """The tools over the gateway's own stores, registered next to ``builtin_tools()``."""
    return [ScheduleTool(), MemorySearchTool()]


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
