"""The built-in tools, one module each; ``builtin_tools()`` is what the registry starts with."""

from __future__ import annotations

from nexus.agent.tool import Tool


def builtin_tools() -> list[Tool]:
    from nexus.agent.tools.edit_file import EditFile
    from nexus.agent.tools.exec import Exec
    from nexus.agent.tools.list_dir import ListDir
    from nexus.agent.tools.read_file import ReadFile
    from nexus.agent.tools.send_message import SendMessage
    from nexus.agent.tools.web_fetch import WebFetch
    from nexus.agent.tools.write_file import WriteFile

    return [Exec(), ReadFile(), WriteFile(), EditFile(), ListDir(), WebFetch(), SendMessage()]


__all__ = ["builtin_tools"]
