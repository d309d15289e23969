"""Approvals are rows: same id after a reopen, bound to the input, expiring, answered once."""

from __future__ import annotations

import pytest

from nexus.common.clock import FakeClock
from nexus.common.paths import NexusPaths
from nexus.store import open_database
from nexus.store.approvals import ApprovalClosed, ApprovalNotFound, ApprovalStatus, ApprovalStore

SUBJECT = {"command": "git push", "cwd": "/w"}


def _store(paths: NexusPaths, clock: FakeClock) -> ApprovalStore:
    return ApprovalStore(open_database(paths.state_db), now=clock.time)


def test_asking_again_after_a_restart_returns_the_same_approval(paths: NexusPaths) -> None:
    clock = FakeClock()
    first, created = _store(paths, clock).request(
        run_id="r", call_key="r:1:c", tool="exec", subject=SUBJECT, timeout_s=60, session="s"
    )
    assert created and first.status is ApprovalStatus.PENDING and first.id.startswith("apr_")
    again, created_again = _store(paths, clock).request(  # a new connection, as after a crash
        run_id="r", call_key="r:1:c", tool="exec", subject=SUBJECT, timeout_s=60
    )
    assert not created_again and again.id == first.id and again.expires_at == first.expires_at
    assert [a.id for a in _store(paths, clock).pending()] == [first.id]


def test_answer_once_and_expiry(paths: NexusPaths) -> None:
    clock = FakeClock()
    store = _store(paths, clock)
    a, _ = store.request(run_id="r", call_key="k1", tool="exec", subject=SUBJECT, timeout_s=60)
    b, _ = store.request(run_id="r", call_key="k2", tool="exec", subject=SUBJECT, timeout_s=60)
    approved = store.decide(a.id, approve=True, by="cli")
    assert approved.status is ApprovalStatus.APPROVED and approved.decided_by == "cli"
    with pytest.raises(ApprovalClosed) as closed:
        store.decide(a.id, approve=False, by="cli")
    assert closed.value.approval.status is ApprovalStatus.APPROVED
    clock.advance(61)
    assert store.get(b.id).status is ApprovalStatus.EXPIRED
    with pytest.raises(ApprovalClosed):
        store.decide(b.id, approve=True, by="cli")
    with pytest.raises(ApprovalNotFound, match="nexus approvals"):
        store.decide("apr_nope", approve=True, by="cli")
    assert store.pending() == []
    assert store.get(a.id).to_api()["subject"] == SUBJECT
