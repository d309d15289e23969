"""``GET /metrics``: the gateway in Prometheus text format, for the tools people already run.

Two sources, one registry per gateway (no module state, so a test can run several gateways in one
process and scrape each on its own):

- *events*: a listener on the runtime's event bus turns run, model and auth events into counters and
  histograms as they happen (run latency and time to first token per model, fallbacks and cooldowns
  by reason, token refreshes);
- *scrape-time facts*: a collector reads what is true now — runs by state and queue depth from the
  store, channel liveness and reconnects from the channel manager, supervisor restarts from the
  supervisor's own ``run/status.json`` (the gateway never imports the supervisor; it reads its file),
  process RSS, fds and threads from psutil.

Every label value goes through the shared redactor: a provider's reason text must not carry a key.
Tool calls and approvals are counted from their typed events (``run.tool``, ``approval.*``): until
something publishes them the series stay empty or 0, never a made-up number.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nexus import __version__
from nexus.common.redact import redact
from nexus.gateway.runtime import GatewayRuntime
from nexus.protocol import events as ev

METRICS_PATH = "/metrics"
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
MAX_TRACKED_RUNS = 10_000
RUN_STATES = ("queued", "running", "done", "failed")
UNKNOWN = "unknown"


def label(value: object) -> str:
    """A label value safe to publish: redacted, bounded, never empty."""
    text = redact(str(value)) if value not in (None, "") else UNKNOWN
    return text[:120]


@dataclass
class _RunClock:
    started: float
    model: str = UNKNOWN
    first_token: bool = False


@dataclass
class GatewayMetrics:
    """Counters fed by the event bus plus a collector read at scrape time."""

    runtime: GatewayRuntime
    clock: Callable[[], float] = time.monotonic
    process: psutil.Process = field(default_factory=psutil.Process)
    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))

    def __post_init__(self) -> None:
        r = self.registry
        self.accepted = Counter("nexus_runs_accepted", "Messages accepted as runs.", registry=r)
        self.finished = Counter(
            "nexus_runs_finished", "Runs finished, by outcome and model.", ["outcome", "model"], registry=r
        )
        self.latency = Histogram(
            "nexus_run_duration_seconds",
            "From a run's start to its answer or failure, per model.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.first_token = Histogram(
            "nexus_run_first_token_seconds",
            "From a run's start to its first streamed text, per model.",
            ["model"],
            buckets=FIRST_TOKEN_BUCKETS,
            registry=r,
        )
        self.fallbacks = Counter(
            "nexus_model_fallbacks", "Fallbacks to the next candidate, by reason.", ["reason"], registry=r
        )
        self.cooldowns = Counter(
            "nexus_model_cooldowns", "Candidates put in cooldown, by reason.", ["reason"], registry=r
        )
        self.refreshes = Counter(
            "nexus_auth_refreshes",
            "OAuth token refreshes (adopted: a peer process had refreshed first).",
            ["provider", "outcome"],
            registry=r,
        )
        self.reauth = Counter(
            "nexus_auth_reauth_required", "Profiles that need a new login.", ["provider"], registry=r
        )
        self.tool_calls = Counter(
            "nexus_tool_calls",
            "Finished tool calls by tool and outcome (from run.tool events).",
            ["tool", "outcome"],
            registry=r,
        )
        self._runs: dict[str, _RunClock] = {}
        self._pending: set[str] = set()
        r.register(_ScrapeCollector(self))
        self.runtime.bus.listen(self.on_event)

    # -- events -----------------------------------------------------------------------------------

    def on_event(self, event: ev.Event) -> None:
        match event:
            case ev.RunAccepted():
                self.accepted.inc()
            case ev.RunStatus(run_id=run_id, state=ev.RunState.RUNNING):
                if len(self._runs) >= MAX_TRACKED_RUNS:
                    self._runs.pop(next(iter(self._runs)))
                self._runs[run_id] = _RunClock(started=self.clock())
            case ev.RunStatus(run_id=run_id, state=ev.RunState.CALLING, model=model) if run_id in self._runs:
                self._runs[run_id].model = label(model)
            case ev.RunDelta(run_id=run_id):
                clock = self._runs.get(run_id)
                if clock is not None and not clock.first_token:
                    clock.first_token = True
                    self.first_token.labels(clock.model).observe(self.clock() - clock.started)
            case ev.RunFinal(run=run) | ev.RunError(run=run):
                clock = self._runs.pop(run.run_id, None)
                model = label(run.model or (clock.model if clock else None))
                self.finished.labels("done" if isinstance(event, ev.RunFinal) else "failed", model).inc()
                if clock is not None:
                    self.latency.labels(model).observe(self.clock() - clock.started)
            case ev.ModelFallback(reason=reason):
                self.fallbacks.labels(label(reason)).inc()
            case ev.ModelCooldown(reason=reason):
                self.cooldowns.labels(label(reason)).inc()
            case ev.AuthRefreshed(provider=provider, adopted=adopted):
                self.refreshes.labels(label(provider), "adopted" if adopted else "refreshed").inc()
            case ev.AuthNeedsReauth(provider=provider):
                self.reauth.labels(label(provider)).inc()
            case ev.RunTool(tool=tool, state=state) if state != "started":
                self.tool_calls.labels(label(tool), label(state)).inc()
            case ev.ApprovalRequested(approval_id=approval_id):
                self._pending.add(approval_id)
            case ev.ApprovalResolved(approval_id=approval_id):
                self._pending.discard(approval_id)
            case _:
                pass

    # -- the route --------------------------------------------------------------------------------

    def render(self, accept: str | None) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

    def route(self) -> Route:
        async def metrics(request: Request) -> Response:
            body, content_type = self.render(request.headers.get("accept"))
            return Response(body, media_type=content_type)

        return Route(METRICS_PATH, metrics, methods=["GET"])


class _ScrapeCollector(Collector):
    def __init__(self, metrics: GatewayMetrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Metric]:
        rt = self._m.runtime
        yield from _store_metrics(rt)
        yield from _channel_metrics(rt.channels)
        yield from _supervisor_metrics(rt.paths.run / "status.json", now=time.time())
        yield from _process_metrics(self._m.process)
        info = GaugeMetricFamily("nexus_build_info", "The running version.", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        yield _gauge(
            "nexus_uptime_seconds", "Seconds since this gateway started.", time.time() - rt.started_at
        )
        yield _gauge("nexus_ws_clients", "Event subscribers (WebSocket clients).", rt.bus.subscriber_count)
        yield _gauge("nexus_active_runs", "Runs being answered now.", len(rt.executor.active_runs))
        yield _gauge(
            "nexus_approvals_pending",
            "Tool calls waiting for the owner's approval (the approvals store).",
            _pending_approvals(rt, fallback=len(self._m._pending)),
        )
        usable = GaugeMetricFamily(
            "nexus_model_candidate_usable",
            "1 when a model/profile candidate can be tried now, 0 when cooling or unusable.",
            labels=["model", "profile"],
        )
        for c in rt.candidates():
            usable.add_metric([label(c["model"]), label(c["profile"])], 1 if c["usable"] else 0)
        yield usable


def _pending_approvals(rt: GatewayRuntime, *, fallback: int) -> int:
    """From the durable store when the gateway has one (it survives restarts); else the events seen."""
    store = getattr(rt, "approvals", None)
    try:
        return len(store.pending()) if store is not None else fallback
    except Exception:
        return fallback


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _store_metrics(rt: GatewayRuntime) -> Iterator[Metric]:
    counts = rt.store.status_counts()
    runs = GaugeMetricFamily("nexus_runs", "Runs in the store, by state.", labels=["state"])
    for state in RUN_STATES:
        runs.add_metric([state], counts.get(state, 0))
    yield runs
    yield _gauge("nexus_queue_depth", "Runs accepted and not yet answered.", rt.store.queue_depth())
    db = rt.paths.state_db
    size = sum(_size(Path(f"{db}{suffix}")) for suffix in ("", "-wal", "-shm"))
    yield _gauge("nexus_state_db_bytes", "Size of state.db with its WAL and shared-memory files.", size)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _channel_metrics(manager: Any) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        "nexus_channel_up", "1 when the channel is connected and its transport answers.", labels=["channel"]
    )
    reconnects = CounterMetricFamily(
        "nexus_channel_reconnects", "Reconnects of each channel.", labels=["channel"]
    )
    ok_age = GaugeMetricFamily(
        "nexus_channel_transport_ok_age_seconds",
        "Seconds since the platform last answered the channel (liveness).",
        labels=["channel"],
    )
    state = GaugeMetricFamily(
        "nexus_channel_state", "The channel's state (1 for the current one).", labels=["channel", "state"]
    )
    status: dict[str, Any] = {}
    if manager is not None:
        try:
            status = dict(manager.status())
        except Exception:
            status = {}
    now = time.time()
    for name, body in status.items():
        up.add_metric([name], 1 if body.get("transport_alive") else 0)
        reconnects.add_metric([name], float(body.get("reconnects") or 0))
        state.add_metric([name, label(body.get("state"))], 1)
        if isinstance(body.get("transport_ok_at"), int | float):
            ok_age.add_metric([name], max(now - body["transport_ok_at"], 0.0))
    yield from (up, reconnects, ok_age, state)


def _supervisor_metrics(status_file: Path, *, now: float) -> Iterator[Metric]:
    """From the supervisor's snapshot; nothing when the gateway runs without a supervisor."""
    try:
        snap = json.loads(status_file.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(snap, dict):
        return
    sup = snap.get("supervisor") or {}
    gw = snap.get("gateway") or {}
    pid = sup.get("pid")
    yield _gauge(
        "nexus_supervisor_up",
        "1 when the supervisor named in run/status.json is alive.",
        1 if _alive(pid) else 0,
    )
    if isinstance(gw.get("generation"), int):
        yield _gauge(
            "nexus_gateway_generation",
            "The supervisor's generation number of this gateway.",
            gw["generation"],
        )
    times = [t for t in gw.get("restart_times") or [] if isinstance(t, int | float)]
    yield _gauge(
        "nexus_supervisor_restarts_last_hour",
        "Gateway restarts by the supervisor in the last hour.",
        sum(1 for t in times if now - t <= 3600),
    )
    yield _gauge(
        "nexus_supervisor_crash_loop",
        "1 while the supervisor has declared a crash loop.",
        1 if sup.get("crash_loop") else 0,
    )
    by_kind = GaugeMetricFamily(
        "nexus_supervisor_restarts_last_hour_by_ending",
        "Restarts in the last hour by how the generation before ended (ready-then-died, never-ready, ...).",
        labels=["ending"],
    )
    kinds = gw.get("restart_kinds") or []
    counts: dict[str, int] = {}
    for t, kind in zip(gw.get("restart_times") or [], kinds, strict=False):
        if isinstance(t, int | float) and now - t <= 3600:
            counts[label(kind)] = counts.get(label(kind), 0) + 1
    for kind, count in sorted(counts.items()):
        by_kind.add_metric([kind], count)
    yield by_kind
    last = gw.get("last_exit")
    if isinstance(last, dict):
        info = GaugeMetricFamily(
            "nexus_supervisor_last_exit_info",
            "The previous generation's exit: its cause and signal (1).",
            labels=["cause", "signal"],
        )
        info.add_metric([label(last.get("cause")), label(last.get("signal_name") or "none")], 1)
        yield info


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _process_metrics(proc: psutil.Process) -> Iterator[Metric]:
    """The standard ``process_*`` names (as prometheus_client's own collector spells them), from psutil
    so they exist on macOS too, plus ``process_threads``."""
    with proc.oneshot():
        mem = proc.memory_info()
        cpu = proc.cpu_times()
        yield _gauge("process_resident_memory_bytes", "Resident memory size in bytes.", mem.rss)
        yield _gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", mem.vms)
        yield CounterMetricFamily(
            "process_cpu_seconds", "User and system CPU time in seconds.", value=cpu.user + cpu.system
        )
        yield _gauge(
            "process_start_time_seconds", "Start time of the process (unix seconds).", proc.create_time()
        )
        yield _gauge("process_threads", "OS threads of the process.", proc.num_threads())
        if hasattr(proc, "num_fds"):
            yield _gauge("process_open_fds", "Open file descriptors.", proc.num_fds())
