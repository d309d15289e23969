"""End to end: a real gateway process, the real router and providers, the fake model servers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import openai
from websockets.asyncio.client import connect

from nexus.fakes.anthropic_server import Error, FakeAnthropic, Reply
from nexus.fakes.openai_server import FakeOpenAI
from tests.gateway_process import GatewayProcess


def anthropic_env(fake: FakeAnthropic) -> dict[str, str]:
    return {"ANTHROPIC_BASE_URL": fake.base_url, "ANTHROPIC_API_KEY": "test-key"}


def post_and_wait(gw: GatewayProcess, session: str, text: str, **extra: Any) -> dict[str, Any]:
    with httpx.Client(base_url=gw.base_url, headers={"Authorization": f"Bearer {gw.token}"}, timeout=30) as c:
        accepted = c.post("/api/messages", json={"session": session, "text": text, **extra})
        assert accepted.status_code == 202, accepted.text
        return c.get(f"/api/runs/{accepted.json()['run_id']}", params={"wait": 20}).json()


def test_http_message_is_answered_by_the_primary_model(tmp_path: Path, fake_anthropic: FakeAnthropic) -> None:
    with GatewayProcess(tmp_path / "home", env=anthropic_env(fake_anthropic)) as gw:
        assert httpx.get(f"{gw.base_url}/readyz").status_code == 200
        run = post_and_wait(gw, "e2e", "hello there")
        assert run["status"] == "done", run
        assert run["text"] == "echo: hello there"
        assert run["model"] == "anthropic/claude-opus-4-5"
        second = post_and_wait(gw, "e2e", "and again")
    sent = fake_anthropic.requests[-1].body
    assert [m["content"] for m in sent["messages"]][:2] == ["hello there", "echo: hello there"]
    assert second["text"] == "echo: and again"


def test_persona_files_become_the_system_prompt(tmp_path: Path, fake_anthropic: FakeAnthropic) -> None:
    workspace = tmp_path / "home" / "workspace"
    workspace.mkdir(parents=True)
    (workspace / "SOUL.md").write_text("You are Nexus, terse.")
    (workspace / "AGENTS.md").write_text("Answer in English.")
    with GatewayProcess(tmp_path / "home", env=anthropic_env(fake_anthropic)) as gw:
        assert post_and_wait(gw, "p", "hi")["status"] == "done"
    system = fake_anthropic.requests[-1].body.get("system")
    text = system if isinstance(system, str) else " ".join(block["text"] for block in system)
    assert "You are Nexus, terse." in text and "Answer in English." in text
    assert text.index("English") < text.index("terse")  # AGENTS.md (rules) before SOUL.md


def test_websocket_streams_and_reports_a_fallback(tmp_path: Path, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script("claude-opus-4-5", Error(429, retry_after=30))
    fake_anthropic.always(None, Reply(chunks=4))

    async def scenario(gw: GatewayProcess) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
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
                json.dumps(
                    {
                        "type": "req",
                        "id": "2",
                        "method": "chat.send",
                        "params": {"session": "ws", "text": "fall back"},
                    }
                )
            )
            async with asyncio.timeout(20):
                while True:
                    frame = json.loads(await ws.recv())
                    if frame["type"] == "event":
                        events.append(frame)
                        if frame["event"] in ("run.final", "run.error"):
                            return events

    with GatewayProcess(tmp_path / "home", env=anthropic_env(fake_anthropic)) as gw:
        events = asyncio.run(scenario(gw))
        status = httpx.get(f"{gw.base_url}/status", headers={"Authorization": f"Bearer {gw.token}"}).json()
    names = [e["event"] for e in events]
    final = events[-1]
    assert final["event"] == "run.final", events
    assert final["payload"]["model"] == "anthropic/claude-3-7-sonnet-latest"
    assert final["payload"]["text"] == "echo: fall back"
    assert "run.fallback" in names and "model.cooldown" in names
    fallback = next(e for e in events if e["event"] == "run.fallback")["payload"]
    assert fallback["from"] == "anthropic/claude-opus-4-5" and "rate_limit" in fallback["reason"]
    assert len([n for n in names if n == "run.delta"]) >= 2
    cooling = [c for c in status["candidates"] if c["cooling_until"]]
    assert [c["model"] for c in cooling] == ["anthropic/claude-opus-4-5"]
    assert fake_anthropic.count("claude-opus-4-5") == 1


def test_openai_clients_talk_to_the_gateway_backed_by_an_openai_provider(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "nexus.toml").write_text('[models]\nprimary = "openai/gpt-4o-mini"\nfallbacks = []\n')
    env = {"OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": "test-key"}
    with GatewayProcess(home, env=env) as gw:
        client = openai.OpenAI(base_url=f"{gw.base_url}/v1", api_key=gw.token, max_retries=0)
        done = client.chat.completions.create(
            model="nexus", messages=[{"role": "user", "content": "via sdk"}]
        )
        assert done.choices[0].message.content == "echo: via sdk"
        assert done.model == "openai/gpt-4o-mini"
        stream = client.chat.completions.create(
            model="nexus", messages=[{"role": "user", "content": "streaming"}], stream=True
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        client.close()
    assert text == "echo: streaming"
    assert fake_openai.count("gpt-4o-mini") == 2


def test_without_any_provider_the_gateway_says_how_to_configure_one(tmp_path: Path) -> None:
    with GatewayProcess(tmp_path / "home") as gw:
        ready = httpx.get(f"{gw.base_url}/readyz")
        assert ready.status_code == 503
        reasons = ready.json()["reasons"]
        key_lines = [r for r in reasons if "ANTHROPIC_API_KEY" in r]
        assert len(key_lines) == 1, reasons  # one problem, said once, naming the models it blocks
        assert "anthropic/claude-opus-4-5" in key_lines[0] and "claude-3-5-haiku-latest" in key_lines[0]
        run = post_and_wait(gw, "none", "hello?")
    assert run["status"] == "done" and run["model"] == "nexus"
    assert "nexus auth add-key anthropic" in run["text"]


def test_status_shows_auth_profiles_without_secrets(tmp_path: Path, fake_anthropic: FakeAnthropic) -> None:
    import subprocess
    import sys

    home = tmp_path / "home"
    secret = "sk-ant-api03-status-secret-value"
    added = subprocess.run(
        [sys.executable, "-m", "nexus", "auth", "add-key", "anthropic", "--name", "anthropic:main"],
        input=secret + "\n",
        env={**GatewayProcess(home).environment()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    with GatewayProcess(home, env={"ANTHROPIC_BASE_URL": fake_anthropic.base_url}) as gw:
        run = post_and_wait(gw, "auth", "with the stored key")
        status = httpx.get(f"{gw.base_url}/status", headers={"Authorization": f"Bearer {gw.token}"})
        log = gw.log()
    assert run["status"] == "done"
    assert fake_anthropic.requests[-1].headers.get("x-api-key") == secret
    body = status.json()
    assert [p["name"] for p in body["auth"]["profiles"]] == ["anthropic:main"]
    assert body["auth"]["single_profile_providers"] == ["anthropic"]
    for text in (status.text, log, added.stdout, added.stderr):
        assert secret not in text
