"""Tables of cases for the pure auth decisions."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from nexus.auth.policy import (
    DAY_S,
    ProfileStatus,
    RefreshVerdict,
    StatusInputs,
    classify_refresh_error,
    due_warnings,
    order_profiles,
    parse_duration,
    profile_status,
    refresh_due,
    refresh_margin,
)

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("configured", "lifetime", "expected"),
    [
        (300, None, 300),  # unknown lifetime: the configured margin
        (300, 3600, 300),  # an hour-long token: 5 minutes ahead
        (300, 600, 150),  # a 10-minute token: never more than a quarter of its life
        (300, 2.0, 0.5),  # the tests' 2-second tokens
        (0, 3600, 0),
        (300, 0, 300),  # nonsense lifetime ignored
    ],
)
def test_refresh_margin(configured: float, lifetime: float | None, expected: float) -> None:
    assert refresh_margin(configured, lifetime) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("expires", "margin", "due"),
    [
        (None, 300, False),  # long-lived token without expiry
        (NOW + 3600, 300, False),
        (NOW + 301, 300, False),
        (NOW + 300, 300, True),  # exactly at the margin
        (NOW + 10, 300, True),
        (NOW - 1, 300, True),  # already expired
        (NOW + 1, 0, False),
    ],
)
def test_refresh_due(expires: float | None, margin: float, due: bool) -> None:
    assert refresh_due(now_s=NOW, expires_s=expires, margin_s=margin) is due


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        (StatusInputs(refreshable=True, expires_s=NOW - 10), ProfileStatus.OK),  # oauth: routine expiry
        (StatusInputs(refreshable=False, expires_s=None), ProfileStatus.OK),
        (StatusInputs(refreshable=False, expires_s=NOW + 30 * DAY_S), ProfileStatus.OK),
        (StatusInputs(refreshable=False, expires_s=NOW + 6 * DAY_S), ProfileStatus.EXPIRING),
        (StatusInputs(refreshable=False, expires_s=NOW - 1), ProfileStatus.EXPIRED),
        (StatusInputs(refreshable=True, expires_s=NOW + 99, needs_reauth=True), ProfileStatus.NEEDS_REAUTH),
        (StatusInputs(refreshable=False, expires_s=NOW - 1, needs_reauth=True), ProfileStatus.NEEDS_REAUTH),
        (StatusInputs(refreshable=True, expires_s=None, cooldown_until_s=NOW + 5), ProfileStatus.COOLING),
        (StatusInputs(refreshable=True, expires_s=None, cooldown_until_s=NOW - 5), ProfileStatus.OK),
        (StatusInputs(refreshable=False, expires_s=NOW - 1, cooldown_until_s=NOW + 5), ProfileStatus.EXPIRED),
        (
            StatusInputs(refreshable=True, expires_s=None, invalid=True, needs_reauth=True),
            ProfileStatus.INVALID,
        ),
    ],
)
def test_profile_status(inputs: StatusInputs, expected: ProfileStatus) -> None:
    assert profile_status(inputs, now_s=NOW) is expected


@pytest.mark.parametrize(
    ("left_days", "already", "expected"),
    [
        (30, (), []),
        (7.5, (), []),
        (7, (), [7]),
        (6.9, (), [7]),
        (6.9, (7,), []),
        (0.9, (7,), [1]),
        (0.5, (), [7, 1]),  # found late: both due, the caller fires the tightest
        (0.5, (7, 1), []),
        (-1, (), []),  # already expired: that is a status, not a warning
    ],
)
def test_due_warnings(left_days: float, already: tuple[int, ...], expected: list[int]) -> None:
    assert due_warnings(now_s=NOW, expires_s=NOW + left_days * DAY_S, already=already) == expected


def test_due_warnings_without_expiry() -> None:
    assert due_warnings(now_s=NOW, expires_s=None, already=()) == []


@pytest.mark.parametrize(
    ("names", "explicit", "kinds", "good", "expected"),
    [
        (["b", "a"], (), {}, {}, ["a", "b"]),
        (["k", "o", "t"], (), {"k": "api_key", "o": "oauth", "t": "token"}, {}, ["o", "t", "k"]),
        (["k", "o"], ("k",), {"k": "api_key", "o": "oauth"}, {}, ["k", "o"]),
        (["a", "b"], ("zzz", "b"), {}, {}, ["b", "a"]),  # unknown names in the order are ignored
        (["a", "b"], (), {"a": "oauth", "b": "oauth"}, {"b": 10.0}, ["b", "a"]),  # last good first
        (["a", "a", "b"], (), {}, {}, ["a", "b"]),
    ],
)
def test_order_profiles(
    names: list[str],
    explicit: tuple[str, ...],
    kinds: dict[str, str],
    good: dict[str, float],
    expected: list[str],
) -> None:
    assert order_profiles(names, explicit=explicit, kinds=kinds, last_good=good) == expected


@pytest.mark.parametrize(
    ("status", "error", "verdict"),
    [
        (400, "invalid_grant", RefreshVerdict.REAUTH),
        (400, "refresh_token_reused", RefreshVerdict.REAUTH),
        (401, "invalid_token", RefreshVerdict.REAUTH),
        (401, "invalid_client", RefreshVerdict.REAUTH),
        (400, None, RefreshVerdict.RETRY_LATER),  # garbled answer: do not condemn the token
        (429, None, RefreshVerdict.RETRY_LATER),
        (500, "server_error", RefreshVerdict.RETRY_LATER),
        (503, None, RefreshVerdict.RETRY_LATER),
        (None, None, RefreshVerdict.RETRY_LATER),  # timeout / connection refused
        (400, "invalid_request", RefreshVerdict.RETRY_LATER),
    ],
)
def test_classify_refresh_error(status: int | None, error: str | None, verdict: RefreshVerdict) -> None:
    assert classify_refresh_error(status, error) is verdict


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("365d", 365 * DAY_S),
        ("12h", 43200),
        ("30m", 1800),
        ("90s", 90),
        ("2w", 14 * DAY_S),
        ("1y", 365 * DAY_S),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-3d", "0d", "d"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="365d"):
        parse_duration(text)


@given(
    configured=st.floats(min_value=0, max_value=86_400),
    lifetime=st.floats(min_value=0.001, max_value=10 * 86_400),
)
def test_margin_never_exceeds_a_quarter_of_the_lifetime(configured: float, lifetime: float) -> None:
    margin = refresh_margin(configured, lifetime)
    assert 0 <= margin <= configured and margin <= lifetime / 4 + 1e-9


@given(
    expires=st.floats(min_value=0, max_value=4e9),
    margin=st.floats(min_value=0, max_value=86_400),
    before=st.floats(min_value=0, max_value=86_400),
)
def test_a_token_is_always_due_by_its_expiry_and_never_before_its_margin(
    expires: float, margin: float, before: float
) -> None:
    assert refresh_due(now_s=expires, expires_s=expires, margin_s=margin)
    assume(abs(before - margin) > 1e-3)  # away from the boundary, where float rounding decides
    due_early = refresh_due(now_s=expires - before, expires_s=expires, margin_s=margin)
    assert due_early is (before < margin)
