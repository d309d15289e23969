"""The registry (names, schemas, bad input) and the approval policy, by tables."""

from __future__ import annotations

import pytest

from nexus.agent.journal import ToolCall, Verdict
from nexus.agent.policy import command_allowed, judge
from nexus.agent.registry import DuplicateTool, ToolRegistry
from nexus.agent.tool import ToolError
from nexus.agent.tools import builtin_tools
from nexus.agent.tools.read_file import ReadFile
from nexus.config.schema import ToolsConfig

REGISTRY = ToolRegistry(builtin_tools())


def test_the_tools_and_their_fields_are_exactly_the_issue_s() -> None:
    specs = {s.name: s.input_schema for s in REGISTRY.specs()}
    fields = {name: (set(s["properties"]), set(s.get("required", []))) for name, s in specs.items()}
    assert fields == {
        "exec": ({"command", "timeout_s"}, {"command"}),
        "read_file": ({"path", "offset", "limit"}, {"path"}),
        "write_file": ({"path", "content"}, {"path", "content"}),
        "edit_file": ({"path", "old", "new"}, {"path", "old", "new"}),
        "list_dir": ({"path"}, set()),
        "web_fetch": ({"url"}, {"url"}),
        "send_message": ({"session", "channel", "chat", "text"}, {"text"}),
    }
    assert all(s["type"] == "object" and s["additionalProperties"] is False for s in specs.values())
    assert all(tool.description for tool in builtin_tools())


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(DuplicateTool):
        ToolRegistry([ReadFile(), ReadFile()])


@pytest.mark.parametrize(
    ("name", "raw", "says"),
    [
        ("rm_rf", {}, "unknown tool 'rm_rf'; the tools are: edit_file, exec"),
        ("read_file", "path.txt", "must be a JSON object"),
        ("read_file", {}, "path: Field required"),
        ("read_file", {"path": "a", "offset": 0}, "offset: Input should be greater than or equal to 1"),
        ("exec", {"command": "ls", "cwd": "/"}, "cwd: Extra inputs are not permitted"),
        ("send_message", {"text": "hi"}, "either session, or channel and chat"),
        ("send_message", {"channel": "telegram", "text": "hi"}, "channel and chat go together"),
    ],
)
def test_bad_input_is_a_tool_error_naming_it(name: str, raw: object, says: str) -> None:
    with pytest.raises(ToolError, match=None) as info:
        REGISTRY.parse(name, raw)
    assert says in str(info.value)


@pytest.mark.parametrize(
    ("command", "patterns", "allowed"),
    [
        ("git status", ["git status"], True),
        ("git log --oneline", ["git log*"], True),
        ("ls *.py", ["ls *"], True),
        ("git status; rm -rf ~", ["git status*"], False),
        ("git status && curl x", ["git status*"], False),
        ("echo $(cat ~/.nexus/gateway.token)", ["echo *"], False),
        ("cat a > b", ["cat *"], False),
        ("ls\nrm x", ["ls*"], False),
        ("rm -rf /", ["git *"], False),
        ("   ", ["*"], False),
    ],
)
def test_allow_patterns_never_cover_shell_control(command: str, patterns: list[str], allowed: bool) -> None:
    assert command_allowed(command, patterns) is allowed


@pytest.mark.parametrize(
    ("settings", "call", "verdict", "says"),
    [
        (ToolsConfig(), ToolCall("1", "exec", {"command": "ls"}), Verdict.ASK, ""),
        (ToolsConfig(allow=["ls"]), ToolCall("1", "exec", {"command": "ls"}), Verdict.RUN, ""),
        (ToolsConfig(exec="allow"), ToolCall("1", "exec", {"command": "rm x"}), Verdict.RUN, ""),
        (
            ToolsConfig(exec="deny", allow=["ls"]),
            ToolCall("1", "exec", {"command": "ls"}),
            Verdict.REFUSE,
            "deny",
        ),
        (ToolsConfig(), ToolCall("1", "read_file", {"path": "a"}), Verdict.RUN, ""),
        (ToolsConfig(), ToolCall("1", "nope", {}), Verdict.REFUSE, "unknown tool"),
        (ToolsConfig(), ToolCall("1", "exec", {"cmd": "ls"}), Verdict.REFUSE, "invalid input"),
    ],
)
def test_judge(settings: ToolsConfig, call: ToolCall, verdict: Verdict, says: str) -> None:
    judgement = judge(call, registry=REGISTRY, settings=settings)
    assert judgement.verdict is verdict
    assert says in judgement.reason
