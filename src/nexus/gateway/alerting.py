"""Tell the owner, from inside the gateway: needs-reauth, expiring tokens, every model failing.

The detectors and the storm policy live in :mod:`nexus.alerts`; this module only feeds them what
the gateway sees (run outcomes, auth events, profile reports) and delivers what passes: the
``[alerts] command`` hook, an ``alert`` event to every connected client, and the owner's chat
through the channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable

from nexus.agent.policy import approval_question
from nexus.alerts import (
    Alert,
    Alerter,
    AlertKind,
    ReportLike,
    Verdict,
    approval_alert,
    channel_failed_alerts,
    models_down_alert,
    profile_alerts,
    recent_alerts,
)
from nexus.gateway.runner import GATEWAY_MODEL
from nexus.gateway.runtime import GatewayRuntime
from nexus.protocol import events as ev

log = logging.getLogger(__name__)


class AlertWatcher:
    def __init__(
        self,
        runtime: GatewayRuntime,
        alerter: Alerter,
        reports: Callable[[], Iterable[ReportLike]],
        *,
        interval_s: float = 60.0,
        models_down_after_s: float = 600.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._runtime = runtime
        self._alerter = alerter
        self._reports = reports
        self._interval = interval_s
        self._models_down_after = models_down_after_s
        self._now = now
        self.failing_since: float | None = None
        self.last_success: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._unlisten: Callable[[], None] | None = None

    def start(self) -> None:
        self._unlisten = self._runtime.bus.listen(self.observe)
        self._runtime.status_providers.append(self._status)
        self._task = asyncio.create_task(self._loop(), name="alerts")

    async def stop(self) -> None:
        """Called first in the stop order: no alert is sent about the gateway's own shutdown."""
        if self._unlisten is not None:
            self._unlisten()
        with contextlib.suppress(ValueError):
            self._runtime.status_providers.remove(self._status)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def observe(self, event: ev.Event) -> None:
        """Track whether models answer at all; wake at once when a profile needs a human."""
        if isinstance(event, ev.RunFinal) and event.run.model not in (None, GATEWAY_MODEL):
            self.last_success = self._now()
            self.failing_since = None
        elif isinstance(event, ev.RunError) and event.attempts:
            if self.failing_since is None:
                self.failing_since = self._now()
        elif isinstance(event, ev.AuthNeedsReauth | ev.ApprovalRequested):
            self._wake.set()

    def due_alerts(self) -> list[Alert]:
        now = self._now()
        alerts = profile_alerts(self._reports(), now=now)
        down = models_down_alert(
            failing_since=self.failing_since,
            last_success=self.last_success,
            now=now,
            threshold_s=self._models_down_after,
        )
        waiting = [
            approval_alert(
                approval_id=a.id, question=approval_question(a.subject), expires_at=a.expires_at, now=now
            )
            for a in self._runtime.approvals.pending()
        ]
        channels = self._runtime.channels
        failed = channel_failed_alerts(channels.final_failures(), now=now) if channels is not None else []
        return [*alerts, *([down] if down else []), *waiting, *failed]

    async def check(self) -> list[tuple[Alert, Verdict]]:
        outcomes = []
        for alert in self.due_alerts():
            verdict = await self._alerter.anotify(alert)
            outcomes.append((alert, verdict))
            if verdict is Verdict.SEND:
                published = owner_alert(alert)
                self._runtime.bus.publish(published)
                channels = self._runtime.channels
                # an approval is already asked in the chat its run came from (tools_host)
                # and a failed channel is told on the others (its own outbox cannot deliver)
                if channels is not None and alert.kind is not AlertKind.APPROVAL_PENDING:
                    skip = alert.subject if alert.kind is AlertKind.CHANNEL_FAILED else None
                    with contextlib.suppress(Exception):
                        channels.notify_owner(f"Nexus alert: {published.line}", skip=skip)
        return outcomes

    async def _loop(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("alert check failed; trying again next interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()

    def _status(self) -> list[tuple[str, object]]:
        return [("alerts", recent_alerts(self._runtime.paths)[-10:])]


def owner_alert(alert: Alert) -> ev.OwnerAlert:
    return ev.OwnerAlert(**alert.to_json())
