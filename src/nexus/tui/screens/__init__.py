"""Screens of the chat app, one per module."""

from nexus.tui.screens.chat import ChatScreen

__all__ = ["ChatScreen"]
