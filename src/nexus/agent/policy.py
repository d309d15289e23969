"""Whether one tool call may run: pure, from the registry and ``[tools]``.

``exec`` follows ``[tools] exec`` (allow | ask | deny); under ``ask``, a command matching one of
``[tools] allow`` runs without asking. A pattern is a shell glob over the whole command, and a
command with shell control characters (``;``, ``|``, ``&``, ``$``, backticks, redirections, newlines)
never matches one, so ``git status*`` cannot let ``git status; rm -rf ~`` through.

``schedule`` changes what runs later without anyone present, so it is gated like ``exec`` by the same
``[tools] exec`` setting: ``action=list`` only reads and always runs; ``add``/``remove`` run, ask or
are refused as ``exec`` would be (no allow pattern covers them). ``memory_search`` only reads.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nexus.agent.journal import Judgement, ToolCall, Verdict
from nexus.agent.registry import ToolRegistry
from nexus.agent.tool import ToolError
from nexus.config.schema import ToolsConfig

SHELL_CONTROL = frozenset(";|&$`<>\n\r(){}\\")
GATED = frozenset({"exec", "schedule"})


def command_allowed(command: str, patterns: list[str]) -> bool:
    """True when an allow pattern covers the whole command and it has no shell control characters."""
    text = command.strip()
    if not text or any(ch in SHELL_CONTROL for ch in text):
        return False
    return any(fnmatch.fnmatchcase(text, pattern.strip()) for pattern in patterns if pattern.strip())


def approval_subject(call: ToolCall, *, cwd: Path) -> dict[str, Any]:
    """What the owner is asked about, exactly: the approval is bound to this."""
    args = call.input if isinstance(call.input, dict) else {}
    if call.name == "schedule":
        job = {key: value for key, value in sorted(args.items()) if key != "action"}
        return {"schedule": args.get("action"), "job": job}
    return {"command": args.get("command"), "cwd": str(cwd)}


def approval_question(subject: Mapping[str, Any]) -> str:
    """The approval in words, the same on every channel, alert and command ("... to <this>?")."""
    if "schedule" in subject:
        job = subject.get("job") or {}
        name = job.get("name")
        if subject["schedule"] == "remove":
            return f"remove the scheduled job {name!r}"
        if job.get("every"):
            when = f"every {job['every']}"
        elif job.get("cron"):
            when = f"on cron `{job['cron']}`"
        else:
            when = f"once at {job.get('at')}"
        zone = f" {job['tz']}" if job.get("tz") else ""
        deliver = job.get("deliver") or "the log"
        return f"add the scheduled job {name!r} ({when}{zone}, answers to {deliver}) that will ask: {job.get('message')!r}"
    return f"run `{subject.get('command')}` in {subject.get('cwd')}"


def judge(call: ToolCall, *, registry: ToolRegistry, settings: ToolsConfig) -> Judgement:
    try:
        _tool, args = registry.parse(call.name, call.input)
    except ToolError as exc:
        return Judgement(Verdict.REFUSE, str(exc))
    if call.name not in GATED or getattr(args, "action", None) == "list":
        return Judgement(Verdict.RUN)
    if settings.exec == "deny":
        return Judgement(
            Verdict.REFUSE, f'{call.name} is disabled on this gateway ([tools] exec = "deny"); do without it'
        )
    if settings.exec == "allow":
        return Judgement(Verdict.RUN)
    command = getattr(args, "command", None)
    if command is not None and command_allowed(command, settings.allow):
        return Judgement(Verdict.RUN)
    return Judgement(Verdict.ASK)
