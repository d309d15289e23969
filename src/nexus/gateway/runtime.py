"""The gateway's living parts wired together: store, lanes, runner, event bus, router.

No globals: the HTTP app and the WebSocket handler get this object and nothing else, so a test can
build as many gateways in one process as it likes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Protocol

from nexus import __version__
from nexus.agent.loop import ApprovalBell, ToolLoop, resolved_event
from nexus.agent.policy import approval_question
from nexus.channels.base import WebhookRequest, WebhookResponse
from nexus.common.paths import NexusPaths
from nexus.config.schema import NexusConfig
from nexus.gateway.events import EventBus
from nexus.gateway.lanes import Lanes
from nexus.gateway.persona import Persona
from nexus.gateway.runner import ModelRouter, RunExecutor
from nexus.gateway.scheduler import SCHEDULER_LEASE, Scheduler
from nexus.gateway.tools_host import announce_in_chats, build_tool_world, may_answer, parse_reply
from nexus.protocol import events as ev
from nexus.schedule import HEARTBEAT_JOB, ScheduleError, backoff_s, define_job
from nexus.store import Run, RunStore, StoreError, open_database
from nexus.store.approvals import Approval, ApprovalClosed, ApprovalNotFound, ApprovalStore
from nexus.store.cron import CronStore, Lease, Outcome

log = logging.getLogger(__name__)


class StatusProvider(Protocol):
    """Adds ``(key, value)`` pairs to /status (auth profiles, channels, alerts)."""

    def __call__(self) -> Iterable[tuple[str, Any]]: ...


class ReadinessCheck(Protocol):
    """Returns the reasons the gateway is not ready (empty when this part is fine); merged into /readyz."""

    def __call__(self) -> list[str]: ...


class ChannelsPort(Protocol):
    """What the gateway uses of the channel layer once started (``ChannelManager`` or ``NoChannels``)."""

    names: list[str]

    def notify_owner(self, text: str, *, channel: str | None = None, skip: str | None = None) -> int: ...

    def final_failures(self) -> dict[str, str]: ...

    async def webhook(self, name: str, request: WebhookRequest) -> WebhookResponse: ...

    def webhook_urls(self) -> frozenset[str]: ...

    async def stop(self) -> None: ...


class GatewayRuntime:
    def __init__(
        self,
        *,
        config: NexusConfig,
        paths: NexusPaths,
        router: ModelRouter,
        store: RunStore,
        clock: Any = time.time,
        lease_holder: str | None = None,
    ) -> None:
        self.config = config
        self.paths = paths
        self.router = router
        self.store = store
        self.bus = EventBus()
        self.started_at = time.time()
        self._started_mono = time.monotonic()
        self._agent_db = open_database(paths.state_db)
        self.tool_world = build_tool_world(config, paths, self._agent_db)
        self.approvals = self.tool_world.approvals or ApprovalStore(self._agent_db)
        """Pending questions to the owner (tool calls under ``[tools] exec = "ask"``)."""
        self.approval_bell = ApprovalBell()
        self.tool_loop = ToolLoop(store=store, world=self.tool_world, bell=self.approval_bell)
        announce_in_chats(self.bus, self._agent_db)
        self.executor = RunExecutor(
            store=store,
            router=router,
            bus=self.bus,
            persona=Persona(
                self.tool_world.workspace.root,
                file_chars=config.agent.memory_file_chars,
                total_chars=config.agent.memory_total_chars,
            ),
            config=config,
            loop=self.tool_loop,
        )
        self.lanes = Lanes(self.executor.execute)
        self._finished: dict[str, list[asyncio.Event]] = defaultdict(list)
        self.bus.listen(self._wake_waiters)
        self._tick_task: asyncio.Task[None] | None = None
        self.status_providers: list[StatusProvider] = []
        self.readiness_checks: list[ReadinessCheck] = []
        self.channels: ChannelsPort | None = None
        """The channel layer once started (owner alerts, webhooks)."""
        self.cron = CronStore(store.conn, now=clock)
        self.scheduler = Scheduler(
            cron=self.cron,
            lease=Lease(store.conn, SCHEDULER_LEASE, holder=lease_holder, now=clock),
            submit=self._submit_fire,
            workspace=paths.workspace,
            alert=self._cron_alert,
            clock=clock,
        )
        self.bus.listen(self._settle_cron)
        self._alert_tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def open(cls, *, config: NexusConfig, paths: NexusPaths, router: ModelRouter) -> GatewayRuntime:
        paths.ensure()
        store = RunStore(open_database(paths.state_db))
        return cls(config=config, paths=paths, router=router, store=store)

    async def start(self) -> None:
        """Resume what a crash interrupted, sync the jobs, settle fires that ended while down, start the
        tick. The scheduler itself is started by ``assemble.serve`` once the channels are up."""
        resumable, failed = self.store.recover(max_attempts=self.config.gateway.max_run_attempts)
        for run in failed:
            log.warning("run %s failed after %d interrupted attempts", run.id, run.attempts)
            self.bus.publish(ev.RunError(run=run.snapshot()))
        for run in resumable:
            self.lanes.submit(run.session, run.id)
        if resumable:
            log.info("resuming %d unfinished runs", len(resumable))
        self._sync_jobs()
        settled = self.scheduler.settle_unsettled(self.store.get)
        if settled:
            log.info("settled %d cron fires that ended while the gateway was down", settled)
        self._tick_task = asyncio.create_task(self._tick(), name="tick")

    async def close(self) -> None:
        await self.scheduler.stop()
        if self._tick_task is not None:
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick_task
        await self.lanes.close()
        with contextlib.suppress(Exception):
            await self.router.aclose()
        self._agent_db.close()
        self.store.close()

    # -- messages ---------------------------------------------------------------------------------

    def accept(
        self,
        *,
        session: str,
        text: str,
        channel: str = "api",
        sender: str | None = None,
        idempotency_key: str | None = None,
        client_turn: str | None = None,
    ) -> tuple[Run, bool]:
        """Commit the message, then queue it: the caller may acknowledge once this returns."""
        run, created = self.store.accept(
            session=session,
            text=text,
            channel=channel,
            sender=sender,
            idempotency_key=idempotency_key,
            client_turn=client_turn,
        )
        if created and self._answer_if_reply(run):
            return run, created
        if created:
            ahead = self.store.ahead_of(run)
            self.bus.publish(ev.RunAccepted(run_id=run.id, session=session, ahead=ahead, message=text))
            self.lanes.submit(session, run.id)
        return run, created

    # -- schedules --------------------------------------------------------------------------------

    def _sync_jobs(self) -> None:
        """Make the stored ``config`` jobs match ``[[cron]]``, and the heartbeat match ``[agent]``."""
        from nexus.config.loader import ConfigError

        try:
            self.cron.sync([table.definition() for table in self.config.cron], source="config")
            beat = []
            every = self.config.agent.heartbeat_every
            if every:
                beat.append(
                    define_job(
                        name=HEARTBEAT_JOB,
                        message="(heartbeat: reads workspace/HEARTBEAT.md)",
                        every=every,
                        tz="UTC",
                        session=HEARTBEAT_JOB,
                        deliver=self.config.agent.heartbeat_deliver,
                        catch_up="skip",
                        allow_reserved=True,
                    )
                )
            self.cron.sync(beat, source="heartbeat")
        except (StoreError, ScheduleError) as exc:
            raise ConfigError(self.paths.config_file, [str(exc)]) from exc

    def _submit_fire(self, run: Run) -> None:
        job, _, slot = (run.idempotency_key or "").removeprefix("cron:").rpartition(":")
        self.bus.publish(
            ev.RunAccepted(
                run_id=run.id, session=run.session, ahead=self.store.ahead_of(run), message=run.message
            )
        )
        self.bus.publish(
            ev.ScheduleFired(schedule_id=job, session=run.session, run_id=run.id, at=float(slot or 0))
        )
        self.lanes.submit(run.session, run.id)

    def _settle_cron(self, event: ev.Event) -> None:
        if not isinstance(event, ev.RunFinal | ev.RunError):
            return
        run = self.store.get(event.run.run_id)
        if run is not None and run.channel == "cron":
            try:
                self.scheduler.settle(run)
            except Exception:
                log.exception("could not record the outcome of cron run %s", run.id)

    def _cron_alert(self, outcome: Outcome) -> None:
        """The alert hook may take seconds: it runs in a task, never on the run's finishing path."""
        task = asyncio.get_running_loop().create_task(self._send_cron_alert(outcome), name="cron-alert")
        self._alert_tasks.add(task)
        task.add_done_callback(self._alert_tasks.discard)

    async def _send_cron_alert(self, outcome: Outcome) -> None:
        from nexus.alerts import Alerter, Verdict, cron_failing_alert
        from nexus.gateway.alerting import owner_alert  # here: alerting imports this module

        alert = cron_failing_alert(
            job=outcome.job.name,
            failures=outcome.job.failures,
            cause=outcome.error,
            retry_in_s=backoff_s(outcome.job.failures),
            now=time.time(),
        )
        log.warning("alert: %s", alert.message)
        if await Alerter.from_config(self.config.alerts, self.paths).anotify(alert) is Verdict.SEND:
            self.bus.publish(owner_alert(alert))
            if self.channels is not None:
                with contextlib.suppress(Exception):
                    self.channels.notify_owner(f"Nexus alert: {alert.message}. Fix: {alert.remedy}")

    async def wait_run(self, run_id: str, timeout: float) -> Run | None:
        """The run once finished, or as it is when ``timeout`` passes (None if unknown)."""
        run = self.store.get(run_id)
        if run is None or run.status.finished or timeout <= 0:
            return run
        waiter = asyncio.Event()
        self._finished[run_id].append(waiter)
        try:
            # re-check after registering, so a finish between the read and the wait is not missed
            run = self.store.get(run_id)
            if run is not None and not run.status.finished:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.wait(), timeout)
        finally:
            waiters = self._finished.get(run_id)
            if waiters is not None:
                with contextlib.suppress(ValueError):
                    waiters.remove(waiter)
                if not waiters:
                    self._finished.pop(run_id, None)
        return self.store.get(run_id)

    def _wake_waiters(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunEnded):
            for waiter in self._finished.get(event.run_id, ()):
                waiter.set()

    def _answer_if_reply(self, run: Run) -> bool:
        """A ``/approve ID`` / ``/deny ID`` message is answered now, not queued behind the waiting run."""
        reply = parse_reply(run.message)
        if reply is None:
            return False
        approve, approval_id = reply
        approval = self.approvals.get(approval_id)
        if approval is None or not may_answer(approval, session=run.session, channel=run.channel):
            return False  # not ours to answer: an ordinary message for the model
        try:
            answered = self.answer_approval(
                approval_id, approve=approve, by=f"{run.channel}:{run.sender or '-'}"
            )
            text = f"{'Approved' if approve else 'Denied'}: {approval_question(answered.subject)} ({approval_id})."
        except (ApprovalClosed, ApprovalNotFound) as exc:
            text = f"Nothing changed: {exc}."
        self.store.claim(run.id)
        done = self.store.finish(run.id, answer=text, model="nexus")
        self.bus.publish(ev.RunAccepted(run_id=run.id, session=run.session, ahead=0, message=run.message))
        self.bus.publish(ev.RunFinal(run=done.snapshot()))
        return True

    def answer_approval(self, approval_id: str, *, approve: bool, by: str) -> Approval:
        """Approve or deny; wakes the waiting run and tells every client. Raises the store's errors."""
        approval = self.approvals.decide(approval_id, approve=approve, by=by)
        self.approval_bell.ring()
        self.bus.publish(resolved_event(approval))
        return approval

    # -- health -----------------------------------------------------------------------------------

    def candidates(self) -> list[dict[str, Any]]:
        result = []
        for c in self.router.candidates():
            result.append(
                {
                    "model": str(getattr(c, "model", "")),
                    "profile": getattr(c, "profile", None),
                    "usable": bool(getattr(c, "usable", False)),
                    "reason": getattr(c, "reason", None),
                    "cooling_until": getattr(c, "cooling_until", None),
                }
            )
        return result

    def readiness(self) -> tuple[bool, list[str]]:
        reasons: list[str] = []
        try:
            self.store.queue_depth()
        except Exception as exc:
            reasons.append(f"state database unavailable: {exc}")
        candidates = self.candidates()
        if not any(c["usable"] for c in candidates):
            if not candidates:
                reasons.append("no model candidate: set [models] primary in nexus.toml")
            # one line per distinct problem, naming the models it blocks (not the same fix three times)
            blocked: dict[tuple[str, str], list[str]] = {}
            for c in candidates:
                blocked.setdefault((c["profile"] or "no profile", c["reason"] or "unusable"), []).append(
                    c["model"]
                )
            for (profile, reason), models in blocked.items():
                reasons.append(f"{profile}: {reason} (blocks {', '.join(models)})")
            if not any(c["profile"] for c in candidates):
                reasons.append(
                    "no provider credential: run `nexus auth add-key anthropic` (see docs/auth.md)"
                )
        for check in self.readiness_checks:
            with contextlib.suppress(Exception):
                reasons.extend(check())
        return (not reasons, reasons)

    def status(self) -> dict[str, Any]:
        ready, reasons = self.readiness()
        body: dict[str, Any] = {
            "version": __version__,
            "pid": os.getpid(),
            "uptime_s": round(time.monotonic() - self._started_mono, 3),
            "started_at": self.started_at,
            "ready": ready,
            "not_ready_reasons": reasons,
            "queue_depth": self.store.queue_depth(),
            "active_runs": len(self.executor.active_runs),
            "sessions": self.store.session_count(),
            "model_chain": [str(ref) for ref in self.config.chain()],
            "candidates": self.candidates(),
            "providers": sorted({ref.provider for ref in self.config.chain()}),
            "clients": self.bus.subscriber_count,
        }
        for provider in self.status_providers:
            with contextlib.suppress(Exception):
                body.update(dict(provider()))
        return body

    async def _tick(self) -> None:
        interval = self.config.gateway.tick_interval_s
        while True:
            await asyncio.sleep(interval)
            self.bus.publish(ev.Tick(time=time.time(), queue_depth=self.store.queue_depth()))
