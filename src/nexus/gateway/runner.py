"""Execute one run: claim it, drive its tool loop from the last committed step, commit the answer.

The turn belongs to the loop (``nexus.agent.loop``): model calls and tool calls are committed steps,
so a resumed run continues where the journal ends, never restarting the turn or repeating a tool.

Every path ends the run in ``done`` or ``failed`` (abort, provider failure, internal error), so a
session lane never stays blocked and no run stays ``running`` after its worker is gone. Only a crash
of the whole process leaves ``running`` behind, and start-up recovery resumes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

from nexus.agent.loop import ABORT, LoopEnd, ToolLoop
from nexus.common.logsetup import run_context
from nexus.config.schema import NexusConfig
from nexus.gateway.compactor import Compactor
from nexus.gateway.events import EventBus
from nexus.gateway.model_caller import RouterCaller
from nexus.gateway.persona import Persona
from nexus.gateway.run_events import from_router
from nexus.models.router import Candidate
from nexus.models.turn import (
    CallRequest,
    CallResult,
    EventSink,
    NoProviderConfigured,
    RouterEvent,
    TurnFailed,
)
from nexus.protocol import events as ev
from nexus.store import Run, RunStatus, RunStore
from nexus.store.memory import MemoryStore

log = logging.getLogger(__name__)

MODEL_STEP = "model_call"
GATEWAY_MODEL = "nexus"

SETUP_HELP = """\
Nexus has no model provider configured yet, so no model can answer. Set one up, then send again:
  - Anthropic API key:          nexus auth add-key anthropic      (or export ANTHROPIC_API_KEY=...)
  - Claude subscription token:  claude setup-token, then  nexus auth add-token anthropic
  - Reuse Claude Code's login:  nexus auth borrow claude-code
  - OpenAI-compatible endpoint: export OPENAI_API_KEY=...  or add a [providers.NAME] table to nexus.toml
Check with `nexus models probe`; the chain is [models] primary/fallbacks in nexus.toml (docs/auth.md)."""


class ModelRouter(Protocol):
    """What the gateway needs of the model layer (implemented by ``nexus.models.router.Router``)."""

    async def complete(self, request: CallRequest, sink: EventSink) -> CallResult:
        """ONE model call with fallback across the candidates (a turn with tools makes several)."""
        ...

    def candidates(self) -> list[Candidate]: ...

    async def aclose(self) -> None: ...


class RunExecutor:
    def __init__(
        self,
        *,
        store: RunStore,
        router: ModelRouter,
        bus: EventBus,
        persona: Persona,
        config: NexusConfig,
        loop: ToolLoop,
    ) -> None:
        self._loop = loop
        self._store = store
        self._router = router
        self._bus = bus
        self._persona = persona
        self._config = config
        self._active: dict[str, asyncio.Task[LoopEnd]] = {}
        self._aborted: set[str] = set()
        self._compactor = Compactor(
            store=store,
            memory=MemoryStore(store.conn),
            router=router,
            turns=config.gateway.history_turns,
            budget_chars=config.agent.context_chars,
            keep_turns=config.agent.compact_keep_turns,
        )

    @property
    def active_runs(self) -> list[str]:
        return list(self._active)

    async def execute(self, run_id: str) -> None:
        with run_context(run_id):  # every log line of the run, and of the tasks it starts, names it
            await self._execute(run_id)

    async def _execute(self, run_id: str) -> None:
        run = self._store.get(run_id)
        if run is None or run.status.finished:
            return  # aborted while queued, or already answered before a crash
        run = self._store.claim(run_id)
        session = run.session
        self._bus.publish(ev.RunStatus(run_id=run.id, session=session, attempt=run.attempts))
        try:
            end = await self._drive(run)
            finished = self._store.finish(
                run.id, answer=end.text, model=end.model, profile=end.profile, fell_back=end.fell_back
            )
            usage = ev.Usage(end.input_tokens, end.output_tokens) if end.model_calls else None
            self._bus.publish(ev.RunFinal(run=finished.snapshot(), usage=usage))
        except NoProviderConfigured:
            done = self._store.finish(run.id, answer=SETUP_HELP, model=GATEWAY_MODEL)
            self._bus.publish(ev.RunFinal(run=done.snapshot()))
        except TurnFailed as exc:
            self._fail(run, exc.summary, soonest_retry=exc.soonest_retry, attempts=exc.attempts)
        except asyncio.CancelledError:
            if run_id in self._aborted:
                self._aborted.discard(run_id)
                self._fail(run, "aborted by the user")
                return
            # the gateway is stopping in order: hand the run back, uncounted, for the next start
            with contextlib.suppress(Exception):
                self._store.release(run_id)
            raise
        except Exception as exc:
            log.exception("run %s failed inside the gateway", run.id)
            self._fail(run, f"internal error in the gateway: {type(exc).__name__}: {exc}")

    def abort(self, run_id: str) -> bool:
        """Stop a run: cancel it if answering, fail it if still queued."""
        task = self._active.get(run_id)
        if task is not None:
            self._aborted.add(run_id)
            task.cancel(ABORT)
            return True
        run = self._store.get(run_id)
        if run is not None and run.status is RunStatus.QUEUED:
            self._fail(run, "aborted by the user")
            return True
        return False

    async def _drive(self, run: Run) -> LoopEnd:
        caller = RouterCaller(
            router=self._router,
            store=self._store,
            persona=self._persona,
            config=self._config,
            run=run,
            sink=self._sink(run),
            compactor=self._compactor,
        )
        started_at = self._store.first_step_at(run.id) or run.started_at or time.time()
        task = asyncio.create_task(
            self._loop.run(
                run.id,
                model=caller,
                started_at=started_at,
                session=run.session,
                sink=self._bus.publish,
                client_tools=run.client_turn is not None,
            ),
            name=f"run:{run.id}",
        )
        self._active[run.id] = task
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError as exc:
            task.cancel(*exc.args[:1])  # the tools' own cleanup runs (exec kills its whole tree)
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, 10)
            raise
        finally:
            self._active.pop(run.id, None)

    def _sink(self, run: Run) -> EventSink:
        session = run.session

        def on_event(event: RouterEvent) -> None:
            for published in from_router(event, run_id=run.id, session=session):
                self._bus.publish(published)

        return on_event

    def _fail(
        self,
        run: Run,
        reason: str,
        *,
        soonest_retry: float | None = None,
        attempts: tuple[ev.AttemptInfo, ...] = (),
    ) -> None:
        current = self._store.get(run.id)
        if current is None or current.status.finished:
            return
        failed = self._store.fail(run.id, reason)
        log.warning("run failed: %s", reason)
        self._bus.publish(ev.RunError(run=failed.snapshot(), soonest_retry=soonest_retry, attempts=attempts))
