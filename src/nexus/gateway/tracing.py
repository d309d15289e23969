"""Optional OpenTelemetry traces of a run: one ``run`` span, a ``model.call`` child per attempt, a
``tool`` child per tool step, fallbacks and cooldowns as span events.

Off unless ``[tracing] enabled = true`` *and* the SDK imports (``pip install 'nexus-gateway[tracing]'``):
when off, nothing is imported and no listener is attached, so tracing costs nothing. The spans are
built from the typed events on the gateway's bus (the same seam metrics use), so no other module
knows tracing exists. Each gateway gets its own ``TracerProvider`` (never the process-global one),
so tests can run several gateways in one process.

TODO(channels): a ``channel.send`` span needs a send event from the channel layer; until then a
channel's delivery shows up only as the end of the ``run`` span.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from nexus.config.schema import TracingConfig
from nexus.gateway.runtime import GatewayRuntime
from nexus.protocol import events as ev

log = logging.getLogger(__name__)

Importer = Callable[[str], ModuleType]


def build_provider(
    config: TracingConfig, *, importer: Importer = importlib.import_module, exporter: Any = None
) -> Any:
    """A TracerProvider with the configured exporter, or None (disabled, or the SDK is missing)."""
    if not config.enabled:
        return None
    try:
        sdk_trace = importer("opentelemetry.sdk.trace")
        sdk_export = importer("opentelemetry.sdk.trace.export")
        resources = importer("opentelemetry.sdk.resources")
    except ImportError:
        log.warning(
            "[tracing] enabled = true but the OpenTelemetry SDK is not installed: "
            "pip install 'nexus-gateway[tracing]' (running without traces)"
        )
        return None
    if exporter is None:
        exporter = _exporter(config, sdk_export, importer)
        if exporter is None:
            return None
    provider = sdk_trace.TracerProvider(
        resource=resources.Resource.create({"service.name": config.service_name})
    )
    processor = (
        sdk_export.SimpleSpanProcessor if config.exporter == "console" else sdk_export.BatchSpanProcessor
    )
    provider.add_span_processor(processor(exporter))
    return provider


def _exporter(config: TracingConfig, sdk_export: ModuleType, importer: Importer) -> Any:
    if config.exporter == "console":
        return sdk_export.ConsoleSpanExporter()
    try:
        otlp = importer("opentelemetry.exporter.otlp.proto.http.trace_exporter")
    except ImportError:
        log.warning(
            "[tracing] exporter = otlp needs opentelemetry-exporter-otlp-proto-http "
            '(pip install it, or set exporter = "console"); running without traces'
        )
        return None
    return otlp.OTLPSpanExporter(endpoint=config.endpoint) if config.endpoint else otlp.OTLPSpanExporter()


@dataclass
class _Open:
    run: Any
    call: Any = None
    tools: dict[str, Any] = field(default_factory=dict)


class RunTracer:
    """Turns the bus's run events into spans (a listener: it must never raise into a run)."""

    def __init__(self, provider: Any, *, trace_api: ModuleType) -> None:
        self._provider = provider
        self._tracer = provider.get_tracer("nexus.gateway")
        self._trace = trace_api
        self._open: dict[str, _Open] = {}

    def _child(self, parent: Any, name: str, **attributes: Any) -> Any:
        ctx = self._trace.set_span_in_context(parent)
        return self._tracer.start_span(
            name, context=ctx, attributes={k: v for k, v in attributes.items() if v is not None}
        )

    def on_event(self, event: ev.Event) -> None:
        match event:
            case ev.RunStatus(run_id=run_id, session=session, state=ev.RunState.RUNNING, attempt=attempt):
                if run_id not in self._open:
                    span = self._tracer.start_span(
                        "run", attributes={"nexus.run_id": run_id, "nexus.session": session}
                    )
                    self._open[run_id] = _Open(run=span)
                self._open[run_id].run.set_attribute("nexus.attempt", attempt or 1)
            case ev.RunStatus(run_id=run_id, state=ev.RunState.CALLING, model=model, profile=profile):
                if (o := self._open.get(run_id)) is not None:
                    if o.call is not None:
                        o.call.end()
                    o.call = self._child(
                        o.run, "model.call", **{"nexus.model": model, "nexus.profile": profile}
                    )
            case ev.RunFallback(run_id=run_id, from_model=a, to_model=b, reason=reason):
                if (o := self._open.get(run_id)) is not None:
                    o.run.add_event("fallback", {"from": a, "to": b, "reason": reason})
            case ev.RunTool(run_id=run_id, call_id=call_id, tool=tool, state=state):
                if (o := self._open.get(run_id)) is not None:
                    if state == "started":
                        o.tools[call_id] = self._child(o.run, "tool", **{"nexus.tool": tool})
                    elif (span := o.tools.pop(call_id, None)) is not None:
                        span.set_attribute("nexus.tool.outcome", state)
                        span.end()
            case ev.RunFinal(run=run) | ev.RunError(run=run):
                if (o := self._open.pop(run.run_id, None)) is not None:
                    for span in [o.call, *o.tools.values()]:
                        if span is not None:
                            span.end()
                    o.run.set_attribute("nexus.status", run.status)
                    if run.model:
                        o.run.set_attribute("nexus.model", run.model)
                    if isinstance(event, ev.RunError):
                        o.run.set_status(
                            self._trace.Status(self._trace.StatusCode.ERROR, (run.error or "")[:200])
                        )
                    o.run.end()
            case _:
                pass

    def shutdown(self) -> None:
        for o in self._open.values():
            o.run.end()
        self._open.clear()
        self._provider.shutdown()


def attach(
    runtime: GatewayRuntime,
    *,
    config: TracingConfig | None = None,
    importer: Importer = importlib.import_module,
    exporter: Any = None,
) -> RunTracer | None:
    """Start tracing this gateway's runs when configured and installed; None (and no cost) otherwise."""
    provider = build_provider(config or runtime.config.tracing, importer=importer, exporter=exporter)
    if provider is None:
        return None
    tracer = RunTracer(provider, trace_api=importer("opentelemetry.trace"))
    runtime.bus.listen(tracer.on_event)
    return tracer
