"""Model-facing value types shared by providers, the router and the gateway's runner.

A conversation is a tuple of :class:`ChatMessage`, each a role and content blocks, in Anthropic's
shape because it is the richer one (the OpenAI-compatible adapter maps it to ``tool_calls`` and
``role: tool`` messages):

    user       TextBlock ... | ToolResultBlock ...   (the results of the tools the model asked for)
    assistant  TextBlock ... | ToolUseBlock ...      (what the model said and the tools it called)

Because the request carries the whole block history, any candidate can continue a turn that another
candidate started, including after a tool ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant"]


@dataclass(frozen=True)
class TextBlock:
    text: str


@dataclass(frozen=True)
class ToolUseBlock:
    """The model asked for a tool: ``id`` pairs it with its :class:`ToolResultBlock`."""

    id: str
    name: str
    input: Mapping[str, Any]


@dataclass(frozen=True)
class ToolResultBlock:
    """What a tool gave back, in a ``user`` message after the assistant's :class:`ToolUseBlock`."""

    tool_use_id: str
    content: str
    is_error: bool = False


ContentBlock = TextBlock | ToolUseBlock | ToolResultBlock


@dataclass(frozen=True)
class ChatMessage:
    """One message; ``content`` is plain text or content blocks (plain text is one text block)."""

    role: Role
    content: str | tuple[ContentBlock, ...]

    @property
    def blocks(self) -> tuple[ContentBlock, ...]:
        if isinstance(self.content, str):
            return (TextBlock(self.content),) if self.content else ()
        return self.content

    @property
    def text(self) -> str:
        """The text blocks joined (what a text-only view of the message shows)."""
        if isinstance(self.content, str):
            return self.content
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call: its name, what it is for, and a JSON schema of its input."""

    name: str
    description: str
    input_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True)
class ModelRequest:
    """One call to one model: what a provider adapter turns into its wire format."""

    model: str
    messages: tuple[ChatMessage, ...]
    system: str | None = None
    max_tokens: int = 4096
    budget_s: float | None = None
    """What is left of the turn's deadline: the adapter never waits past it."""
    tools: tuple[ToolSpec, ...] = ()


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class TextDelta:
    """A piece of answer text, in order."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """A complete tool call, yielded once the model has finished it (its streamed input JSON parsed)."""

    id: str
    name: str
    input: Mapping[str, Any]


@dataclass(frozen=True)
class StreamEnd:
    """The stream finished cleanly; nothing follows."""

    stop_reason: str | None = None
    """As the provider said it (Anthropic ``end_turn``/``tool_use``/``max_tokens``; OpenAI
    ``stop``/``tool_calls``/``length``)."""
    usage: Usage = field(default_factory=Usage)


StreamItem = TextDelta | ToolCall | StreamEnd
