"""Every drill scenario against real processes: one sandbox (``nexus up`` in a temporary home, the
fakes), every fault injected from outside, each one's budget met: nothing refused, lost or answered
twice, the cause shown and, where due, the alert raised."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from nexus.common import NexusPaths
from nexus.drill import SCENARIOS, Result, run_drill, table

pytestmark = pytest.mark.timeout(300)

OWNER_CONFIG = """
[models]
primary = "anthropic/claude-opus-4-5"
fallbacks = ["anthropic/claude-3-5-haiku-latest"]

[supervisor]
healthy_after_s = 1.0
watchdog_interval_s = 0.5
watchdog_timeout_s = 2.0
backoff_initial_s = 0.1
backoff_max_s = 1.0
crash_loop_exits = 3

[alerts]
command = "echo this would page the owner >&2; exit 1"
"""


@pytest.fixture(scope="module")
def owner(tmp_path_factory: pytest.TempPathFactory) -> NexusPaths:
    paths = NexusPaths(home=tmp_path_factory.mktemp("owner") / ".nexus")
    paths.ensure()
    paths.config_file.write_text(OWNER_CONFIG)
    return paths


@pytest.fixture(scope="module")
def results(owner: NexusPaths) -> Iterator[dict[str, Result]]:
    done = run_drill(owner)
    print(table(done))  # the table from this machine, in the test log
    yield {r.name: r for r in done}


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
def test_scenario_meets_its_budget(results: dict[str, Result], name: str) -> None:
    result = results[name]
    if not result.available:
        pytest.skip(result.note)  # e.g. no pidfd_getfd on this kernel: reported, never passed
    assert result.ok, f"{name}: {'; '.join(result.misses)}\n{table([result])}"
    assert result.lost == 0 and result.duplicated == 0 and result.refused == 0
    assert result.sent > 0 and result.cause
    assert result.budget is not None and result.restored_s is not None and result.truth_s is not None
    assert result.restored_s <= result.budget.restored_s and result.truth_s <= result.budget.truth_s


def test_a_tool_call_cut_by_kill_9_ran_once_and_the_model_was_told_it_was_interrupted(
    results: dict[str, Result],
) -> None:
    result = results["tool_crash"]
    assert result.ok, result.misses
    assert "ran 1 time(s)" in result.note and "interrupted" in result.cause


def test_the_owner_is_never_paged_by_a_drill(results: dict[str, Result], owner: NexusPaths) -> None:
    assert any(r.alert for r in results.values())
    assert not (owner.run / "alerts.json").exists(), "the drill wrote to the owner's alert history"


def test_cli_json_for_one_scenario_and_an_unknown_one(owner: NexusPaths) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEXUS_", "ANTHROPIC_"))}
    env["NEXUS_HOME"] = str(owner.home)

    def nexus(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "nexus", "drill", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )

    done = nexus("rate_limit_storm", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    (row,) = doc["scenarios"]
    assert {"name", "restored_s", "refused", "lost", "duplicated", "truth_s", "ok"} <= set(row)
    assert row["name"] == "rate_limit_storm" and row["ok"] is True
    bad = nexus("no_such_thing")
    assert bad.returncode == 2 and "no_such_thing" in bad.stderr
