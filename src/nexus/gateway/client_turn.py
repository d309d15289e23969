"""A turn whose tools are the client's: its tools, its system text and its whole conversation.

A ``/v1`` request that brings ``tools`` owns its conversation (the client sends it all, tool calls
and results included), so the run asks the model exactly that instead of the session's history. It
is stored on the run as JSON, so a run resumed after a crash asks the same thing again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nexus.models.types import ChatMessage, ContentBlock, TextBlock, ToolResultBlock, ToolSpec, ToolUseBlock


@dataclass(frozen=True)
class ClientTurn:
    tools: tuple[ToolSpec, ...]
    messages: tuple[ChatMessage, ...]
    system: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "system": self.system,
                "tools": [
                    {"name": t.name, "description": t.description, "input_schema": dict(t.input_schema)}
                    for t in self.tools
                ],
                "messages": [
                    {"role": m.role, "content": [_block_json(b) for b in m.blocks]} for m in self.messages
                ],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str) -> ClientTurn:
        data = json.loads(raw)
        return cls(
            system=data.get("system"),
            tools=tuple(ToolSpec(t["name"], t["description"], t["input_schema"]) for t in data["tools"]),
            messages=tuple(
                ChatMessage(m["role"], tuple(_block_of(b) for b in m["content"])) for m in data["messages"]
            ),
        )


def _block_json(block: ContentBlock) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    if isinstance(block, ToolUseBlock):
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": dict(block.input)}
    return {
        "type": "tool_result",
        "tool_use_id": block.tool_use_id,
        "content": block.content,
        "is_error": block.is_error,
    }


def _block_of(raw: dict[str, Any]) -> ContentBlock:
    if raw["type"] == "text":
        return TextBlock(raw["text"])
    if raw["type"] == "tool_use":
        return ToolUseBlock(raw["id"], raw["name"], raw["input"])
    return ToolResultBlock(raw["tool_use_id"], raw["content"], bool(raw.get("is_error")))
