"""Issue 23 through a real gateway process: a burst of TCP resets leaves the only model serving, and
`nexus models reset` reaches the running gateway without a restart."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from tests.gateway_process import GatewayProcess

from nexus.fakes._server import Error, Reset
from nexus.fakes.anthropic_server import FakeAnthropic

ONLY_ONE_MODEL = '[models]\nprimary = "anthropic/claude-only"\nfallbacks = []\n'


def start(home: Path, fake: FakeAnthropic) -> GatewayProcess:
    home.mkdir(parents=True, exist_ok=True)
    (home / "nexus.toml").write_text(ONLY_ONE_MODEL)
    return GatewayProcess(home, env={"ANTHROPIC_BASE_URL": fake.base_url, "ANTHROPIC_API_KEY": "test-key"})


def ask(gw: GatewayProcess, session: str, text: str) -> dict[str, Any]:
    with httpx.Client(base_url=gw.base_url, headers={"Authorization": f"Bearer {gw.token}"}, timeout=30) as c:
        accepted = c.post("/api/messages", json={"session": session, "text": text})
        assert accepted.status_code == 202, accepted.text
        deadline = time.monotonic() + 60  # bounded; a loaded machine may need more than one long poll
        while True:
            result: dict[str, Any] = c.get(
                f"/api/runs/{accepted.json()['run_id']}", params={"wait": 5}
            ).json()
            if result["status"] in ("done", "failed") or time.monotonic() > deadline:
                return result


def ready(gw: GatewayProcess) -> int:
    return httpx.get(f"{gw.base_url}/readyz", timeout=5).status_code


def test_a_burst_of_resets_does_not_take_the_only_model_away(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    with start(tmp_path / "home", fake_anthropic) as gw:
        assert ask(gw, "warm", "first")["status"] == "done"
        fake_anthropic.script("claude-only", *([Reset()] * 12))
        with ThreadPoolExecutor(16) as pool:
            runs = list(pool.map(lambda i: ask(gw, f"s{i}", f"m{i}"), range(16)))
        statuses = [(r["status"], r.get("error") or r.get("reason")) for r in runs]
        assert sum(r["status"] == "done" for r in runs) >= 16 - 6, statuses  # each reset is retried once
        assert ready(gw) == 200
        after = ask(gw, "later", "after the blip")
        assert after["status"] == "done" and after["text"] == "echo: after the blip"


def test_models_reset_reaches_the_running_gateway(tmp_path: Path, fake_anthropic: FakeAnthropic) -> None:
    home = tmp_path / "home"
    with start(home, fake_anthropic) as gw:
        fake_anthropic.script("claude-only", Error(402))  # billing: an hour, not probed by itself
        assert ask(gw, "a", "one")["status"] == "failed"
        deadline = time.monotonic() + 10
        while ready(gw) != 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready(gw) == 503
        env = {**gw_env(gw), "NEXUS_HOME": str(home)}
        nexus = str(Path(sys.executable).parent / "nexus")
        done = subprocess.run([nexus, "models", "reset"], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "cleared 1 cooldown" in done.stdout, done.stderr
        assert ready(gw) == 200  # no restart: the gateway re-read run/cooldowns.json
        assert ask(gw, "a", "two")["text"] == "echo: two"


def gw_env(gw: GatewayProcess) -> dict[str, str]:
    import os

    base = {k: v for k, v in os.environ.items() if not k.startswith(("NEXUS_", "ANTHROPIC_", "OPENAI_"))}
    return {**base, "ANTHROPIC_API_KEY": "test-key"}
