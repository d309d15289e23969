"""Model cooldowns as the gateway left them in ``run/cooldowns.json``, read from outside.

The doctor may not import the model layer (it diagnoses the gateway without loading it), so this
reads only the few fields it reports: who is cooling, why, and until when. A candidate cooling for
an hour is the incident's failure mode (the assistant silent while the owner waits), so it is named
with the command that clears it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from nexus.ops.findings import Finding, Severity, ok

LONG_COOLDOWN_S = 300.0
"""A cooldown longer than this is worth a warning: the gateway skips that candidate meanwhile."""


@dataclass(frozen=True)
class CooldownFact:
    profile: str
    model: str
    kind: str
    until: float
    """Epoch seconds; ``math.inf`` until a human acts."""
    reason: str = ""


def gather_cooldowns(path: Path) -> list[CooldownFact]:
    """The cooldowns on disk (none when the file is missing); a damaged file raises, and the doctor
    reports that it could not look."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    facts = []
    for item in raw.get("cooldowns", []):
        until = item.get("until")
        facts.append(
            CooldownFact(
                profile=str(item["profile"]),
                model=str(item["model"]),
                kind=str(item["kind"]),
                until=math.inf if until is None else float(until),
                reason=str(item.get("reason") or ""),
            )
        )
    return facts


def check_cooldowns(facts: list[CooldownFact], *, now: float) -> Finding:
    """Pure: which candidates the gateway is skipping right now, and how to make it try them again."""
    live = [f for f in facts if f.until > now]
    if not live:
        return ok("model-cooldowns", "no model candidate is cooling")
    parts = []
    worst = Severity.INFO
    for f in sorted(live, key=lambda f: f.until):
        model = "every model" if f.model == "*" else f.model
        left = "until a human acts" if math.isinf(f.until) else f"{math.ceil(f.until - now)}s more"
        parts.append(f"{f.profile} {model}: {f.kind}, {left}" + (f" ({f.reason[:80]})" if f.reason else ""))
        if math.isinf(f.until) or f.until - now > LONG_COOLDOWN_S:
            worst = Severity.WARN
    return Finding(
        "model-cooldowns",
        worst,
        f"{len(live)} model candidate(s) cooling, skipped by the gateway: " + "; ".join(parts),
        remedy="`nexus models` shows them; `nexus models reset [provider/model]` clears them "
        "(the running gateway picks that up at its next message)",
        details={"cooling": len(live)},
    )
