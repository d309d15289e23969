"""``nexus drill``: rehearse the incident on a disposable copy and time the recovery.

    sandbox.py    Sandbox: a temporary home on a free port, the fakes, the owner's config minus secrets
    traffic.py    steady messages during a fault and the accounting (refused, lost, answered twice)
    faults.py     the ways to break it from outside (signals, an escaped orphan, a sibling's refresh)
    scenarios.py  one function per scenario, in the order they run; SCENARIOS, BY_NAME
    report.py     Result, budgets (pure), the table and the JSON
    live.py       ``--live``: harmless probes of the real install

It drives real processes from outside (``nexus up``/``down`` subprocesses, the HTTP API, files under
``run/``) and never imports the gateway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from nexus.common import NexusPaths
from nexus.drill.report import Result, exit_code, table, to_json
from nexus.drill.sandbox import Sandbox, SandboxError
from nexus.drill.scenarios import BY_NAME, SCENARIOS, Scenario

__all__ = [
    "BY_NAME",
    "SCENARIOS",
    "Result",
    "Sandbox",
    "SandboxError",
    "Scenario",
    "exit_code",
    "run_drill",
    "table",
    "to_json",
]


def run_drill(
    owner: NexusPaths,
    names: Sequence[str] = (),
    *,
    on_result: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Run the named scenarios (all when empty) in one sandbox, in the table's order."""
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
    chosen = [s for s in SCENARIOS if not names or s.name in names]
    # the fakes' uvicorn logs every connection a killed gateway dropped mid-request; that is the drill
    logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
    results: list[Result] = []
    with Sandbox(owner) as box:
        for scenario in chosen:
            try:
                result = scenario.run(box)
            except SandboxError as exc:
                result = Result(scenario.name, misses=(f"the sandbox broke: {exc}",), note=str(exc)[:200])
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results
