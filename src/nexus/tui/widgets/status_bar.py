"""The status line at the bottom: the state comes down as an attribute, the clock ticks it."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from nexus.client import ChatState, Link
from nexus.tui.status import status_line


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { dock: bottom; height: auto; padding: 0 1; background: $panel; }
    StatusBar.-trouble { background: $error 40%; }
    """

    def __init__(self, state: ChatState) -> None:
        super().__init__()
        self.state = state
        self.text = ""

    def on_mount(self) -> None:
        self.refresh_line()
        self.set_interval(1.0, self.refresh_line)  # elapsed time moves even when no event comes

    def show(self, state: ChatState) -> None:
        self.state = state
        self.refresh_line()

    def refresh_line(self) -> None:
        self.text = status_line(self.state, time.monotonic(), time.time())
        self.set_class(self.state.link is not Link.CONNECTED, "-trouble")
        self.update(Text(self.text))
