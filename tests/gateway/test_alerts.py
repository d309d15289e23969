"""The gateway tells its owner when every model has failed for too long (once, not in a storm)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from nexus.fakes.anthropic_server import Error, FakeAnthropic
from tests.gateway_process import GatewayProcess


def test_models_down_alert_reaches_the_hook_once_and_status(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.always(None, Error(500))
    home = tmp_path / "home"
    home.mkdir()
    sink = tmp_path / "alerts.jsonl"
    (home / "nexus.toml").write_text(
        "[alerts]\n"
        f'command = "cat >> {sink}; echo >> {sink}"\n'
        "models_down_after_s = 0.3\n"
        "check_interval_s = 0.1\n"
        "min_interval_s = 3600\n"
    )
    env = {"ANTHROPIC_BASE_URL": fake_anthropic.base_url, "ANTHROPIC_API_KEY": "test-key"}
    with GatewayProcess(home, env=env) as gw:
        headers = {"Authorization": f"Bearer {gw.token}"}
        with httpx.Client(base_url=gw.base_url, headers=headers, timeout=30) as client:
            run_id = client.post("/api/messages", json={"session": "a", "text": "anyone?"}).json()["run_id"]
            run = client.get(f"/api/runs/{run_id}", params={"wait": 20}).json()
            assert run["status"] == "failed"
            deadline = time.monotonic() + 15
            while not (sink.exists() and sink.read_text().strip()):
                assert time.monotonic() < deadline, gw.log()[-2000:]
                time.sleep(0.05)
            time.sleep(0.5)  # several more checks run meanwhile: none may send it again
            alerts = [json.loads(line) for line in sink.read_text().splitlines() if line.strip()]
            status = client.get("/status").json()
    assert [a["kind"] for a in alerts] == ["models_down"]
    assert "every model has failed" in alerts[0]["message"] and "nexus doctor" in alerts[0]["remedy"]
    assert any(a["kind"] == "models_down" for a in status["alerts"])
    assert "test-key" not in sink.read_text()
