"""Client-defined tools on ``/v1/chat/completions``: the OpenAI wire shapes to our types and back.

Pure functions. A request with ``tools`` becomes a :class:`ClientTurn`: ``tools`` are ToolSpecs, an
assistant message's ``tool_calls`` are ToolUseBlocks, each ``role: tool`` message a ToolResultBlock in
the user message that follows (consecutive messages of one role merge, as the model seam expects).
The seam lets the model choose, so ``tool_choice`` may be ``auto`` (or absent) only; everything else,
and the legacy ``functions``/``function_call``, is refused with an InvalidInput naming the parameter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from nexus.agent import journal as j
from nexus.gateway.client_turn import ClientTurn
from nexus.models.providers.openai_compat import encode_message
from nexus.models.types import ChatMessage, ContentBlock, TextBlock, ToolResultBlock, ToolSpec, ToolUseBlock
from nexus.protocol.messages import InvalidInput

LEGACY_REFUSED = "the legacy function-calling API is not supported; send 'tools' and 'tool_calls' instead"
CHOICE_REFUSED = (
    "only tool_choice 'auto' is supported (the model decides whether to call a tool); "
    "leave tool_choice out or send 'auto'"
)


def parse_client_turn(body: dict[str, Any]) -> ClientTurn | None:
    """The request's own tools and conversation, or None when it brings no tools (Nexus's own turn)."""
    for name in ("functions", "function_call"):
        if body.get(name) is not None:
            raise InvalidInput(name, LEGACY_REFUSED)
    messages = body.get("messages") or []
    for i, message in enumerate(messages):
        if message.get("role") == "function" or message.get("function_call") is not None:
            raise InvalidInput(f"messages[{i}]", LEGACY_REFUSED)
    raw_tools = body.get("tools")
    uses_tools = any(m.get("role") == "tool" or m.get("tool_calls") for m in messages)
    if not raw_tools:
        if uses_tools:
            raise InvalidInput("tools", "tool calls and results need the 'tools' they were made with")
        if body.get("tool_choice") not in (None, "auto", "none"):
            raise InvalidInput("tool_choice", "names a tool but the request has no 'tools'")
        return None
    if not isinstance(raw_tools, list):
        raise InvalidInput("tools", "must be a list of {type: function, function: {...}}")
    if body.get("tool_choice") not in (None, "auto"):
        raise InvalidInput("tool_choice", CHOICE_REFUSED)
    if body.get("parallel_tool_calls") is False:
        raise InvalidInput("parallel_tool_calls", "false is not supported: the model may call several tools")
    tools = tuple(_tool(i, t) for i, t in enumerate(raw_tools))
    numbered = list(enumerate(messages))
    system = [(i, m) for i, m in numbered if m.get("role") in ("system", "developer")]
    return ClientTurn(
        tools=tools,
        messages=_conversation([(i, m) for i, m in numbered if m.get("role") not in ("system", "developer")]),
        system="\n\n".join(_text(f"messages[{i}].content", m.get("content")) for i, m in system) or None,
    )


def _tool(i: int, raw: Any) -> ToolSpec:
    where = f"tools[{i}]"
    if (
        not isinstance(raw, dict)
        or raw.get("type") != "function"
        or not isinstance(raw.get("function"), dict)
    ):
        raise InvalidInput(where, "must be {type: 'function', function: {name, description, parameters}}")
    fn = raw["function"]
    name = fn.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{where}.function.name", "must be a non-empty string")
    description = fn.get("description") or ""
    if not isinstance(description, str):
        raise InvalidInput(f"{where}.function.description", "must be a string")
    parameters = fn.get("parameters") or {"type": "object", "properties": {}}
    if not isinstance(parameters, dict):
        raise InvalidInput(f"{where}.function.parameters", "must be a JSON schema object")
    return ToolSpec(name, description, parameters)


def _conversation(messages: Sequence[tuple[int, dict[str, Any]]]) -> tuple[ChatMessage, ...]:
    out: list[tuple[str, list[ContentBlock]]] = []
    for i, message in messages:
        role = message.get("role")
        blocks: list[ContentBlock]
        if role == "user":
            text = _text(f"messages[{i}].content", message.get("content"))
            blocks, role_of = ([TextBlock(text)] if text else []), "user"
        elif role == "assistant":
            text = _text(f"messages[{i}].content", message.get("content"))
            blocks = [TextBlock(text)] if text else []
            blocks.extend(
                _call(f"messages[{i}].tool_calls[{k}]", c)
                for k, c in enumerate(message.get("tool_calls") or ())
            )
            role_of = "assistant"
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise InvalidInput(
                    f"messages[{i}].tool_call_id", "must name the tool call this result answers"
                )
            blocks = [ToolResultBlock(call_id, _text(f"messages[{i}].content", message.get("content")))]
            role_of = "user"
        else:
            raise InvalidInput(
                f"messages[{i}].role", f"must be system, user, assistant or tool, got {role!r}"
            )
        if out and out[-1][0] == role_of:
            out[-1][1].extend(blocks)
        else:
            out.append((role_of, blocks))
    return tuple(ChatMessage(role, tuple(blocks)) for role, blocks in out if blocks)  # type: ignore[arg-type]


def _call(where: str, raw: Any) -> ToolUseBlock:
    fn = raw.get("function") if isinstance(raw, dict) else None
    if not isinstance(fn, dict) or not isinstance(raw.get("id"), str) or not isinstance(fn.get("name"), str):
        raise InvalidInput(where, "must be {id, type: 'function', function: {name, arguments}}")
    try:
        arguments = json.loads(fn.get("arguments") or "{}")
    except ValueError as exc:
        raise InvalidInput(f"{where}.function.arguments", "must be a JSON object in a string") from exc
    if not isinstance(arguments, dict):
        raise InvalidInput(f"{where}.function.arguments", "must be a JSON object in a string")
    return ToolUseBlock(raw["id"], fn["name"], arguments)


def _text(where: str, content: Any) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        parts = []
        for part in content:
            if (
                not isinstance(part, dict)
                or part.get("type") != "text"
                or not isinstance(part.get("text"), str)
            ):
                raise InvalidInput(where, "only text content parts are supported")
            parts.append(part["text"])
        return "\n".join(parts)
    raise InvalidInput(where, "must be a string or a list of text parts")


def tool_calls_json(calls: Sequence[j.ToolCall]) -> list[dict[str, Any]]:
    """The model's calls as ``message.tool_calls`` (``arguments`` a JSON string), encoded the way the
    OpenAI-compatible adapter sends them upstream."""
    blocks = tuple(ToolUseBlock(c.id, c.name, dict(c.input)) for c in calls)
    return list(encode_message(ChatMessage("assistant", blocks))[0].get("tool_calls", []))
