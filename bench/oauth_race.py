"""Naive vs Nexus: N processes share one OAuth profile while its access token keeps expiring.

Each process loops: get a token, call a protected resource on the fake token server (127.0.0.1),
on 401 ask once for a better token. ``naive`` keeps the pair in memory and refreshes without a lock
(what OpenClaw-era clients and the incident's sibling programs do); ``nexus`` uses ProfileStore's
host-wide protocol. Printed per run: refreshes sent, failed requests, family revocations, p99 wait
for a token. Target for Nexus: 0 failures and 0 revocations at every N.

    python bench/oauth_race.py [--ns 2,8,32] [--ttl 2.0] [--expiries 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.auth.race_worker import RaceResult, race  # noqa: E402


def row(result: RaceResult) -> str:
    return (
        f"{result.mode:<6} {result.processes:>3} {result.seconds:>6.1f}s {result.expiries:>8} "
        f"{result.refreshes:>9} {result.ok:>7} {result.failed:>7} {result.revoked_families:>8} "
        f"{result.reuse_detected:>6} {result.p99_wait_ms():>9.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ns", default="2,8,32", help="process counts, comma-separated")
    parser.add_argument("--ttl", type=float, default=2.0, help="access token lifetime in seconds")
    parser.add_argument("--expiries", type=int, default=5, help="token lifetimes each run lasts")
    args = parser.parse_args()
    counts = [int(n) for n in args.ns.split(",") if n.strip()]
    seconds = args.ttl * args.expiries + 1.0
    print(f"token lifetime {args.ttl}s, {args.expiries} lifetimes per run, processes {counts}")
    print("mode     N    wall expiries refreshes      ok  failed  revoked reuses  p99 wait ms")
    failures = 0
    with tempfile.TemporaryDirectory(prefix="nexus-oauth-race-") as tmp:
        for n in counts:
            for mode in ("naive", "nexus"):
                result = race(mode, n, seconds=seconds, ttl=args.ttl, workdir=Path(tmp) / f"{mode}-{n}")
                print(row(result), flush=True)
                if mode == "nexus" and (result.failed or result.revoked_families or any(result.exit_codes)):
                    failures += 1
    print("target: nexus rows with 0 failed and 0 revoked" + (" -- MISSED" if failures else " -- met"))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
