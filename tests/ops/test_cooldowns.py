"""The doctor reads the router's cooldowns from outside and names the long ones with their fix."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from nexus.ops.cooldowns import CooldownFact, check_cooldowns, gather_cooldowns
from nexus.ops.findings import Severity

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("facts", "severity", "words"),
    [
        ([], Severity.OK, "no model candidate is cooling"),
        ([CooldownFact("p", "m", "rate_limit", NOW - 1)], Severity.OK, "no model candidate"),  # over
        ([CooldownFact("p", "m", "rate_limit", NOW + 20)], Severity.INFO, "p m: rate_limit, 20s more"),
        ([CooldownFact("p", "m", "connection", NOW + 3600)], Severity.WARN, "3600s more"),
        ([CooldownFact("p", "*", "auth_permanent", math.inf)], Severity.WARN, "every model"),
    ],
)
def test_check_cooldowns(facts: list[CooldownFact], severity: Severity, words: str) -> None:
    finding = check_cooldowns(facts, now=NOW)
    assert finding.severity is severity and words in finding.finding
    if severity is not Severity.OK:
        assert "nexus models reset" in (finding.remedy or "")


def test_gather_reads_the_gateways_file(tmp_path: Path) -> None:
    assert gather_cooldowns(tmp_path / "missing.json") == []
    path = tmp_path / "cooldowns.json"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "cooldowns": [
                    {"profile": "a:env", "model": "*", "kind": "billing", "until": None, "reason": "x"}
                ],
            }
        )
    )
    assert gather_cooldowns(path) == [CooldownFact("a:env", "*", "billing", math.inf, "x")]
