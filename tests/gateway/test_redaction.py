"""No secret leaves a real gateway: not in its logs, /status, error bodies or /metrics.

A provider that echoes credentials in its error texts (proxies do) is the worst case: the gateway
must carry the failure to the sender with every secret masked.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from nexus.fakes.anthropic_server import Error, FakeAnthropic
from tests.common.test_redact import SECRETS
from tests.gateway_process import GatewayProcess


def test_no_secret_in_logs_status_errors_or_metrics(tmp_path: Path, fake_anthropic: FakeAnthropic) -> None:
    api_key = SECRETS["anthropic api key"]
    echoed = " ".join(f"{kind}={value}" for kind, value in SECRETS.items())
    fake_anthropic.always(
        None, Error(400, message=f"invalid request; you sent x-api-key {api_key}; {echoed}")
    )
    home = tmp_path / "home"
    home.mkdir()
    (home / "nexus.toml").write_text('[logging]\nformat = "json"\nlevel = "debug"\n')
    env = {"ANTHROPIC_BASE_URL": fake_anthropic.base_url, "ANTHROPIC_API_KEY": api_key}
    with GatewayProcess(home, env=env) as gw:
        headers = {"Authorization": f"Bearer {gw.token}"}
        with httpx.Client(base_url=gw.base_url, headers=headers, timeout=30) as client:
            accepted = client.post("/api/messages", json={"session": "r", "text": "hello"}).json()
            run = client.get(f"/api/runs/{accepted['run_id']}", params={"wait": 20})
            chat = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]})
            status = client.get("/status")
            metrics = client.get("/metrics")
            denied = httpx.get(f"{gw.base_url}/status", headers={"Authorization": f"Bearer {api_key}"})
        stderr = gw.log()
    file_log = (home / "logs" / "gateway.log").read_text()
    assert run.json()["status"] == "failed" and "<redacted>" in run.json()["error"]
    assert chat.status_code == 502 and "<redacted>" in chat.text
    assert metrics.status_code == 200 and denied.status_code == 401
    outputs = {
        "run error": run.text,
        "openai error": chat.text,
        "status": status.text,
        "metrics": metrics.text,
        "401": denied.text,
        "stderr": stderr,
        "logs/gateway.log": file_log,
    }
    for where, text in outputs.items():
        for kind, value in [*SECRETS.items(), ("gateway token", gw.token)]:
            assert value not in text, f"{kind} leaked into {where}"
    lines = [json.loads(line) for line in file_log.splitlines() if line.startswith("{")]
    assert lines and all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)
    failed = [line for line in lines if line["msg"].startswith("run failed")]
    assert failed and failed[0]["run_id"] == accepted["run_id"]
