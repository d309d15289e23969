"""Eight real processes share one OAuth profile across several token lifetimes.

The incident's root cause 1 as a test: with the protocol, the family is never revoked, no request
fails, and the endpoint sees one refresh per expiry, however many processes want the token.
"""

from __future__ import annotations

from pathlib import Path

from tests.auth.race_worker import race

TTL_S = 1.2
RUN_S = 7.5  # >= 5 expiries of a 1.2 s token, even after process start-up


def test_eight_processes_share_one_profile_without_revoking_it(tmp_path: Path) -> None:
    result = race("nexus", 8, seconds=RUN_S, ttl=TTL_S, workdir=tmp_path)
    assert result.exit_codes == [0] * 8
    assert result.revoked_families == 0 and result.reuse_detected == 0
    assert result.failed == 0
    assert result.ok > 8 * 20  # they really were busy
    assert result.expiries >= 5
    # one refresh per token lifetime: never early (each pair is spent only at 3/4 of its life, the
    # refresh margin), never twice (no reuse), so refreshes == lifetimes elapsed at that pace
    assert min(result.refresh_ages) >= 0.75 * TTL_S - 0.05
    assert result.refreshes == len(result.refresh_ages)
    assert result.refreshes <= result.seconds / (0.75 * TTL_S) + 1
    assert result.refreshes >= 5


def test_naive_clients_revoke_the_family(tmp_path: Path) -> None:
    """The control: without the protocol, the first shared expiry kills the login for everyone."""
    result = race("naive", 4, seconds=3.0, ttl=1.0, workdir=tmp_path)
    assert result.revoked_families == 1
    assert result.failed > 0
