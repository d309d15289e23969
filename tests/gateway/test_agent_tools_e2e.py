"""schedule and memory_search through a real model turn: a gateway process, the real router and
Anthropic adapter, the fake Anthropic API scripting the tool calls."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from nexus.fakes.anthropic_server import FakeAnthropic, FakeToolCall, Reply, ToolUse
from tests.gateway.test_tools_e2e import OPUS, _env, _home, _poll, _results, _send, _text, _wait_run
from tests.gateway_process import GatewayProcess


def test_the_model_searches_memory_and_schedules_a_job(tmp_path: Path, fake_anthropic: FakeAnthropic) -> None:
    home = _home(tmp_path, '[tools]\nexec = "allow"\n')
    job = {"action": "add", "name": "dentist", "at": "2099-01-05T09:00", "tz": "UTC", "message": "dentist?"}
    fake_anthropic.script(
        OPUS,
        Reply("Noted."),
        ToolUse(
            (
                FakeToolCall("memory_search", {"query": "dentist"}, id="toolu_m"),
                FakeToolCall("schedule", job, id="toolu_s"),
            )
        ),
        Reply("I found it and set a reminder."),
    )
    with GatewayProcess(home, env=_env(fake_anthropic)) as gw:
        first = _wait_run(gw, _send(gw, "my dentist appointment is on tuesday", session="a"))
        run = _wait_run(gw, _send(gw, "when was the dentist again? remind me", session="b"))
    assert first["status"] == "done" and run["status"] == "done", run
    tools = {t["name"] for t in fake_anthropic.requests[-2].body["tools"]}
    assert {"schedule", "memory_search"} <= tools
    results = {b["tool_use_id"]: b for b in _results(fake_anthropic.requests[-1].body)}
    found = json.loads(_text(results["toolu_m"]))["results"]
    assert any(hit["session"] == "a" and "[dentist]" in hit["snippet"] for hit in found), found
    added = json.loads(_text(results["toolu_s"]))["added"]
    assert added["name"] == "dentist" and added["source"] == "tool" and not results["toolu_s"].get("is_error")
    conn = sqlite3.connect(home / "state.db")
    try:
        assert conn.execute("SELECT source, message FROM cron_jobs WHERE name = 'dentist'").fetchall() == [
            ("tool", "dentist?")
        ]
    finally:
        conn.close()


def test_under_the_default_policy_scheduling_waits_for_the_owner(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    home = _home(tmp_path)
    fake_anthropic.script(
        OPUS,
        ToolUse((FakeToolCall("schedule", {"action": "add", "name": "n", "every": "1h", "message": "m"}),)),
    )

    def approvals(run_id: str) -> list[tuple[str, str, str]]:
        conn = sqlite3.connect(home / "state.db")
        try:
            return conn.execute(
                "SELECT tool, status, subject FROM approvals WHERE run_id = ?", (run_id,)
            ).fetchall()
        finally:
            conn.close()

    with GatewayProcess(home, env=_env(fake_anthropic)) as gw:
        run_id = _send(gw, "check hourly")
        rows = _poll(lambda: approvals(run_id))
        run = _wait_run(gw, run_id, wait=0)
    conn = sqlite3.connect(home / "state.db")
    try:
        jobs = conn.execute("SELECT count(*) FROM cron_jobs WHERE name = 'n'").fetchone()[0]
    finally:
        conn.close()
    assert run["status"] != "done" and jobs == 0
    ((tool, status, subject),) = rows
    assert tool == "schedule" and status == "pending" and '"every": "1h"' in subject
