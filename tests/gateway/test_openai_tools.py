"""The pure mapping of client-defined tools: OpenAI wire shapes to our blocks, and refusals by table."""

from __future__ import annotations

from typing import Any

import pytest

from nexus.agent import journal as j
from nexus.gateway.client_turn import ClientTurn
from nexus.gateway.openai_tools import parse_client_turn, tool_calls_json
from nexus.models.types import ChatMessage, TextBlock, ToolResultBlock, ToolSpec, ToolUseBlock
from nexus.protocol.messages import InvalidInput

TOOL = {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}
USER = {"role": "user", "content": "hi"}
CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}


def test_a_conversation_with_calls_and_results_becomes_blocks() -> None:
    turn = parse_client_turn(
        {
            "tools": [TOOL],
            "messages": [
                {"role": "system", "content": "be brief"},
                USER,
                {"role": "assistant", "content": None, "tool_calls": [CALL]},
                {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "42"}]},
                {"role": "user", "content": "and?"},
            ],
        }
    )
    assert turn == ClientTurn(
        tools=(ToolSpec("f", "d", {"type": "object"}),),
        system="be brief",
        messages=(
            ChatMessage("user", (TextBlock("hi"),)),
            ChatMessage("assistant", (ToolUseBlock("c1", "f", {"x": 1}),)),
            ChatMessage("user", (ToolResultBlock("c1", "42"), TextBlock("and?"))),
        ),
    )
    assert ClientTurn.from_json(turn.to_json()) == turn  # what a resumed run reads back


def test_no_tools_is_nexus_own_turn() -> None:
    assert parse_client_turn({"messages": [USER]}) is None
    assert parse_client_turn({"messages": [USER], "tool_choice": "none"}) is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tools": [TOOL], "tool_choice": "required"}, "tool_choice"),
        ({"tools": [TOOL], "tool_choice": "none"}, "tool_choice"),
        ({"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "f"}}}, "tool_choice"),
        ({"tool_choice": {"type": "function", "function": {"name": "f"}}}, "tool_choice"),
        ({"tools": [TOOL], "parallel_tool_calls": False}, "parallel_tool_calls"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"function_call": "auto"}, "function_call"),
        ({"tools": {"f": 1}}, "tools"),
        ({"tools": [{"type": "web_search"}]}, "tools[0]"),
        ({"tools": [{"type": "function", "function": {"name": 3}}]}, "tools[0].function.name"),
        ({"extra": [{"role": "tool", "tool_call_id": "c1", "content": "x"}]}, "tools"),
        ({"tools": [TOOL], "extra": [{"role": "tool", "content": "x"}]}, "messages[1].tool_call_id"),
        ({"tools": [TOOL], "extra": [{"role": "function", "name": "f", "content": "x"}]}, "messages[1]"),
        (
            {
                "tools": [TOOL],
                "extra": [
                    {
                        "role": "assistant",
                        "tool_calls": [{**CALL, "function": {"name": "f", "arguments": "[1"}}],
                    }
                ],
            },
            "messages[1].tool_calls[0].function.arguments",
        ),
        (
            {"tools": [TOOL], "extra": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "messages[1].content",
        ),
        ({"tools": [TOOL], "extra": [{"role": "critic", "content": "x"}]}, "messages[1].role"),
    ],
)
def test_what_cannot_be_carried_is_refused_by_name(body: dict[str, Any], field: str) -> None:
    extra = body.pop("extra", [])
    with pytest.raises(InvalidInput) as caught:
        parse_client_turn({**body, "messages": [USER, *extra]})
    assert caught.value.field == field


def test_calls_go_back_as_openai_tool_calls() -> None:
    assert tool_calls_json([j.ToolCall("c1", "f", {"x": 1})]) == [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}}
    ]
