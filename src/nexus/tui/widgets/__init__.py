"""Widgets of the chat screen."""

from nexus.tui.widgets.run_item import Note, RunItem
from nexus.tui.widgets.status_bar import StatusBar

__all__ = ["Note", "RunItem", "StatusBar"]
