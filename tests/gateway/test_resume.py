"""A run interrupted after its model step was committed finishes from that step: no second model call."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nexus.common.paths import NexusPaths
from nexus.store import RunStatus, RunStore, open_database
from tests.gateway.conftest import ScriptedRouter, start_gateway


async def test_committed_step_is_not_repeated_after_a_crash(tmp_path: Path) -> None:
    home = tmp_path / "home"
    paths = NexusPaths(home=home)
    paths.ensure()
    store = RunStore(open_database(paths.state_db))
    interrupted, _ = store.accept(session="s", text="expensive question")
    store.claim(interrupted.id)
    store.add_step(interrupted.id, "model_call", {"text": "the answer already paid for", "model": "a/b"})
    queued, _ = store.accept(session="s", text="next")
    store.close()  # the "crash": the run stays running with its step committed

    router = ScriptedRouter()
    gw, stop, task = await start_gateway(home, router)
    try:
        async with gw.client() as client:
            first = (await client.get(f"/api/runs/{interrupted.id}", params={"wait": 5})).json()
            second = (await client.get(f"/api/runs/{queued.id}", params={"wait": 5})).json()
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    assert first["status"] == RunStatus.DONE.value
    assert first["text"] == "the answer already paid for" and first["model"] == "a/b"
    assert second["text"] == "echo: next"
    assert [turn.messages[-1].content for turn in router.calls] == ["next"]


async def test_an_orderly_stop_hands_the_run_back_uncounted(tmp_path: Path) -> None:
    home = tmp_path / "home"
    router = ScriptedRouter(gate=asyncio.Event())
    gw, stop, task = await start_gateway(home, router)
    async with gw.client() as client:
        run_id = (await client.post("/api/messages", json={"session": "s", "text": "long"})).json()["run_id"]
        for _ in range(200):
            if (await client.get(f"/api/runs/{run_id}")).json()["status"] == "running":
                break
            await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 15)
    store = RunStore(open_database(NexusPaths(home=home).state_db))
    run = store.get(run_id)
    store.close()
    assert run is not None and run.status is RunStatus.QUEUED and run.attempts == 0

    again = ScriptedRouter()
    gw, stop, task = await start_gateway(home, again)
    try:
        async with gw.client() as client:
            done = (await client.get(f"/api/runs/{run_id}", params={"wait": 5})).json()
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    assert done["status"] == "done" and done["text"] == "echo: long"
