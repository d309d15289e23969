"""Child for the crash test: run one tool loop whose model asks for one long exec, until killed."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from nexus.agent import journal as j
from nexus.agent.loop import ToolLoop
from nexus.common.paths import NexusPaths
from nexus.store import RunStore, open_database
from tests.agent.conftest import make_world
from tests.agent.scripted import ScriptedModel


async def main(home: str, run_id: str, command: str) -> None:
    paths = NexusPaths(home=Path(home))
    store = RunStore(open_database(paths.state_db))
    model = ScriptedModel.of(j.ModelCalled("", (j.ToolCall("e1", "exec", {"command": command}),), model="m"))
    await ToolLoop(store=store, world=make_world(paths, store)).run(
        run_id, model=model, started_at=time.time()
    )


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
