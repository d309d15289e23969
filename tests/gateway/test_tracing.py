"""Optional OpenTelemetry traces: spans of a real run when enabled and installed; nothing imported,
nothing attached when disabled; a clear warning (and no traces) when enabled without the SDK."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import ModuleType

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from nexus.config.schema import TracingConfig
from nexus.gateway import tracing
from tests.gateway.conftest import RunningGateway, start_gateway
from tests.gateway.test_metrics import FallingRouter


def no_imports(name: str) -> ModuleType:
    raise AssertionError(f"tracing is off, yet {name} was imported")


def missing_sdk(name: str) -> ModuleType:
    raise ImportError(f"No module named {name!r}")


async def test_a_run_becomes_a_run_span_with_one_model_call_per_attempt(tmp_path: Path) -> None:
    gw, stop, task = await start_gateway(tmp_path / "home", FallingRouter())
    exporter = InMemorySpanExporter()
    tracer = tracing.attach(
        gw.runtime, config=TracingConfig(enabled=True, exporter="console"), exporter=exporter
    )
    assert tracer is not None
    try:
        run_id = await _answer(gw)
    finally:
        tracer.shutdown()
        stop.set()
        await asyncio.wait_for(task, 15)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    calls = [s for s in exporter.get_finished_spans() if s.name == "model.call"]
    run = spans["run"]
    assert run.attributes["nexus.run_id"] == run_id and run.attributes["nexus.status"] == "done"
    assert [c.attributes["nexus.model"] for c in calls] == ["test/big", "test/small"]
    assert all(c.parent is not None and c.parent.span_id == run.context.span_id for c in calls)
    assert [e.name for e in run.events] == ["fallback"]
    assert run.resource.attributes["service.name"] == "nexus-gateway"


async def test_off_means_nothing_is_imported_or_attached(gateway: RunningGateway) -> None:
    assert tracing.attach(gateway.runtime, importer=no_imports) is None  # [tracing] enabled = false


async def test_enabled_without_the_sdk_says_how_to_install_it(
    gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="nexus.gateway.tracing")
    assert tracing.attach(gateway.runtime, config=TracingConfig(enabled=True), importer=missing_sdk) is None
    assert "pip install 'nexus-gateway[tracing]'" in caplog.text


async def _answer(gw: RunningGateway) -> str:
    async with gw.client() as client:
        accepted = (await client.post("/api/messages", json={"session": "t", "text": "hi"})).json()
        run = (await client.get(f"/api/runs/{accepted['run_id']}", params={"wait": 5})).json()
    assert run["status"] == "done"
    return str(run["run_id"])
