"""The tool contract: what every tool the assistant can call declares and does.

A tool is a small object with a name, a description, a pydantic model of its input (its JSON schema
is derived from it, so the schema the model sees and the validation applied are one thing), a
side-effect class and ``run``. ``run`` returns a :class:`ToolResult`; a problem the model should
hear about (a bad path, a missing match) is raised as :class:`ToolError` and becomes an
``is_error`` result, never a crashed run.

The side-effect class decides what a crash may do to a call: a ``none`` tool could be rerun, but even
then the journal reports an interrupted call to the model instead of rerunning it silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from nexus.config.schema import ToolsConfig
from nexus.errors import NexusError

if TYPE_CHECKING:
    from nexus.agent.workspace import Workspace


class SideEffect(StrEnum):
    NONE = "none"
    """Reads only (read_file, list_dir, web_fetch)."""
    WORKSPACE = "workspace"
    """Changes files in the workspace (write_file, edit_file)."""
    EXTERNAL = "external"
    """Acts on the world (exec, send_message): never repeated."""


class ToolError(NexusError):
    """A tool could not do what the model asked; the message goes back to the model as the result."""


class ToolInput(BaseModel):
    """Base of every tool's input model: unknown fields are refused, so a typo is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ToolResult:
    content: str
    is_error: bool = False


@dataclass
class ToolContext:
    """The world a tool acts in for one call; everything a tool touches comes through here."""

    run_id: str
    call_key: str
    """Unique per call across the run's life (also across crashes): ``<run>:<step>:<call id>``."""
    workspace: Workspace
    settings: ToolsConfig
    spool: Path
    """File for output as it is produced: after a crash it is the interrupted call's partial output."""
    environ: Mapping[str, str] = field(default_factory=dict)
    """The scrubbed environment ``exec`` gets (no secret Nexus knows)."""
    services: Mapping[str, Any] = field(default_factory=dict)
    """Named collaborators of some tools (``outbox``, ``routes``, ``fetch_transport``)."""
    progress: Callable[[str], None] = lambda _summary: None


class Tool(Protocol):
    name: ClassVar[str]
    description: ClassVar[str]
    Input: ClassVar[type[ToolInput]]
    side_effect: ClassVar[SideEffect]

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult: ...


def summarize(value: Any, limit: int = 120) -> str:
    """A one-line preview of a tool input for events and status lines."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clip(text: str, limit: int) -> str:
    """Keep the head and the tail of an oversized output and say how much was cut."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    cut = len(text) - head - tail
    return f"{text[:head]}\n[... {cut} characters cut ...]\n{text[-tail:]}"
