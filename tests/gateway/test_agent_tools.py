"""The schedule and memory_search tools as plain functions over a real state database."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nexus.agent.journal import ToolCall, Verdict
from nexus.agent.policy import approval_question, approval_subject, judge
from nexus.agent.registry import ToolRegistry
from nexus.agent.tools import builtin_tools
from nexus.config.schema import ToolsConfig
from nexus.gateway.agent_tools import gateway_tools, memory_search_tool, schedule_tool
from nexus.schedule import define_job
from nexus.store import RunStore, open_database
from nexus.store.cron import CronStore
from nexus.store.memory import MemoryStore


def test_schedule_add_list_remove_and_errors_name_the_field(tmp_path: Path) -> None:
    cron = CronStore(open_database(tmp_path / "s.db"))
    now = time.time()
    added = schedule_tool(
        cron, {"action": "add", "name": "plants", "every": "1d", "message": "water"}, now=now
    )
    assert added["added"]["name"] == "plants" and added["added"]["source"] == "tool"
    assert [j["name"] for j in schedule_tool(cron, {"action": "list"}, now=now)["jobs"]] == ["plants"]
    for args, field in [
        ({"action": "add", "name": "x", "every": "soon", "message": "m"}, "every:"),
        ({"action": "add", "name": "x", "cron": "99 * * * *", "message": "m"}, "cron:"),
        ({"action": "add", "name": "x", "every": "1h", "tz": "Nowhere/City", "message": "m"}, "tz:"),
        ({"action": "add", "name": "x", "at": "2001-01-01T00:00", "message": "m"}, "at:"),
        ({"action": "add", "name": "plants", "every": "1h", "message": "m"}, "name:"),
        ({"action": "add", "name": "x", "every": "1h", "message": "m", "catch_up": "sometimes"}, "catch_up:"),
        ({"action": "fly"}, "action:"),
    ]:
        assert schedule_tool(cron, args, now=now)["error"].startswith(field), args
    assert [j.name for j in cron.jobs()] == ["plants"]  # nothing stored by the bad calls
    cron.sync([define_job(name="owner", every="1h", message="m")], source="config")
    assert schedule_tool(cron, {"action": "remove", "name": "owner"}, now=now)["error"].startswith("name:")
    assert schedule_tool(cron, {"action": "remove", "name": "plants"}, now=now) == {"removed": "plants"}


def test_memory_search_returns_session_time_and_snippet(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "s.db")
    runs = RunStore(conn)
    runs.accept(session="telegram:9", text="我的护照号码在抽屉里")
    result = memory_search_tool(MemoryStore(conn), {"query": "护照号码", "limit": 3})
    (hit,) = result["results"]
    assert (
        hit["session"] == "telegram:9" and "[护照号码]" in hit["snippet"] and hit["time"].endswith("+00:00")
    )
    assert memory_search_tool(MemoryStore(conn), {"query": ""})["error"].startswith("query:")
    assert memory_search_tool(MemoryStore(conn), {"query": "x", "limit": 0})["error"].startswith("limit:")


REGISTRY = ToolRegistry([*builtin_tools(), *gateway_tools()])
ADD = {"action": "add", "name": "p", "every": "1d", "message": "water"}


@pytest.mark.parametrize(
    ("settings", "call", "verdict"),
    [
        (ToolsConfig(), ToolCall("1", "schedule", ADD), Verdict.ASK),
        (ToolsConfig(allow=["*"]), ToolCall("1", "schedule", ADD), Verdict.ASK),  # no pattern covers it
        (ToolsConfig(exec="allow"), ToolCall("1", "schedule", ADD), Verdict.RUN),
        (ToolsConfig(exec="deny"), ToolCall("1", "schedule", ADD), Verdict.REFUSE),
        (ToolsConfig(), ToolCall("1", "schedule", {"action": "remove", "name": "p"}), Verdict.ASK),
        (ToolsConfig(exec="deny"), ToolCall("1", "schedule", {"action": "list"}), Verdict.RUN),
        (ToolsConfig(), ToolCall("1", "schedule", {"action": "fly"}), Verdict.REFUSE),
        (ToolsConfig(exec="deny"), ToolCall("1", "memory_search", {"query": "x"}), Verdict.RUN),
    ],
)
def test_schedule_is_gated_like_exec_and_memory_search_only_reads(
    settings: ToolsConfig, call: ToolCall, verdict: Verdict
) -> None:
    assert judge(call, registry=REGISTRY, settings=settings).verdict is verdict


def test_the_owner_is_asked_about_the_exact_job(tmp_path: Path) -> None:
    subject = approval_subject(ToolCall("1", "schedule", ADD), cwd=tmp_path)
    assert subject == {"schedule": "add", "job": {"every": "1d", "message": "water", "name": "p"}}
    assert (
        approval_question(subject)
        == "add the scheduled job 'p' (every 1d, answers to the log) that will ask: 'water'"
    )
