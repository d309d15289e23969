"""The chat engine against a real gateway socket: lost events, gaps, deadlines, a refused token."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import pytest

from nexus.client import ChatEngine, ChatState, Connection, Deadlines, Endpoint, Link, Phase, Unauthorized
from nexus.common.secret import Secret
from tests.gateway.conftest import RunningGateway, ScriptedRouter


class DropFinals(Connection):
    """A connection that loses every ``run.final`` (as if the gateway's send failed), with or without
    a visible seq gap: the engine must still end the wait."""

    keep_seq = True

    def _dispatch(self, raw: str | bytes) -> None:
        frame = json.loads(raw)
        if frame.get("type") == "event" and frame.get("event") == "run.final":
            if self.keep_seq:
                self._last_seq = int(frame["seq"])  # lost silently: only the idle check can notice
            return  # else the next event shows a gap
        super()._dispatch(raw)


class DropFinalsWithGap(DropFinals):
    keep_seq = False


def endpoint_of(gw: RunningGateway, token: str | None = None) -> Endpoint:
    return Endpoint(base_url=gw.base_url, token=Secret(token or gw.token))


@pytest.fixture
async def engines() -> AsyncIterator[Callable[..., ChatEngine]]:
    made: list[tuple[ChatEngine, asyncio.Task[None]]] = []

    def make(endpoint: Endpoint, **kwargs: object) -> ChatEngine:
        engine = ChatEngine(endpoint, session="e", **kwargs)  # type: ignore[arg-type]
        made.append((engine, asyncio.create_task(engine.run())))
        return engine

    yield make
    for engine, task in made:
        await engine.aclose()
        task.cancel()
        with pytest.raises((asyncio.CancelledError, Unauthorized)):
            await task


def done(key: str) -> Callable[[ChatState], bool]:
    return lambda s: (v := s.run(key)) is not None and v.finished


async def test_a_lost_final_event_is_caught_by_the_idle_check(
    gateway: RunningGateway, engines: Callable[..., ChatEngine]
) -> None:
    async def connector(endpoint: Endpoint) -> Connection:
        return await DropFinals.open(endpoint)

    engine = engines(
        endpoint_of(gateway), connector=connector, deadlines=Deadlines(idle_s=0.3, deadline_s=10)
    )
    key = await engine.send("hello")
    started = asyncio.get_running_loop().time()
    state = await asyncio.wait_for(engine.wait_until(done(key)), 5)
    view = state.run(key)
    assert view is not None and (view.phase, view.text) == (Phase.DONE, "echo: hello")
    assert asyncio.get_running_loop().time() - started < 0.3 + 1.0


async def test_a_seq_gap_resyncs_without_waiting_for_the_idle_check(
    gateway: RunningGateway, engines: Callable[..., ChatEngine]
) -> None:
    async def connector(endpoint: Endpoint) -> Connection:
        return await DropFinalsWithGap.open(endpoint)

    engine = engines(endpoint_of(gateway), connector=connector, deadlines=Deadlines(idle_s=60, deadline_s=60))
    first = await engine.send("one")
    await asyncio.sleep(0.2)  # the first final is lost; the next event reveals the gap
    second = await engine.send("two")
    state = await asyncio.wait_for(engine.wait_until(done(first)), 5)
    assert state.run(first).text == "echo: one"  # type: ignore[union-attr]
    state = await asyncio.wait_for(engine.wait_until(done(second)), 5)
    assert state.run(second).phase is Phase.DONE  # type: ignore[union-attr]


async def test_the_run_deadline_ends_the_wait_and_the_run_stays_retrievable(
    gateway: RunningGateway, router: ScriptedRouter, engines: Callable[..., ChatEngine]
) -> None:
    router.gate = asyncio.Event()  # the model never answers until released
    engine = engines(endpoint_of(gateway), deadlines=Deadlines(idle_s=0.2, deadline_s=0.8))
    key = await engine.send("slow one")
    state = await asyncio.wait_for(engine.wait_until(done(key)), 3)
    view = state.run(key)
    assert view is not None and view.phase is Phase.ABANDONED
    assert f"run {view.run_id} stays in the gateway" in (view.error or "")
    router.gate.set()
    async with gateway.client() as http:
        run = (await http.get(f"/api/runs/{view.run_id}", params={"wait": 5})).json()
    assert (run["status"], run["text"]) == ("done", "echo: slow one")


async def test_a_refused_token_stops_the_engine_and_says_why(gateway: RunningGateway) -> None:
    engine = ChatEngine(endpoint_of(gateway, token="wrong"), session="e")
    with pytest.raises(Unauthorized):
        await asyncio.wait_for(engine.run(), 5)
    assert engine.state.link is Link.FAILED
    assert "nexus token" in engine.state.link_detail
