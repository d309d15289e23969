"""The history a turn sends: the session's latest summary (if it was compacted) and the runs after it.

Before a turn whose history would pass ``[agent] context_chars``, the oldest runs (all but the
latest ``compact_keep_turns``) are summarised by the model and the summary stored
(``session_summaries``); the runs themselves stay in the journal and in memory search. If the
summary call fails, the turn goes on with the oldest runs left out, and the failure is logged: a
summary is an optimisation, never a reason to fail the user's message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from nexus.memory import runs_to_compact, summary_request
from nexus.models.turn import CallRequest
from nexus.models.types import ChatMessage
from nexus.schedule import HEARTBEAT_JOB
from nexus.store import Run, RunStore
from nexus.store.cron import CRON_CHANNEL
from nexus.store.memory import MemoryStore

log = logging.getLogger(__name__)

SUMMARY_HEADER = (
    "Summary of the earlier conversation in this session (the full messages are kept; "
    "memory_search finds them):"
)


@dataclass(frozen=True)
class Context:
    summary: str | None
    history: list[Run]


def _size(run: Run) -> int:
    return len(run.message) + len(run.answer or "")


class Compactor:
    def __init__(
        self,
        *,
        store: RunStore,
        memory: MemoryStore,
        router: Any,
        turns: int,
        budget_chars: int,
        keep_turns: int,
    ) -> None:
        self._store = store
        self._memory = memory
        self._router = router
        self._turns = turns
        self._budget = budget_chars
        self._keep = keep_turns

    def _turns_for(self, run: Run) -> int:
        """A heartbeat stands alone: its earlier beats would only multiply its cost (peers burnt
        hundreds of thousands of tokens per beat that way), so it gets no history."""
        if run.channel == CRON_CHANNEL and run.sender == HEARTBEAT_JOB:
            return 0
        return self._turns

    def _load(self, run: Run) -> Context:
        summary = self._memory.latest_summary(run.session, before_seq=run.seq)
        after = summary.upto_seq if summary is not None else 0
        history = [
            r
            for r in self._store.history(run.session, before_seq=run.seq, turns=self._turns_for(run))
            if r.seq > after
        ]
        return Context(summary.text if summary is not None else None, history)

    async def context(self, run: Run) -> Context:
        current = self._load(run)
        budget = self._budget - len(run.message) - len(current.summary or "")
        fold = runs_to_compact(
            [_size(r) for r in current.history], budget_chars=budget, keep_turns=self._keep
        )
        if fold == 0:
            return current
        folded, kept = current.history[:fold], current.history[fold:]
        request = summary_request(current.summary, [(r.message, r.answer or "") for r in folded])
        try:
            result = await self._router.complete(
                CallRequest(
                    run_id=f"{run.id}:compact", messages=(ChatMessage(role="user", content=request),)
                ),
                lambda event: None,
            )
        except Exception as exc:
            log.warning(
                "could not compact session %s (%s); leaving its %d oldest runs out", run.session, exc, fold
            )
            return Context(current.summary, kept)
        saved = self._memory.save_summary(
            run.session, upto_seq=folded[-1].seq, text=result.text.strip(), runs=fold
        )
        log.info("compacted %d runs of session %s into a summary", fold, run.session)
        return Context(saved.text, kept)


def system_with_summary(system: str | None, summary: str | None) -> str | None:
    if not summary:
        return system
    block = f"{SUMMARY_HEADER}\n{summary}"
    return f"{system}\n\n{block}" if system else block
