"""Slash commands and Esc in the app, against the in-process gateway (fast, scripted router)."""

from __future__ import annotations

import asyncio

from nexus.client import Endpoint, Link, Phase
from nexus.common.secret import Secret
from nexus.tui.app import ChatApp
from nexus.tui.widgets import Note, RunItem
from tests.gateway.conftest import RunningGateway, ScriptedRouter
from tests.tui.conftest import until


def app_for(gw: RunningGateway, session: str) -> ChatApp:
    return ChatApp(endpoint=Endpoint(base_url=gw.base_url, token=Secret(gw.token)), session=session)


def notes(app: ChatApp) -> list[str]:
    return [n.text for n in app.screen.query(Note)]


async def test_status_models_help_and_a_typo(gateway: RunningGateway) -> None:
    app = app_for(gateway, "c1")
    async with app.run_test() as pilot:
        await until("connected", lambda: app.engine.state.link is Link.CONNECTED)
        for count, line in enumerate(("/status", "/models", "/help", "/stauts"), start=1):
            await pilot.press(*line, "enter")
            await until(f"output of {line}", lambda n=count: len(notes(app)) >= n)
        out = notes(app)
    assert out[0].startswith("gateway 0.1.0 pid ") and "ready: True" in out[0]
    assert (
        out[1].startswith("chain: anthropic/claude-opus-4-5 -> ") and "test/echo (test:one): usable" in out[1]
    )
    assert "/quit" in out[2] and "Esc" in out[2]
    assert "unknown command /stauts" in out[3]
    assert gateway.token not in "".join(out)


async def test_new_session_starts_empty_and_sends_there(gateway: RunningGateway) -> None:
    app = app_for(gateway, "c2")
    async with app.run_test() as pilot:
        await until("connected", lambda: app.engine.state.link is Link.CONNECTED)
        await pilot.press(*"in c2", "enter")
        await until("answered", lambda: [r.phase for r in app.engine.state.runs] == [Phase.DONE])
        await pilot.press(*"/new other", "enter")
        await until("the transcript is cleared", lambda: not app.screen.query(RunItem))
        await pilot.press(*"in other", "enter")
        await until(
            "answered in the new session", lambda: [r.phase for r in app.engine.state.runs] == [Phase.DONE]
        )
        await pilot.press(*"/new c2", "enter")  # back to the first session: its history comes back
        await until("c2 history", lambda: [r.message for r in app.engine.state.runs] == ["in c2"])
    async with gateway.client() as http:
        other = (await http.get("/api/sessions/other/history")).json()["runs"]
    assert [r["message"] for r in other] == ["in other"]


async def test_escape_aborts_the_running_answer(gateway: RunningGateway, router: ScriptedRouter) -> None:
    router.gate = asyncio.Event()  # the model "thinks" until the test ends
    app = app_for(gateway, "c3")
    async with app.run_test() as pilot:
        await until("connected", lambda: app.engine.state.link is Link.CONNECTED)
        await pilot.press(*"think forever", "enter")
        await until(
            "calling", lambda: app.engine.state.runs and app.engine.state.runs[-1].phase is Phase.CALLING
        )
        await pilot.press("escape")
        await until("aborted", lambda: app.engine.state.runs[-1].phase is Phase.FAILED)
        view = app.engine.state.runs[-1]
        (item,) = app.screen.query(RunItem)
        assert "aborted by the user" in str(item.content)
    assert view.error == "aborted by the user"
