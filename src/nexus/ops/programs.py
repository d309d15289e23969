"""The one seam through which ops code runs other programs (systemctl, loginctl, systemd-analyze):
tests pass their own runner instead of patching anything."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

RUN_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class RunResult:
    code: int
    out: str
    err: str


Runner = Callable[[Sequence[str]], RunResult]


def run(argv: Sequence[str]) -> RunResult:
    """Run ``argv`` with a bound; a missing program is exit 127, a timeout exit 124 (like the shell)."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=RUN_TIMEOUT_S, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        return RunResult(127, "", f"{argv[0]}: not found")
    except subprocess.TimeoutExpired:
        return RunResult(124, "", f"{argv[0]}: no answer within {RUN_TIMEOUT_S:.0f}s")
    return RunResult(done.returncode, done.stdout, done.stderr)


def systemd_version(runner: Runner = run) -> int | None:
    """The major version of systemd (``systemctl --version``), None when there is no systemctl."""
    result = runner(["systemctl", "--version"])
    if result.code != 0:
        return None
    first = result.out.split("\n", 1)[0].split()
    try:
        return int(first[1]) if len(first) > 1 and first[0] == "systemd" else None
    except ValueError:
        return None
