"""The ledger applies the cooldown policy and persists it (fake clock, in-memory store)."""

from __future__ import annotations

from nexus.common.clock import FakeClock
from nexus.models.cooldown import ANY_MODEL, Admission
from nexus.models.cooldown_store import MemoryCooldownStore
from nexus.models.errors import AuthRevoked, Billing, Overloaded
from nexus.models.ledger import Ledger


async def test_failure_probe_success_cycle_and_persistence() -> None:
    clock, store = FakeClock(), MemoryCooldownStore()
    ledger = Ledger(store, clock)
    entry = ledger.failed("p", "m", Overloaded("busy", status=529), probe_key=None, fingerprint="f1")
    assert entry is not None and entry.until == clock.time() + 30 and entry.fingerprint is None
    assert ledger.admission("p", "m") == (("p", "m"), Admission.SKIP)
    assert ledger.admission("p", "other") == (("p", "other"), Admission.GO)
    clock.advance(30)
    key, admission = ledger.admission("p", "m")
    assert admission is Admission.PROBE
    ledger.start_probe(key)
    assert ledger.admission("p", "m")[1] is Admission.SKIP  # one probe at a time
    again = ledger.failed("p", "m", Overloaded("busy", status=529), probe_key=key, fingerprint=None)
    assert again is not None and again.strikes == 2 and again.until == clock.time() + 60
    ledger.end_probe(key)
    clock.advance(61)
    ledger.succeeded("p", "m", key)
    assert ledger.cooldowns() == [] and ledger.outcome("p", "m").outcome == "ok"  # type: ignore[union-attr]
    await ledger.flush()
    assert store.state.cooldowns == {} and store.state.outcomes[("p", "m")].outcome == "ok"


async def test_credential_cooldowns_end_with_a_new_credential() -> None:
    ledger = Ledger(MemoryCooldownStore(), FakeClock())
    ledger.failed("p", "m", AuthRevoked("revoked", status=401), probe_key=None, fingerprint="old")
    assert ledger.needs_credential_check("p")
    assert ledger.admission("p", "any-model")[1] is Admission.SKIP  # profile-wide
    ledger.end_if_credential_changed("p", "old")
    assert ledger.cooldowns()[0].key == ("p", ANY_MODEL)
    ledger.end_if_credential_changed("p", "new")
    assert ledger.cooldowns() == []


def test_saves_at_once_without_an_event_loop() -> None:
    store = MemoryCooldownStore()
    ledger = Ledger(store, FakeClock())
    ledger.failed("p", "m", Billing("no credit", status=402), probe_key=None, fingerprint=None)
    assert store.saves == 1 and ("p", ANY_MODEL) in store.state.cooldowns
    assert ledger.clear(lambda key: key[0] == "p") == 1 and store.saves == 2
