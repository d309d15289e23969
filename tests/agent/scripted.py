"""A scripted model for the tool loop: answers from a list, records every journal it was shown."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from nexus.agent.journal import Entry, ModelCalled, ToolFinished
from nexus.agent.registry import ToolSpec


@dataclass
class ScriptedModel:
    script: deque[ModelCalled] = field(default_factory=deque)
    seen: list[list[Entry]] = field(default_factory=list)
    gate: asyncio.Event | None = None

    @classmethod
    def of(cls, *steps: ModelCalled) -> ScriptedModel:
        return cls(script=deque(steps))

    async def __call__(self, journal: Sequence[Entry], tools: list[ToolSpec]) -> ModelCalled:
        self.seen.append(list(journal))
        if self.gate is not None:
            await self.gate.wait()
        return self.script.popleft() if self.script else ModelCalled("done", model="test/scripted")

    def results(self, call: int = -1) -> list[ToolFinished]:
        return [e for e in self.seen[call] if isinstance(e, ToolFinished)]
