"""``GET /metrics`` on a real gateway, read back with prometheus_client's own text parser."""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from nexus.config.schema import GatewayConfig, NexusConfig
from nexus.models.turn import AttemptStarted, Cooldown, Delta, EventSink, Fallback, Turn, TurnResult
from tests.gateway.conftest import RunningGateway, ScriptedRouter, start_gateway


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """sample name -> [(labels, value)]; the parser raises on anything that is not valid exposition."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append((dict(s.labels), s.value))
    return samples


def value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    matches = [v for lab, v in samples.get(name, []) if all(lab.get(k) == x for k, x in labels.items())]
    assert matches, f"no sample {name}{labels} in {sorted(samples)}"
    return sum(matches)


@dataclass
class FallingRouter(ScriptedRouter):
    """The first model is rate limited: one cooldown and one fallback, then the answer streams."""

    async def complete(self, turn: Turn, sink: EventSink) -> TurnResult:
        sink(AttemptStarted(model="test/big", profile="test:one"))
        sink(Cooldown(model="test/big", profile="test:one", reason="rate_limit", until=1e10))
        sink(Fallback(from_model="test/big", to_model="test/small", reason="rate_limit"))
        sink(AttemptStarted(model="test/small", profile="test:one"))
        await asyncio.sleep(0.01)
        sink(Delta("hello"))
        return TurnResult(text="hello", model="test/small", profile="test:one", fell_back=True)


async def scrape(gw: RunningGateway, *, token: str | None = None) -> str:
    async with gw.client(token=token) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_metrics_count_runs_fallbacks_and_process_facts(tmp_path: Path) -> None:
    gw, stop, task = await start_gateway(tmp_path / "home", FallingRouter())
    try:
        async with gw.client() as client:
            for i in range(3):
                accepted = (await client.post("/api/messages", json={"session": "m", "text": f"q{i}"})).json()
                run = (await client.get(f"/api/runs/{accepted['run_id']}", params={"wait": 5})).json()
                assert run["status"] == "done"
        s = parse(await scrape(gw))
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    assert value(s, "nexus_runs", state="done") == 3
    assert value(s, "nexus_runs", state="queued") == 0
    assert value(s, "nexus_runs_accepted_total") == 3
    assert value(s, "nexus_runs_finished_total", outcome="done", model="test/small") == 3
    assert value(s, "nexus_run_duration_seconds_count", model="test/small") == 3
    assert value(s, "nexus_run_duration_seconds_sum", model="test/small") > 0
    assert value(s, "nexus_run_first_token_seconds_count", model="test/small") == 3
    assert value(s, "nexus_model_fallbacks_total", reason="rate_limit") == 3
    assert value(s, "nexus_model_cooldowns_total", reason="rate_limit") == 3
    assert value(s, "nexus_queue_depth") == 0
    assert value(s, "nexus_approvals_pending") == 0
    assert "nexus_tool_calls_total" not in s  # declared, no samples until tool calls exist
    assert value(s, "process_resident_memory_bytes") > 10 * 1024 * 1024
    assert value(s, "process_open_fds") > 3
    assert value(s, "process_threads") >= 1
    assert value(s, "nexus_state_db_bytes") > 0
    assert value(s, "nexus_model_candidate_usable", model="test/echo") == 1


async def test_metrics_need_the_token_unless_public(tmp_path: Path) -> None:
    gw, stop, task = await start_gateway(tmp_path / "private", ScriptedRouter())
    try:
        async with gw.client(token="") as anon:
            denied = await anon.get("/metrics")
        assert denied.status_code == 401 and denied.json()["error"]["code"] == "unauthorized"
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    public = NexusConfig(gateway=GatewayConfig(metrics_public=True))
    gw, stop, task = await start_gateway(tmp_path / "public", ScriptedRouter(), public)
    try:
        assert "nexus_build_info" in parse(await scrape(gw, token=""))
        async with gw.client(token="") as anon:
            assert (await anon.get("/status")).status_code == 401  # only /metrics opened
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def test_two_gateways_in_one_process_keep_their_own_counts(tmp_path: Path) -> None:
    one, stop1, task1 = await start_gateway(tmp_path / "one", ScriptedRouter())
    two, stop2, task2 = await start_gateway(tmp_path / "two", ScriptedRouter())
    try:
        async with one.client() as client:
            accepted = (await client.post("/api/messages", json={"session": "a", "text": "x"})).json()
            await client.get(f"/api/runs/{accepted['run_id']}", params={"wait": 5})
        assert value(parse(await scrape(one)), "nexus_runs_accepted_total") == 1
        assert value(parse(await scrape(two)), "nexus_runs_accepted_total") == 0
    finally:
        for stop, task in ((stop1, task1), (stop2, task2)):
            stop.set()
            await asyncio.wait_for(task, 15)


async def test_supervisor_restarts_and_channel_liveness_come_from_their_files_and_seams(
    tmp_path: Path,
) -> None:
    gw, stop, task = await start_gateway(tmp_path / "home", ScriptedRouter())
    try:
        # the supervisor's own snapshot, as supervisor/records.py writes it
        snapshot = {
            "supervisor": {"pid": os.getpid(), "state": "running", "crash_loop": False},
            "gateway": {
                "pid": os.getpid(),
                "generation": 4,
                "restart_times": [1.0, time.time() - 5],
                "last_exit": {"cause": "crash", "signal_name": "SIGKILL"},
                "restart_kinds": ["exits-soon", "ready-then-died"],
            },
        }
        (gw.paths.run / "status.json").write_text(json.dumps(snapshot))

        class Channels:
            def status(self) -> dict[str, object]:
                return {
                    "telegram": {
                        "state": "connected",
                        "transport_alive": True,
                        "reconnects": 2,
                        "transport_ok_at": 1.0,
                    }
                }

        gw.runtime.channels = Channels()
        s = parse(await scrape(gw))
    finally:
        gw.runtime.channels = None
        stop.set()
        await asyncio.wait_for(task, 15)
    assert value(s, "nexus_supervisor_up") == 1
    assert value(s, "nexus_gateway_generation") == 4
    assert value(s, "nexus_supervisor_restarts_last_hour") == 1
    assert value(s, "nexus_supervisor_restarts_last_hour_by_ending", ending="ready-then-died") == 1
    assert "exits-soon" not in str(s["nexus_supervisor_restarts_last_hour_by_ending"])  # older than an hour
    assert value(s, "nexus_supervisor_last_exit_info", cause="crash", signal="SIGKILL") == 1
    assert value(s, "nexus_channel_up", channel="telegram") == 1
    assert value(s, "nexus_channel_reconnects_total", channel="telegram") == 2
    assert value(s, "nexus_channel_state", channel="telegram", state="connected") == 1
