"""Execute one run: claim it, continue after its last committed step, ask the router, commit.

Every path ends the run in ``done`` or ``failed`` (abort, provider failure, internal error), so a
session lane never stays blocked and no run stays ``running`` after its worker is gone. Only a crash
of the whole process leaves ``running`` behind, and start-up recovery resumes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from nexus.config.schema import ModelRef, NexusConfig
from nexus.gateway.events import EventBus
from nexus.gateway.persona import Persona
from nexus.gateway.run_events import attempts_info, from_router, usage_of
from nexus.models.router import Candidate
from nexus.models.turn import (
    CallRequest,
    CallResult,
    EventSink,
    NoProviderConfigured,
    RouterEvent,
    TurnFailed,
)
from nexus.models.types import ChatMessage
from nexus.protocol import events as ev
from nexus.store import Run, RunStatus, RunStore

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
    ) -> None:
        self._store = store
        self._router = router
        self._bus = bus
        self._persona = persona
        self._config = config
        self._active: dict[str, asyncio.Task[CallResult]] = {}
        self._aborted: set[str] = set()

    @property
    def active_runs(self) -> list[str]:
        return list(self._active)

    async def execute(self, run_id: str) -> None:
        run = self._store.get(run_id)
        if run is None or run.status.finished:
            return  # aborted while queued, or already answered before a crash
        run = self._store.claim(run_id)
        session = run.session
        self._bus.publish(ev.RunStatus(run_id=run.id, session=session, attempt=run.attempts))
        try:
            finished = self._finish_from_steps(run)
            usage = None
            if finished is None:
                result = await self._ask_model(run)
                usage = usage_of(result)
                finished = self._store.finish(
                    run.id,
                    answer=result.text,
                    model=result.model,
                    profile=result.profile,
                    fell_back=result.fell_back,
                    step=(MODEL_STEP, _result_payload(result, usage)),
                )
            self._bus.publish(ev.RunFinal(run=finished.snapshot(), usage=usage))
        except NoProviderConfigured:
            done = self._store.finish(run.id, answer=SETUP_HELP, model=GATEWAY_MODEL)
            self._bus.publish(ev.RunFinal(run=done.snapshot()))
        except TurnFailed as exc:
            self._fail(
                run, exc.summary, soonest_retry=exc.soonest_retry, attempts=attempts_info(exc.attempts)
            )
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
            task.cancel()
            return True
        run = self._store.get(run_id)
        if run is not None and run.status is RunStatus.QUEUED:
            self._fail(run, "aborted by the user")
            return True
        return False

    def _finish_from_steps(self, run: Run) -> Run | None:
        """A crash after the model step was committed but before the run was: finish from the step."""
        for step in reversed(self._store.steps(run.id)):
            if step.kind == MODEL_STEP and isinstance(step.payload.get("text"), str):
                p = step.payload
                return self._store.finish(
                    run.id,
                    answer=p["text"],
                    model=p.get("model"),
                    profile=p.get("profile"),
                    fell_back=bool(p.get("fell_back")),
                )
        return None

    async def _ask_model(self, run: Run) -> CallResult:
        messages: list[ChatMessage] = []
        for earlier in self._store.history(
            run.session, before_seq=run.seq, turns=self._config.gateway.history_turns
        ):
            messages.append(ChatMessage(role="user", content=earlier.text))
            messages.append(ChatMessage(role="assistant", content=earlier.answer or ""))
        messages.append(ChatMessage(role="user", content=run.text))
        pinned_raw = self._store.pinned_model(run.session)
        turn = CallRequest(
            run_id=run.id,
            messages=tuple(messages),
            system=self._persona.system_prompt(),
            pinned=ModelRef.parse(pinned_raw) if pinned_raw else None,
        )
        task = asyncio.create_task(self._router.complete(turn, self._sink(run)), name=f"turn:{run.id}")
        self._active[run.id] = task
        try:
            # the router owns the turn deadline; this outer bound only guards against a router bug
            return await asyncio.wait_for(asyncio.shield(task), self._config.models.turn_timeout_s + 30)
        except TimeoutError as exc:
            task.cancel()
            raise TurnFailed(
                f"no answer within {self._config.models.turn_timeout_s + 30:.0f}s (turn deadline)"
            ) from exc
        except asyncio.CancelledError:
            task.cancel()
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
        self._bus.publish(ev.RunError(run=failed.snapshot(), soonest_retry=soonest_retry, attempts=attempts))


def _result_payload(result: CallResult, usage: ev.Usage | None) -> dict[str, Any]:
    extra = (
        {}
        if usage is None
        else {"usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}}
    )
    return {
        **extra,
        "text": result.text,
        "model": result.model,
        "profile": result.profile,
        "fell_back": result.fell_back,
        "stop_reason": result.stop_reason,
        "attempts": [
            {"model": a.model, "profile": a.profile, "outcome": a.outcome, "status": a.status}
            for a in result.attempts
        ],
    }
