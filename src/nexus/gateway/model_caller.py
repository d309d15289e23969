"""The tool loop's model seam, implemented with the router: one model call over a run's journal.

It builds the conversation (the session's earlier turns, the run's message, then the run's own
committed model calls and tool results), asks the router for ONE call with fallback, and hands the
answer back as a journal entry. The router's events go to the bus as they happen (streaming between
steps); the cost estimate comes from ``[agent.prices]``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from nexus.agent import journal as j
from nexus.agent.registry import ToolSpec
from nexus.config.schema import ModelRef, NexusConfig
from nexus.gateway.persona import Persona
from nexus.models.turn import EventSink, Turn, TurnFailed
from nexus.models.types import ChatMessage
from nexus.store import Run, RunStore


class RouterCaller:
    def __init__(
        self,
        *,
        router: object,
        store: RunStore,
        persona: Persona,
        config: NexusConfig,
        run: Run,
        sink: EventSink,
    ) -> None:
        self._router = router
        self._store = store
        self._persona = persona
        self._config = config
        self._run = run
        self._sink = sink
        self._history = self._earlier_turns()

    async def __call__(self, journal: Sequence[j.Entry], tools: list[ToolSpec]) -> j.ModelCalled:
        run = self._run
        pinned_raw = self._store.pinned_model(run.session)
        turn = Turn(
            run_id=run.id,
            messages=(*self._history, ChatMessage(role="user", content=run.text)),
            system=self._persona.system_prompt(),
            pinned=ModelRef.parse(pinned_raw) if pinned_raw else None,
        )
        bound = self._config.models.turn_timeout_s + 30
        started = time.monotonic()
        try:
            # the router owns the call's deadline; this outer bound only guards against a router bug
            result = await asyncio.wait_for(self._router.run(turn, self._sink), bound)  # type: ignore[attr-defined]
        except TimeoutError as exc:
            raise TurnFailed(f"no answer within {time.monotonic() - started:.0f}s (turn deadline)") from exc
        usage = getattr(result, "usage", None)
        tokens_in = int(getattr(usage, "input_tokens", 0) or 0)
        tokens_out = int(getattr(usage, "output_tokens", 0) or 0)
        return j.ModelCalled(
            text=result.text,
            model=result.model,
            profile=result.profile,
            fell_back=result.fell_back,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=j.estimate_cost(result.model, tokens_in, tokens_out, self._config.agent.prices),
        )

    def _earlier_turns(self) -> tuple[ChatMessage, ...]:
        messages: list[ChatMessage] = []
        for earlier in self._store.history(
            self._run.session, before_seq=self._run.seq, turns=self._config.gateway.history_turns
        ):
            messages.append(ChatMessage(role="user", content=earlier.text))
            messages.append(ChatMessage(role="assistant", content=earlier.answer or ""))
        return tuple(messages)
