"""The Textual app driven by Pilot against a real gateway process and the fake Anthropic API."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from nexus.client import ChatEngine, Deadlines, Endpoint, Link, Phase
from nexus.fakes.anthropic_server import Error, FakeAnthropic, Hang, Reply
from nexus.tui.app import ChatApp
from nexus.tui.widgets import Note, RunItem, StatusBar
from tests.gateway_process import GatewayProcess
from tests.tui.conftest import endpoint_of, until

OPUS = "claude-opus-4-5"
SONNET = "claude-3-7-sonnet-latest"


def app_for(gw: GatewayProcess, session: str, *, deadlines: Deadlines | None = None) -> ChatApp:
    return ChatApp(endpoint=endpoint_of(gw), session=session, deadlines=deadlines)


def http(gw: GatewayProcess) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {gw.token}"}
    return httpx.AsyncClient(base_url=gw.base_url, headers=headers, timeout=20, trust_env=False)


async def answered(gw: GatewayProcess, session: str, text: str) -> None:
    """Send over HTTP and long-poll until the run is done."""
    async with http(gw) as client:
        run_id = (await client.post("/api/messages", json={"session": session, "text": text})).json()[
            "run_id"
        ]
        run = (await client.get(f"/api/runs/{run_id}", params={"wait": 15})).json()
    assert run["status"] == "done", run


def items(app: ChatApp) -> list[RunItem]:
    return list(app.screen.query(RunItem))


def status(app: ChatApp) -> str:
    """The status line as rendered ("" before the chat screen is up)."""
    bars = app.screen.query(StatusBar) if app.screen_stack else []
    return bars[0].text if bars else ""


class StatusLog:
    """Every distinct status line seen while polling (transient states last only a moment)."""

    def __init__(self, app: ChatApp) -> None:
        self.app = app
        self.seen: list[str] = []

    def __call__(self) -> list[str]:
        try:
            line = status(self.app)
        except Exception:
            return self.seen
        if not self.seen or self.seen[-1] != line:
            self.seen.append(line)
        return self.seen

    def any(self, needle: str) -> bool:
        return any(needle in line for line in self())


async def test_history_on_open_then_a_streamed_answer(
    live_gateway: GatewayProcess, fake_anthropic: FakeAnthropic
) -> None:
    await answered(live_gateway, "t1", "earlier question")
    fake_anthropic.script(OPUS, Reply("one two three four five six", chunks=6, delay=0.15))
    app = app_for(live_gateway, "t1")
    async with app.run_test() as pilot:
        await until("history shown", lambda: any("earlier question" in str(i.content) for i in items(app)))
        await until("connected", lambda: app.engine.state.link is Link.CONNECTED)
        await pilot.press(*"tell me", "enter")
        partial: list[str] = []

        def streaming() -> bool:
            mine = [i for i in items(app) if i.view is not None and i.view.message == "tell me"]
            if mine and mine[0].view is not None and mine[0].view.phase is Phase.STREAMING:
                partial.append(str(mine[0].content))
            return len(partial) > 0

        await until("a partial answer rendered", streaming)
        await until("the answer is complete", lambda: "answered by anthropic/claude-opus-4-5" in status(app))
        final = [str(i.content) for i in items(app) if i.view is not None and i.view.message == "tell me"]
    assert "one two three four five six" not in partial[0]  # it was streaming, not all at once
    assert len(final) == 1 and final[0].count("one two three four five six") == 1


async def test_rate_limit_fallback_is_shown_in_the_status_line(
    live_gateway: GatewayProcess, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(OPUS, Error(429, retry_after=30))
    fake_anthropic.script(SONNET, Hang(seconds=1.0, after_chunks=0))  # long enough to read the status
    app = app_for(live_gateway, "t2")
    async with app.run_test() as pilot:
        log = StatusLog(app)
        await until("connected", lambda: app.engine.state.link is Link.CONNECTED)
        await pilot.press(*"hi", "enter")
        await until(
            "the fallback in the status line",
            lambda: log.any(
                "rate-limited on anthropic/claude-opus-4-5 -> trying anthropic/claude-3-7-sonnet-latest"
            ),
        )
        await until(
            "answered by the fallback", lambda: log.any("answered by anthropic/claude-3-7-sonnet-latest")
        )
        (item,) = items(app)
    assert "rate-limited on anthropic/claude-opus-4-5" in str(item.content)  # kept in the transcript too
    assert "echo: hi" in str(item.content)


async def test_auth_failure_is_shown_with_the_command_that_fixes_it(
    live_gateway: GatewayProcess, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.accept_token = lambda headers: False
    app = app_for(live_gateway, "t3")
    async with app.run_test() as pilot:
        await until("connected", lambda: app.engine.state.link is Link.CONNECTED)
        await pilot.press(*"hi", "enter")
        await until("the failure", lambda: "failed:" in status(app))
        line = status(app)
        (item,) = items(app)
    assert "auth failed for anthropic:env" in line
    assert "`nexus auth add-key anthropic`" in line
    assert "401" in line and "test-key" not in line
    assert "invalid x-api-key" in str(item.content)  # the per-attempt lines are in the transcript


async def test_kill_9_mid_answer_reconnects_and_the_answer_arrives_once(
    live_gateway: GatewayProcess, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(OPUS, Reply("slow words that will be cut off", chunks=8, delay=0.25))
    app = app_for(live_gateway, "t4")
    async with app.run_test() as pilot:
        log = StatusLog(app)
        await until("connected", lambda: app.engine.state.link is Link.CONNECTED)
        await pilot.press(*"survive this", "enter")
        await until(
            "streaming", lambda: app.engine.state.runs and app.engine.state.runs[-1].phase is Phase.STREAMING
        )
        live_gateway.kill()
        await until("reconnecting shown", lambda: log.any("gateway restarting — reconnecting (attempt"))
        await pilot.press(*"sent while down", "enter")  # waits in the outbox, sent once after the restart
        live_gateway.start()
        await until(
            "both answered",
            lambda: (
                all(r.phase is Phase.DONE for r in app.engine.state.runs) and len(app.engine.state.runs) == 2
            ),
            timeout=20,
        )
        texts = [str(i.content) for i in items(app)]
    async with http(live_gateway) as client:
        runs = (await client.get("/api/sessions/t4/history")).json()["runs"]
    assert [r["message"] for r in runs] == ["survive this", "sent while down"]  # nothing sent twice
    assert all(r["status"] == "done" for r in runs)
    assert len(texts) == 2
    assert texts[0].count("echo: survive this") == 1  # the resumed run answered once, partial text dropped
    assert "slow words" not in texts[0]
    assert texts[1].count("echo: sent while down") == 1


async def test_a_hanging_provider_is_explained_then_the_deadline_ends_the_wait(
    live_gateway: GatewayProcess, fake_anthropic: FakeAnthropic
) -> None:
    await answered(live_gateway, "warm-up", "hi")  # the first model call loads the provider SDK (~2 s)
    fake_anthropic.always(None, Hang())
    app = app_for(live_gateway, "t5", deadlines=Deadlines(idle_s=1.0, deadline_s=3.0))
    async with app.run_test() as pilot:
        log = StatusLog(app)
        await until("connected", lambda: app.engine.state.link is Link.CONNECTED)
        await pilot.press(*"hello?", "enter")
        took = await until(
            lambda: f"the gateway's view after a silence (seen: {log.seen})",
            lambda: log.any("gateway says: running, a worker is answering it"),
            timeout=5,
        )
        gave_up = await until("the run deadline", lambda: "gave up" in status(app), timeout=6)
        line = status(app)
        run_id = app.engine.state.runs[-1].run_id
    assert took < 1.0 + 1.5  # the idle deadline, plus a round trip and render on a busy 2-core box
    assert took + gave_up < 3.0 + 1.5
    assert f"run {run_id} stays in the gateway" in line
    async with http(live_gateway) as client:
        assert (await client.get(f"/api/runs/{run_id}")).json()["status"] == "running"  # still retrievable


async def test_gateway_not_running_is_said_within_two_seconds() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = Endpoint(base_url=f"http://127.0.0.1:{port}", token=None)
    app = ChatApp(endpoint=endpoint, session="t6", engine=ChatEngine(endpoint, session="t6"))
    async with app.run_test() as pilot:
        took = await until("not running shown", lambda: "nexus up" in status(app), timeout=2.0)
        await pilot.press(*"/status", "enter")
        await until("a note", lambda: len(app.screen.query(Note)) > 0)
        note = app.screen.query(Note).first().text
        assert "not running" in status(app)
    assert took < 2.0
    assert "not connected" in note


async def test_an_owner_alert_from_the_gateway_reaches_the_status_line(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    """The gateway publishes ``alert`` (every model down); the TUI's alert line shows it with its fix."""
    fake_anthropic.always(None, Error(500))
    home = tmp_path / "home"
    home.mkdir()
    (home / "nexus.toml").write_text("[alerts]\nmodels_down_after_s = 0.2\ncheck_interval_s = 0.1\n")
    env = {"ANTHROPIC_BASE_URL": fake_anthropic.base_url, "ANTHROPIC_API_KEY": "test-key"}
    with GatewayProcess(home, env=env) as gw:
        app = app_for(gw, "alerted")
        async with app.run_test() as pilot:
            await until("connected", lambda: "connected" in status(app))
            await pilot.press(*"anyone there?", "enter")
            await until("the failure", lambda: "failed" in status(app), timeout=20)
            await until(lambda: status(app), lambda: "alert: " in status(app), timeout=20)
            line = status(app)
    assert "every model has failed" in line and "nexus doctor" in line, line
