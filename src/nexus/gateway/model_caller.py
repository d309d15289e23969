"""The tool loop's model seam, implemented with the router: one model call over a run's journal.

It builds the conversation (the session's earlier turns from their committed steps, as the
:class:`Compactor` leaves them: after the session's summary, none for a heartbeat; the run's
message, then the run's own model calls and tool results), asks the router for ONE call with
fallback (``complete``), and hands the answer back as a journal entry. Because every call carries the
whole block history, a fallback to another candidate in the middle of a run continues from the
journaled steps. The router's events go to the bus as they happen (the answer streams between
steps); the cost estimate comes from ``[agent.prices]``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from nexus.agent import journal as j
from nexus.agent.loop import load_journal
from nexus.agent.transcript import run_messages
from nexus.config.schema import ModelRef, NexusConfig
from nexus.gateway.client_turn import ClientTurn
from nexus.gateway.compactor import Compactor, system_with_summary
from nexus.gateway.persona import Persona
from nexus.models.turn import CallRequest, EventSink, TurnFailed
from nexus.models.types import ChatMessage, ToolSpec
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
        compactor: Compactor,
    ) -> None:
        self._router = router
        self._store = store
        self._persona = persona
        self._config = config
        self._run = run
        self._sink = sink
        self._client = ClientTurn.from_json(run.client_turn) if run.client_turn else None
        self._compactor = compactor
        self._history: tuple[ChatMessage, ...] | None = None if self._client is None else ()
        self._summary: str | None = None

    async def _earlier(self) -> tuple[ChatMessage, ...]:
        """Built once per run, at its first model call (compaction may itself call the model)."""
        if self._history is None:
            context = await self._compactor.context(self._run)
            self._summary = context.summary
            self._history = session_history(self._store, context.history, self._config)
        return self._history

    async def __call__(self, journal: Sequence[j.Entry], tools: list[ToolSpec]) -> j.ModelCalled:
        run = self._run
        pinned_raw = self._store.pinned_model(run.session)
        system = self._persona.system_prompt()
        if self._client is None:
            messages = (*await self._earlier(), *run_messages(run.message, journal))
            system = system_with_summary(self._persona.system_prompt(), self._summary)
        else:  # the client's own conversation and tools; the journal is empty until the model answers
            messages, tools = list(self._client.messages), list(self._client.tools)
            system = "\n\n".join(p for p in (system, self._client.system) if p) or None
        request = CallRequest(
            run_id=run.id,
            messages=tuple(messages),
            system=system,
            pinned=ModelRef.parse(pinned_raw) if pinned_raw else None,
            tools=tuple(tools),
        )
        bound = self._config.models.turn_timeout_s + 30
        started = time.monotonic()
        try:
            # the router owns the call's deadline; this outer bound only guards against a router bug
            result = await asyncio.wait_for(self._router.complete(request, self._sink), bound)  # type: ignore[attr-defined]
        except TimeoutError as exc:
            raise TurnFailed(f"no answer within {time.monotonic() - started:.0f}s (turn deadline)") from exc
        tokens_in, tokens_out = result.usage.input_tokens, result.usage.output_tokens
        return j.ModelCalled(
            text=result.text,
            calls=tuple(j.ToolCall(c.id, c.name, dict(c.input)) for c in result.tool_calls),
            model=result.model,
            profile=result.profile,
            fell_back=result.fell_back,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=j.estimate_cost(result.model, tokens_in, tokens_out, self._config.agent.prices),
        )


def session_history(store: RunStore, runs: Sequence[Run], config: NexusConfig) -> tuple[ChatMessage, ...]:
    """These earlier answered runs, with their tool calls and (cut) results."""
    messages: list[ChatMessage] = []
    for earlier in runs:
        journal = load_journal(store, earlier.id)
        messages.extend(
            run_messages(
                earlier.message,
                journal,
                result_chars=config.agent.history_tool_chars,
                answer=earlier.answer or "",
            )
        )
    return tuple(messages)
