"""The channel decisions as tables: reconnect ladder, outbox retries, edit throttling, stall deadlines,
access, life cycle, message splitting. No I/O."""

from __future__ import annotations

import pytest

from nexus.channels import access, ladder, liveness, retry, throttle
from nexus.channels.access import Pending, Verdict
from nexus.channels.errors import PermanentSendError, RateLimited, TransientSendError
from nexus.channels.ladder import FailureKind
from nexus.channels.state import ChannelHealth, ChannelState, InvalidChannelTransition, check_transition


@pytest.mark.parametrize(
    ("failures", "kind", "delay"),
    [
        (1, FailureKind.TRANSPORT, 0.5),
        (2, FailureKind.TRANSPORT, 1.0),
        (4, FailureKind.TRANSPORT, 5.0),
        (7, FailureKind.TRANSPORT, 60.0),
        (100, FailureKind.TRANSPORT, 60.0),
        (1, FailureKind.CONFLICT, 5.0),
        (2, FailureKind.CONFLICT, 10.0),
        (50, FailureKind.CONFLICT, 60.0),
        (1, FailureKind.FATAL, 300.0),
        (1, FailureKind.STANDBY, 5.0),
        (40, FailureKind.STANDBY, 5.0),
    ],
)
def test_reconnect_ladder(failures: int, kind: FailureKind, delay: float) -> None:
    assert ladder.reconnect_delay(failures, kind) == delay


@pytest.mark.parametrize(
    ("previous", "connected_for", "after"),
    [(0, None, 1), (3, None, 4), (3, 5.0, 4), (6, 60.0, 1), (6, 3600.0, 1)],
)
def test_a_long_healthy_connection_resets_the_ladder(
    previous: int, connected_for: float | None, after: int
) -> None:
    assert ladder.failures_after(previous, connected_for_s=connected_for) == after


NOW = 10_000.0


@pytest.mark.parametrize(
    ("error", "attempts", "created_at", "expected"),
    [
        (TransientSendError("reset"), 1, NOW, retry.Retry(NOW + 1.0)),
        (TransientSendError("reset"), 3, NOW, retry.Retry(NOW + 4.0)),
        (TransientSendError("reset"), 11, NOW, retry.Retry(NOW + 60.0)),
        (TransientSendError("reset"), 12, NOW, retry.GiveUp("failed 12 times, last: reset")),
        (RateLimited("slow down", retry_after=7), 1, NOW, retry.Retry(NOW + 7.0)),
        (RateLimited("slow down", retry_after=7), 30, NOW, retry.Retry(NOW + 7.0)),
        (RateLimited("slow down", retry_after=7), 50, NOW, retry.GiveUp("rate limited 50 times: slow down")),
        (
            PermanentSendError("bot was blocked"),
            1,
            NOW,
            retry.GiveUp("refused by the platform: bot was blocked"),
        ),
        (TransientSendError("x"), 1, NOW - 90_000, retry.GiveUp("undelivered for over 24 h: x")),
    ],
)
def test_outbox_retry_decisions(
    error: Exception, attempts: int, created_at: float, expected: retry.Retry | retry.GiveUp
) -> None:
    assert retry.after_failure(error, attempts=attempts, now=NOW, created_at=created_at) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("now", "last", "shown", "pending", "expected"),
    [
        (0.0, None, "", "", None),
        (0.0, None, "", "   ", None),
        (0.0, None, "", "He", 0.0),
        (10.0, 9.5, "He", "Hello", 0.5),
        (10.0, 9.0, "He", "Hello", 0.0),
        (10.0, 5.0, "Hello", "Hello", None),
    ],
)
def test_edit_throttle(
    now: float, last: float | None, shown: str, pending: str, expected: float | None
) -> None:
    assert (
        throttle.edit_delay(now=now, last_edit_at=last, shown=shown, pending=pending, min_interval_s=1.0)
        == expected
    )


