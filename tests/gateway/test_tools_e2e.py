"""Tools end to end: a real gateway process, the real router and adapters, the fake providers scripting
streamed tool calls (both flavours), crashes between a tool's start and its result, approvals across a
restart, abort, and secrets kept out of exec."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
from websockets.asyncio.client import connect

from nexus.fakes.anthropic_server import Error, FakeAnthropic, FakeToolCall, Reply, ToolUse
from nexus.fakes.openai_server import FakeOpenAI
from tests.gateway_process import GatewayProcess

OPUS = "claude-opus-4-5"


def _home(tmp_path: Path, toml: str = "") -> Path:
    home = tmp_path / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "nexus.toml").write_text(toml)
    return home


def _env(fake: FakeAnthropic) -> dict[str, str]:
    return {"ANTHROPIC_BASE_URL": fake.base_url, "ANTHROPIC_API_KEY": "test-key-0123456789"}


def _client(gw: GatewayProcess) -> httpx.Client:
    token = gw.environment().get("NEXUS_GATEWAY_TOKEN") or gw.token
    return httpx.Client(base_url=gw.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _send(gw: GatewayProcess, text: str, session: str = "t") -> str:
    with _client(gw) as c:
        accepted = c.post("/api/messages", json={"session": session, "text": text})
        assert accepted.status_code == 202, accepted.text
        return str(accepted.json()["run_id"])


def _wait_run(gw: GatewayProcess, run_id: str, wait: float = 30) -> dict[str, Any]:
    with _client(gw) as c:
        return dict(c.get(f"/api/runs/{run_id}", params={"wait": wait}).json())


def _poll(predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


def _steps(home: Path, run_id: str) -> list[str]:
    conn = sqlite3.connect(home / "state.db")
    try:
        return [
            r[0] for r in conn.execute("SELECT kind FROM run_steps WHERE run_id = ? ORDER BY idx", (run_id,))
        ]
    finally:
        conn.close()


def _results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool_result blocks of the last user message of an Anthropic request."""
    last = body["messages"][-1]
    assert last["role"] == "user"
    return [b for b in last["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]


def _text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content)
    return str(content)


def test_anthropic_streamed_parallel_tool_calls_then_the_answer(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    home = _home(tmp_path)
    fake_anthropic.script(
        OPUS,
        ToolUse(
            (
                FakeToolCall(
                    "write_file", {"path": "notes/plan.md", "content": "backup hourly"}, id="toolu_w"
                ),
                FakeToolCall("list_dir", {"path": "."}, id="toolu_l"),
                FakeToolCall("format_disk", {}, id="toolu_x"),
            ),
            text="On it.",
        ),
        Reply("Saved your plan."),
    )
    with GatewayProcess(home, env=_env(fake_anthropic)) as gw:
        run = _wait_run(gw, _send(gw, "save my backup plan"))
    assert run["status"] == "done" and run["text"] == "Saved your plan.", run
    assert (home / "workspace" / "notes" / "plan.md").read_text() == "backup hourly"
    first, second = (r.body for r in fake_anthropic.requests[-2:])
    assert first["stream"] is True and {t["name"] for t in first["tools"]} >= {
        "exec",
        "read_file",
        "web_fetch",
    }
    results = {b["tool_use_id"]: b for b in _results(second)}
    assert _text(results["toolu_w"]) == "wrote 13 bytes to notes/plan.md"
    assert "notes/" in _text(results["toolu_l"]) or "plan" in _text(results["toolu_l"])
    assert results["toolu_x"].get("is_error") is True and "unknown tool 'format_disk'" in _text(
        results["toolu_x"]
    )
    assert _steps(home, run["run_id"]) == [
        "model_call",
        "tool_result",
        "tool_intent",
        "tool_intent",
        "tool_result",
        "tool_result",
        "model_call",
    ]


def test_openai_flavour_tool_calls_and_role_tool_results(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    home = _home(tmp_path, '[models]\nprimary = "openai/gpt-4o-mini"\nfallbacks = []\n')
    (home / "workspace").mkdir()
    (home / "workspace" / "todo.txt").write_text("1. back up\n2. rest\n")
    fake_openai.script(
        "gpt-4o-mini",
        ToolUse((FakeToolCall("read_file", {"path": "todo.txt", "offset": 2}, id="call_r"),)),
        Reply("Your second item is: rest."),
    )
    env = {"OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": "test-key-0123456789"}
    with GatewayProcess(home, env=env) as gw:
        run = _wait_run(gw, _send(gw, "what is my second todo?"))
    assert run["status"] == "done" and run["text"] == "Your second item is: rest.", run
    second = fake_openai.requests[-1].body
    assistant = next(m for m in second["messages"] if m["role"] == "assistant" and m.get("tool_calls"))
    assert assistant["tool_calls"][0]["function"]["name"] == "read_file"
    tool = next(m for m in second["messages"] if m["role"] == "tool")
    assert tool["tool_call_id"] == "call_r" and tool["content"] == "2. rest"


def test_a_fallback_mid_run_continues_from_the_journal(tmp_path: Path, fake_anthropic: FakeAnthropic) -> None:
    home = _home(tmp_path)
    fake_anthropic.script(
        OPUS,
        ToolUse((FakeToolCall("write_file", {"path": "once.txt", "content": "1"}, id="toolu_1"),)),
        Error(529),
    )
    fake_anthropic.script("claude-3-7-sonnet-latest", Reply("Done, from the fallback."))
    with GatewayProcess(home, env=_env(fake_anthropic)) as gw:
        run = _wait_run(gw, _send(gw, "write once"))
    assert run["status"] == "done" and run["text"] == "Done, from the fallback.", run
    assert run["model"] == "anthropic/claude-3-7-sonnet-latest" and run["fell_back"] is True
    fallback = fake_anthropic.requests[-1]
    assert fallback.model == "claude-3-7-sonnet-latest"
    assert [b["tool_use_id"] for b in _results(fallback.body)] == ["toolu_1"]
    assert fake_anthropic.count(OPUS) == 2  # the turn was not restarted from the user message
    assert _steps(home, run["run_id"]).count("tool_intent") == 1


def test_kill_9_between_tool_start_and_result(tmp_path: Path, fake_anthropic: FakeAnthropic) -> None:
    home = _home(tmp_path, '[tools]\nexec = "allow"\n')
    counter = home / "workspace" / "count"
    command = f"echo ran >> {counter}; echo started; sleep 120"
    fake_anthropic.script(OPUS, ToolUse((FakeToolCall("exec", {"command": command}, id="toolu_e"),)))
    fake_anthropic.script(OPUS, Reply("It may have run; I will check before trying again."))
    with GatewayProcess(home, env=_env(fake_anthropic)) as gw:
        run_id = _send(gw, "deploy")
        spool = home / "run" / "tool-output"
        assert _poll(lambda: any("started" in p.read_text() for p in spool.glob("*.out"))), gw.log()[-2000:]
        gw.kill()  # kill -9 while the command runs
        assert _steps(home, run_id) == ["model_call", "tool_intent"]
        gw.start()
        run = _wait_run(gw, run_id)
    assert run["status"] == "done" and run["text"].startswith("It may have run"), run
    (result,) = _results(fake_anthropic.requests[-1].body)
    assert result["is_error"] is True and "UNKNOWN" in _text(result) and "started" in _text(result)
    assert counter.read_text() == "ran\n"  # never rerun
    assert _steps(home, run_id) == ["model_call", "tool_intent", "tool_result", "model_call"]


def _cli(gw: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**gw.environment(), "NEXUS_PORT": str(gw.port)}
    return subprocess.run(
        [sys.executable, "-m", "nexus", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_an_approval_survives_a_restart_and_runs_only_once_approved(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    home = _home(tmp_path)  # [tools] exec defaults to "ask"
    marker = home / "workspace" / "pushed"
    fake_anthropic.script(
        OPUS, ToolUse((FakeToolCall("exec", {"command": f"echo pushed > {marker}"}, id="toolu_p"),))
    )
    fake_anthropic.script(OPUS, Reply("Pushed."))
    with GatewayProcess(home, env=_env(fake_anthropic)) as gw:
        run_id = _send(gw, "push my backup")
        pending = _poll(lambda: json.loads(_cli(gw, "approvals", "--json").stdout or "[]"))
        (approval,) = pending
        assert approval["subject"]["command"] == f"echo pushed > {marker}"
        assert approval["subject"]["cwd"] == str(home / "workspace") and approval["run_id"] == run_id
        assert not marker.exists()
        gw.restart()  # kill -9 while it waits
        again = json.loads(_cli(gw, "approvals", "--json").stdout)
        assert [a["id"] for a in again] == [approval["id"]]  # the same question, the same id
        assert not marker.exists()
        answered = _cli(gw, "approve", approval["id"])
        assert answered.returncode == 0, answered.stderr
        run = _wait_run(gw, run_id)
    assert run["status"] == "done" and run["text"] == "Pushed.", run
    assert marker.read_text() == "pushed\n"
    (result,) = _results(fake_anthropic.requests[-1].body)
    assert _text(result).startswith("exit code 0")


def test_exec_sees_no_secret_through_a_real_gateway(tmp_path: Path, fake_anthropic: FakeAnthropic) -> None:
    home = _home(tmp_path, '[tools]\nexec = "allow"\n')
    fake_anthropic.script(OPUS, ToolUse((FakeToolCall("exec", {"command": "env"}, id="toolu_env"),)))
    fake_anthropic.script(OPUS, Reply("ok"))
    env = {
        **_env(fake_anthropic),
        "OPENAI_API_KEY": "sk-openai-secret-0123",
        "NEXUS_GATEWAY_TOKEN": "gw-secret-token-0123",
    }
    with GatewayProcess(home, env=env) as gw:
        run = _wait_run(gw, _send(gw, "show env"))
    assert run["status"] == "done", run
    (result,) = _results(fake_anthropic.requests[-1].body)
    out = _text(result)
    assert "PATH=" in out
    for secret in (
        "test-key-0123456789",
        "sk-openai-secret-0123",
        "gw-secret-token-0123",
        "ANTHROPIC_",
        "NEXUS_",
    ):
        assert secret not in out


def test_abort_kills_the_tools_grandchildren(tmp_path: Path, fake_anthropic: FakeAnthropic) -> None:
    home = _home(tmp_path, '[tools]\nexec = "allow"\n')
    pids = home / "workspace" / "pids"
    command = f"sleep 300 & echo $! >> {pids}; setsid sh -c 'echo $$ >> {pids}; exec sleep 300' & sleep 300"
    fake_anthropic.script(OPUS, ToolUse((FakeToolCall("exec", {"command": command}, id="toolu_a"),)))

    async def abort(gw: GatewayProcess, run_id: str) -> dict[str, Any]:
        async with connect(gw.base_url.replace("http", "ws") + "/ws", open_timeout=5) as ws:
            await ws.send(
                json.dumps(
                    {
                        "type": "req",
                        "id": "1",
                        "method": "connect",
                        "params": {"protocol": 1, "token": gw.token},
                    }
                )
            )
            assert json.loads(await ws.recv())["ok"]
            await ws.send(
                json.dumps({"type": "req", "id": "2", "method": "chat.abort", "params": {"run_id": run_id}})
            )
            async with asyncio.timeout(10):
                while True:
                    frame = json.loads(await ws.recv())
                    if frame.get("type") == "res" and frame.get("id") == "2":
                        return dict(frame)

    with GatewayProcess(home, env=_env(fake_anthropic)) as gw:
        run_id = _send(gw, "long job")
        assert _poll(lambda: pids.exists() and len(pids.read_text().split()) == 2), gw.log()[-2000:]
        recorded = [int(p) for p in pids.read_text().split()]
        try:
            answer = asyncio.run(abort(gw, run_id))
            assert answer["ok"] and answer["payload"]["aborted"] is True, answer
            run = _wait_run(gw, run_id)
            assert run["status"] == "failed" and run["error"] == "aborted by the user"

            def all_gone() -> bool:
                return all(
                    not psutil.pid_exists(p) or psutil.Process(p).status() == psutil.STATUS_ZOMBIE
                    for p in recorded
                )

            assert _poll(all_gone, 10), "a grandchild survived the abort"
        finally:
            for pid in recorded:  # only ours, by pid
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, 9)


def test_a_pending_approval_reaches_the_owner_s_alert_hook(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    sink = tmp_path / "alerts.jsonl"
    home = _home(tmp_path, f'[alerts]\ncommand = "cat >> {sink}; echo >> {sink}"\ncheck_interval_s = 0.2\n')
    fake_anthropic.script(OPUS, ToolUse((FakeToolCall("exec", {"command": "git push"}, id="toolu_g"),)))
    fake_anthropic.script(OPUS, Reply("Not pushed."))
    with GatewayProcess(home, env=_env(fake_anthropic)) as gw:
        run_id = _send(gw, "push")
        alerts = _poll(
            lambda: (
                sink.exists() and [json.loads(line) for line in sink.read_text().splitlines() if line.strip()]
            )
        )
        (alert,) = alerts
        assert alert["kind"] == "approval_pending" and "`git push`" in alert["message"]
        assert alert["remedy"] == f"`nexus approve {alert['subject']}` or `nexus deny {alert['subject']}`"
        assert _cli(gw, "deny", alert["subject"]).returncode == 0
        run = _wait_run(gw, run_id)
    assert run["status"] == "done" and run["text"] == "Not pushed."
    (result,) = _results(fake_anthropic.requests[-1].body)
    assert result["is_error"] is True and "denied" in _text(result)
