"""``nexus chat``'s Textual app: thin; it builds the engine and shows the chat screen."""

from __future__ import annotations

from textual.app import App

from nexus.client import ChatEngine, Deadlines, Endpoint


class ChatApp(App[None]):
    TITLE = "nexus chat"

    def __init__(
        self,
        *,
        endpoint: Endpoint,
        session: str,
        deadlines: Deadlines | None = None,
        engine: ChatEngine | None = None,
    ) -> None:
        super().__init__()
        self.engine = engine or ChatEngine(endpoint, session=session, deadlines=deadlines or Deadlines())

    def on_mount(self) -> None:
        from nexus.tui.screens import ChatScreen

        self.push_screen(ChatScreen(self.engine))

    async def on_unmount(self) -> None:
        await self.engine.aclose()  # the socket closes with the app, not whenever GC gets to it
