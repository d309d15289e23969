"""The scheduler: one per home (by lease), firing due cron jobs as ordinary durable runs.

It runs on the event loop, not in a thread of its own: tried, a second SQLite writer thread made
jitter worse (the GIL and SQLite's busy-wait back-off against the loop's commits), see
docs/schedules.md. All the due fires of one wake commit in one transaction instead.

Each wake: renew the lease (a gateway without it fires nothing), list due jobs, ask the pure
planner (``nexus.schedule.plan``) which slots fire under the job's catch-up policy, and commit the
fires with their runs in one transaction (``CronStore.fire``); the runs then join their session's
lane like any message. It sleeps until the next slot, at most ``max_idle_s``, so jobs written by
``nexus cron add`` from another process are seen within a second.

Jitter: reading and planning 1,000 jobs due on the same second costs as much as committing their
fires, so the loop wakes ``lead_s`` before a slot, reads and plans it, sleeps to the slot and only
commits there. The plan is dropped (read again at the slot) when any job was edited meanwhile, here
or by another process; a job whose next slot moved meanwhile (a failure's backoff) fails the
commit's compare-and-set and is planned again at its new slot.

When a fire's run ends, the outcome is recorded (failure backoff, alert after repeated failures) and
its answer queued to the job's ``deliver`` chat in the same transaction; at start, fires whose runs
ended while the gateway was down are settled the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

from nexus.schedule import HEARTBEAT_JOB, plan
from nexus.schedule.heartbeat import HEARTBEAT_FILE, checklist, has_something_to_say, heartbeat_prompt
from nexus.store import Run
from nexus.store.cron import SCHEDULER_LEASE, CronStore, Fired, FireRequest, Job, Lease, Outcome

log = logging.getLogger(__name__)

__all__ = ["SCHEDULER_LEASE", "Scheduler"]


class Scheduler:
    def __init__(
        self,
        *,
        cron: CronStore,
        lease: Lease,
        submit: Callable[[Run], None],
        workspace: Path,
        alert: Callable[[Outcome], None] = lambda outcome: None,
        clock: Callable[[], float] = time.time,
        max_idle_s: float = 1.0,
        lead_s: float = 0.25,
    ) -> None:
        self.cron = cron
        self.lease = lease
        self._submit = submit
        self._workspace = workspace
        self._alert = alert
        self._clock = clock
        self._max_idle = max_idle_s
        self._lead = lead_s
        self._prepared: tuple[int, tuple[int, int], list[FireRequest]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._renewed_at = -1e18
        self.holding = False
        self.fired_total = 0

    # -- one pass (synchronous, so tests drive it with an injected clock) ----------------------

    def tick(self) -> list[Fired]:
        """Fire what is due and hand the runs over (tests call this directly)."""
        fired = self.fire_due()
        self.hand_over(fired)
        return fired

    def hand_over(self, fired: list[Fired]) -> None:
        for one in fired:
            if one.run is not None:
                self._submit(one.run)
            else:
                log.info("cron %s: skipped slot %d (nothing to do)", one.job, one.scheduled_for)

    def fire_due(self) -> list[Fired]:
        """Renew the lease and commit the due fires; nothing is handed to the lanes yet."""
        now = self._clock()
        if now - self._renewed_at >= self.lease.ttl_s / 3 or not self.holding:
            self.holding = self.lease.acquire()
            self._renewed_at = now
        if not self.holding:
            return []
        requests = self._take_prepared(now)
        if requests is None:
            requests = [request for job in self.cron.due(now) for request in self._requests(job, now)]
        fired = self.cron.fire_all(requests, text=self._text) if requests else []
        self.fired_total += len(fired)
        return fired

    def prepare(self, slot: int) -> None:
        """Read and plan what fires at ``slot`` ahead of it (see the module's note on jitter)."""
        token = self.cron.edit_token()
        self._prepared = slot, token, [r for job in self.cron.due(slot) for r in self._requests(job, slot)]

    def _take_prepared(self, now: float) -> list[FireRequest] | None:
        prepared, self._prepared = self._prepared, None
        if prepared is None:
            return None
        slot, token, requests = prepared
        if int(now) != slot or self.cron.edit_token() != token:
            return None  # woke in another second, or a job changed: plan from what is stored now
        return requests

    def _requests(self, job: Job, now: float) -> list[FireRequest]:
        requests: list[FireRequest] = []
        if job.run_requested_at is not None:
            slot = int(job.run_requested_at)
            requests.append(FireRequest(job, (slot,), job.next_due, manual_at=job.run_requested_at))
        if job.next_due is not None and job.next_due <= now:
            decided = plan(job.schedule, due=job.next_due, now=now, anchor=job.anchor, policy=job.catch_up)
            if decided.missed:
                log.info("cron %s: %d missed slot(s) (catch-up %s)", job.name, decided.missed, job.catch_up)
            requests.append(FireRequest(job, decided.fire, decided.next_due, decided.missed))
        return requests

    def _text(self, job: Job, slot: int, missed: int) -> str | None:
        """The run's message; for the heartbeat, None (skip, no model call) without a checklist."""
        if job.name != HEARTBEAT_JOB or job.source != "heartbeat":
            if missed:
                return f"{job.message}\n\n(scheduled job {job.name!r}: {missed} earlier slot(s) missed while Nexus was down)"
            return job.message
        try:
            raw = (self._workspace / HEARTBEAT_FILE).read_text(encoding="utf-8", errors="replace")
        except OSError:
            raw = None
        content = checklist(raw)
        return heartbeat_prompt(content, every=job.schedule.expr) if content is not None else None

    def next_wake_in(self) -> float:
        due = self.cron.next_wake()
        now = self._clock()
        if due is None:
            return self._max_idle
        if due <= now:  # still due after a pass: a job that could not fire; retry, but never spin
            return min(0.25, self._max_idle)
        return min(due - now, self._max_idle)

    # -- outcomes -------------------------------------------------------------------------------

    def settle(self, run: Run) -> Outcome | None:
        """A cron run ended: record it and queue what it has to say (idempotent)."""
        if run.channel != "cron" or not run.status.finished:
            return None
        ok = run.status.value == "done"
        outcome = self.cron.record_outcome(
            run.id, ok=ok, error=run.error, message=lambda job: _message(job, run, ok)
        )
        if outcome is None:
            return None
        if outcome.text is not None and not outcome.queued:
            log.info("cron %s answered: %s", outcome.job.name, outcome.text)
        if not ok:
            log.warning("cron %s failed (%d in a row): %s", outcome.job.name, outcome.job.failures, run.error)
        if outcome.alert:
            with contextlib.suppress(Exception):
                self._alert(outcome)
        return outcome

    def settle_unsettled(self, get_run: Callable[[str], Run | None]) -> int:
        """At start: fires whose runs ended while nobody recorded them."""
        count = 0
        for run_id, _status, _error in self.cron.unsettled():
            run = get_run(run_id)
            if run is not None and self.settle(run) is not None:
                count += 1
        return count

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.holding:
            with contextlib.suppress(Exception):
                self.lease.release()  # the next gateway (same second, even) takes over at once
            self.holding = False

    async def _loop(self) -> None:
        while True:
            try:
                self.tick()
                wait = self.next_wake_in() if self.holding else self.lease.ttl_s / 3
                due = self.cron.next_wake() if self.holding else None
                if due is not None and wait > self._lead and due - self._clock() <= wait + 1e-3:
                    await asyncio.sleep(wait - self._lead)
                    self.prepare(int(due))
                    wait = max(0.0, due - self._clock())
            except Exception:
                log.exception("scheduler pass failed; trying again in a second")
                wait = 1.0
            await asyncio.sleep(wait)


def _message(job: Job, run: Run, ok: bool) -> str | None:
    if not ok:
        return f"⚠️ Scheduled job {job.name!r} failed: {(run.error or 'unknown error').splitlines()[0]}"
    if job.name == HEARTBEAT_JOB and job.source == "heartbeat" and not has_something_to_say(run.answer):
        return None
    return run.answer or None