@pytest.mark.parametrize(
    ("text", "limit", "parts"),
    [
        ("", 10, [""]),
        ("short", 10, ["short"]),
        ("0123456789abc", 10, ["0123456789", "abc"]),
        ("line one\nline two\nend", 12, ["line one\n", "line two\nend"]),
    ],
)
def test_split_message(text: str, limit: int, parts: list[str]) -> None:
    assert throttle.split_message(text, limit=limit) == parts
    assert "".join(parts) == text


def test_preview_cuts_the_tail() -> None:
    assert throttle.preview("x" * 20, limit=10) == "x" * 8 + " …"
    assert throttle.preview("short", limit=10) == "short"


@pytest.mark.parametrize(
    ("now", "last_ok", "alive"),
    [(100.0, None, False), (100.0, 100.0, True), (100.0, 65.0, True), (100.0, 64.9, False)],
)
def test_transport_liveness(now: float, last_ok: float | None, alive: bool) -> None:
    assert liveness.transport_alive(now=now, last_ok_at=last_ok, poll_timeout_s=25, grace_s=10) is alive


ALLOW = {"1"}


@pytest.mark.parametrize(
    ("sender", "pairing", "pending", "now", "verdict"),
    [
        ("1", False, None, 0.0, Verdict.SERVE),
        ("2", False, None, 0.0, Verdict.DROP),
        ("2", True, None, 0.0, Verdict.OFFER_CODE),
        ("2", True, Pending("C", created_at=0.0, approved=False), 60.0, Verdict.WAIT),
        ("2", True, Pending("C", created_at=0.0, approved=False), 600.0, Verdict.REMIND_CODE),
        ("2", True, Pending("C", created_at=0.0, approved=False, reminded_at=600.0), 900.0, Verdict.WAIT),
        ("2", True, Pending("C", created_at=0.0, approved=False), 3601.0, Verdict.OFFER_CODE),
        ("2", True, Pending("C", created_at=0.0, approved=True), 99_999.0, Verdict.SERVE),
        ("2", False, Pending("C", created_at=0.0, approved=True), 1.0, Verdict.SERVE),
    ],
)
def test_access(sender: str, pairing: bool, pending: Pending | None, now: float, verdict: Verdict) -> None:
    assert access.decide(sender, allow=ALLOW, pairing=pairing, pending=pending, now=now) is verdict


def test_pairing_codes_are_unambiguous_and_normalized() -> None:
    code = access.new_code()
    assert len(code) == access.CODE_LENGTH and not set(code) & set("01OI")
    assert access.normalize_code(" abcd-efgh ") == "ABCDEFGH"


@pytest.mark.parametrize(
    ("current", "to", "ok"),
    [
        (ChannelState.STOPPED, ChannelState.STARTING, True),
        (ChannelState.STARTING, ChannelState.CONNECTED, True),
        (ChannelState.CONNECTED, ChannelState.BACKOFF, True),
        (ChannelState.BACKOFF, ChannelState.STARTING, True),
        (ChannelState.STARTING, ChannelState.STANDBY, True),
        (ChannelState.STANDBY, ChannelState.CONNECTED, False),
        (ChannelState.BACKOFF, ChannelState.CONNECTED, False),
        (ChannelState.STOPPED, ChannelState.CONNECTED, False),
        (ChannelState.FAILED, ChannelState.STARTING, True),
    ],
)
def test_channel_life_cycle(current: ChannelState, to: ChannelState, ok: bool) -> None:
    if ok:
        assert check_transition(current, to) is to
    else:
        with pytest.raises(InvalidChannelTransition):
            check_transition(current, to)


def test_health_keeps_transport_and_inbound_liveness_apart() -> None:
    health = ChannelHealth(name="telegram")
    health.move(ChannelState.STARTING, now=1.0)
    health.move(ChannelState.CONNECTED, now=2.0)
    health.transport_ok_at = 3.0
    status = health.to_status(transport_alive=True)
    assert status["state"] == "connected" and status["transport_alive"] is True
    assert status["last_inbound_at"] is None
