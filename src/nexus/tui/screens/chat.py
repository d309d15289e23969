"""The chat screen: transcript above, input and status line below.

The engine (all network I/O) runs in a worker; it reports each new state with a
:class:`StateChanged` message, and the screen renders it: one :class:`RunItem` per run, keyed by the
run's idempotency key, plus the status bar. The screen never decides what is happening; the state does.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input

from nexus.client import ChatEngine, ChatState, ClientError
from nexus.tui import commands
from nexus.tui.widgets import Note, RunItem, StatusBar


class StateChanged(Message):
    def __init__(self, state: ChatState) -> None:
        super().__init__()
        self.state = state


class ChatScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "abort", "Abort the answer"),
        Binding("ctrl+c", "app.quit", "Quit"),
    ]
    DEFAULT_CSS = """
    #transcript { height: 1fr; }
    #prompt { dock: bottom; margin-bottom: 1; }
    """

    def __init__(self, engine: ChatEngine) -> None:
        super().__init__()
        self.engine = engine
        engine.on_change = self._post_state  # the engine reports to this screen from now on
        self._items: dict[str, RunItem] = {}
        self._session = engine.state.session

    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="transcript")
        yield Input(placeholder="Message (Enter sends, Esc aborts, /help)", id="prompt")
        yield StatusBar(self.engine.state)

    def on_mount(self) -> None:
        self.query_one("#prompt", Input).focus()
        self.run_engine()

    @work(exclusive=True, group="engine", exit_on_error=False)
    async def run_engine(self) -> None:
        with contextlib.suppress(ClientError):
            await self.engine.run()  # on failure the state already says why and what fixes it

    def _post_state(self, state: ChatState) -> None:
        self.post_message(StateChanged(state))

    # -- rendering --------------------------------------------------------------------------------

    async def on_state_changed(self, message: StateChanged) -> None:
        state = self.engine.state  # the newest, even if messages queued up
        transcript = self.query_one("#transcript", VerticalScroll)
        if state.session != self._session:
            self._session = state.session
            await transcript.remove_children()
            self._items.clear()
            await transcript.mount(Note(f"new session {state.session}"))
        keys = {view.key for view in state.runs}
        for key in [k for k in self._items if k not in keys]:
            await self._items.pop(key).remove()
        new = []
        for view in state.runs:
            item = self._items.get(view.key)
            if item is None:
                item = self._items[view.key] = RunItem(view)
                new.append(item)
            elif item.view != view:
                item.view = view
        if new:
            await transcript.mount_all(new)
        self.query_one(StatusBar).show(state)
        transcript.scroll_end(animate=False)

    async def note(self, text: str) -> None:
        transcript = self.query_one("#transcript", VerticalScroll)
        await transcript.mount(Note(text))
        transcript.scroll_end(animate=False)

    # -- input ------------------------------------------------------------------------------------

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        line = event.value
        event.input.clear()
        if not line.strip():
            return
        parsed = commands.parse(line)
        if parsed is None:
            await self.engine.send(commands.message_text(line))
        elif isinstance(parsed, commands.BadCommand):
            await self.note(parsed.message)
        else:
            await self.perform(parsed)

    async def perform(self, command: commands.Command) -> None:
        if command.name == "/quit":
            self.app.exit()
        elif command.name == "/help":
            await self.note(commands.help_text())
        elif command.name == "/new":
            self.engine.new_session(command.arg or f"chat-{time.strftime('%Y%m%d-%H%M%S')}")
        elif command.name == "/status":
            self.ask("status", describe_status)
        elif command.name == "/models":
            self.ask("models.list", describe_models)

    @work(group="requests", exit_on_error=False)
    async def ask(self, method: str, describe: Any) -> None:
        try:
            body = await self.engine.request(method)
        except ClientError as exc:
            await self.note(f"{method}: {exc}")
            return
        await self.note(describe(body))

    async def action_abort(self) -> None:
        if not await self.engine.abort():
            await self.note("nothing to abort")


def describe_status(body: dict[str, Any]) -> str:
    lines = [
        f"gateway {body.get('version')} pid {body.get('pid')} up {float(body.get('uptime_s') or 0):.0f}s",
        f"ready: {body.get('ready')}  queue: {body.get('queue_depth')}  active runs: {body.get('active_runs')}",
    ]
    lines += [f"  not ready: {reason}" for reason in body.get("not_ready_reasons") or []]
    return "\n".join(lines)


def describe_models(body: dict[str, Any]) -> str:
    lines = ["chain: " + " -> ".join(body.get("chain") or ["(none)"])]
    for c in body.get("candidates") or []:
        usable = "usable" if c.get("usable") else f"unusable: {c.get('reason') or '?'}"
        cooling = (
            f", cooling until {time.strftime('%H:%M:%S', time.localtime(c['cooling_until']))}"
            if c.get("cooling_until")
            else ""
        )
        lines.append(f"  {c.get('model')} ({c.get('profile') or 'no profile'}): {usable}{cooling}")
    return "\n".join(lines) if lines else json.dumps(body)
