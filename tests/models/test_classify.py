"""Classification of real-shaped error answers of Anthropic and OpenAI-compatible APIs (pure, by table)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus.models.classify import ErrorFacts, classify, error_for, facts_from_response, parse_retry_after
from nexus.models.errors import ModelFailureKind, RateLimited

K = ModelFailureKind


def anthropic(error_type: str, message: str, error_code: str | None = None) -> dict[str, object]:
    error: dict[str, object] = {"type": error_type, "message": message}
    if error_code:
        error["details"] = {"error_code": error_code}
    return {"type": "error", "error": error, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}


def openai(
    message: str, error_type: str, code: str | None = None, param: str | None = None
) -> dict[str, object]:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


CASES = [
    # --- Anthropic Messages API
    (
        "a 429",
        429,
        anthropic(
            "rate_limit_error",
            "This request would exceed the rate limit for your organization "
            "(1a2b) of 50 input tokens per minute.",
        ),
        {"retry-after": "17"},
        K.RATE_LIMIT,
        17.0,
    ),
    (
        "a spend cap",
        429,
        anthropic(
            "rate_limit_error",
            "Your organization has reached its monthly usage limit.",
            "enforced_spend_limit_reached",
        ),
        {},
        K.BILLING,
        None,
    ),
    (
        "a contract cap",
        429,
        anthropic("rate_limit_error", "Contract limit reached.", "contract_spend_limit_reached"),
        {},
        K.BILLING,
        None,
    ),
    (
        "a ramp limit",
        429,
        anthropic("rate_limit_error", "Usage is growing too fast.", "ramp_limit_exceeded"),
        {"retry-after": "4"},
        K.RATE_LIMIT,
        4.0,
    ),
    (
        "a 529",
        529,
        anthropic("overloaded_error", "Overloaded"),
        {"x-should-retry": "true"},
        K.OVERLOADED,
        None,
    ),
    (
        "an overload event mid-stream",
        None,
        anthropic("overloaded_error", "Overloaded"),
        {},
        K.OVERLOADED,
        None,
    ),
    (
        "an api_error event mid-stream",
        None,
        anthropic("api_error", "Internal server error"),
        {},
        K.SERVER,
        None,
    ),
    ("a bad key", 401, anthropic("authentication_error", "invalid x-api-key"), {}, K.AUTH, None),
    (
        "an expired OAuth token",
        401,
        anthropic(
            "authentication_error",
            "OAuth token has expired. Please obtain a new token or refresh your existing token.",
        ),
        {},
        K.AUTH,
        None,
    ),
    (
        "a revoked OAuth token",
        401,
        anthropic("authentication_error", "OAuth token has been revoked. Please obtain a new token."),
        {},
        K.AUTH_PERMANENT,
        None,
    ),
    (
        "no credit",
        400,
        anthropic(
            "invalid_request_error",
            "Your credit balance is too low to access the Anthropic "
            "API. Please go to Plans & Billing to upgrade or purchase credits.",
        ),
        {},
        K.BILLING,
        None,
    ),
    (
        "workspace usage limits",
        400,
        anthropic(
            "invalid_request_error",
            "You have reached your specified API usage "
            "limits. You will regain access on 2026-12-01 at 00:00 UTC.",
        ),
        {},
        K.BILLING,
        None,
    ),
    ("a 402", 402, anthropic("billing_error", "Payment required"), {}, K.BILLING, None),
    (
        "a 403",
        403,
        anthropic("permission_error", "Your API key does not have permission to use the specified resource."),
        {},
        K.PERMISSION,
        None,
    ),
    (
        "an unknown model",
        404,
        anthropic("not_found_error", "model: claude-opus-9"),
        {},
        K.MODEL_NOT_FOUND,
        None,
    ),
    (
        "prompt too long",
        400,
        anthropic("invalid_request_error", "prompt is too long: 214751 tokens > 200000 maximum"),
        {},
        K.CONTEXT_OVERFLOW,
        None,
    ),
    (
        "a 413",
        413,
        anthropic("request_too_large", "Request exceeds the maximum allowed number of bytes."),
        {},
        K.CONTEXT_OVERFLOW,
        None,
    ),
    (
        "another 400",
        400,
        anthropic("invalid_request_error", "messages.1.content: Input should be a valid list"),
        {},
        K.BAD_REQUEST,
        None,
    ),
    ("a 500", 500, anthropic("api_error", "Internal server error"), {}, K.SERVER, None),
    ("a 504", 504, anthropic("timeout_error", "Request timed out"), {}, K.TIMEOUT, None),
    # --- OpenAI and OpenAI-compatible
    (
        "an OpenAI 429",
        429,
        openai(
            "Rate limit reached for gpt-4o in organization org-x on requests per min (RPM): "
            "Limit 500, Used 500, Requested 1. Please try again in 120ms.",
            "requests",
            "rate_limit_exceeded",
        ),
        {"retry-after-ms": "120", "retry-after": "1"},
        K.RATE_LIMIT,
        0.12,
    ),
    (
        "an OpenAI free-tier 429 that mentions billing",
        429,
        openai(
            "Rate limit reached for requests. Add a payment "
            "method to your account to increase your rate limit. Visit https://platform.openai.com/account/billing to add "
            "a payment method.",
            "requests",
            "rate_limit_exceeded",
        ),
        {},
        K.RATE_LIMIT,
        None,
    ),
    (
        "OpenAI quota gone",
        429,
        openai(
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        ),
        {},
        K.BILLING,
        None,
    ),
    (
        "OpenRouter credits gone",
        402,
        {
            "error": {
                "code": 402,
                "message": "Insufficient credits. Add more using https://openrouter.ai/credits",
            }
        },
        {},
        K.BILLING,
        None,
    ),
    (
        "an OpenAI bad key",
        401,
        openai(
            "Incorrect API key provided: sk-proj-****abcd. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        ),
        {},
        K.AUTH,
        None,
    ),
    (
        "a deactivated account",
        401,
        openai("Your account is deactivated.", "invalid_request_error", "account_deactivated"),
        {},
        K.AUTH_PERMANENT,
        None,
    ),
    (
        "an OpenAI unknown model",
        404,
        openai(
            "The model `gpt-9` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        ),
        {},
        K.MODEL_NOT_FOUND,
        None,
    ),
    (
        "an OpenAI context overflow",
        400,
        openai(
            "This model's maximum context length is 128000 tokens. However, your "
            "messages resulted in 130412 tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            "context_length_exceeded",
            "messages",
        ),
        {},
        K.CONTEXT_OVERFLOW,
        None,
    ),
    (
        "an OpenAI 400",
        400,
        openai("Invalid value for 'temperature'.", "invalid_request_error", None, "temperature"),
        {},
        K.BAD_REQUEST,
        None,
    ),
    (
        "an OpenAI 403 region",
        403,
        openai(
            "Country, region, or territory not supported",
            "request_forbidden",
            "unsupported_country_region_territory",
        ),
        {},
        K.PERMISSION,
        None,
    ),
    (
        "an OpenAI 500",
        500,
        openai("The server had an error while processing your request. Sorry about that!", "server_error"),
        {},
        K.SERVER,
        None,
    ),
    (
        "an OpenAI 503 overload",
        503,
        openai("The engine is currently overloaded, please try again later", "server_error"),
        {},
        K.OVERLOADED,
        None,
    ),
    (
        "an error inside an OpenAI stream (inner object)",
        None,
        {"message": "Overloaded", "type": "overloaded_error", "param": None, "code": None},
        {},
        K.OVERLOADED,
        None,
    ),
    ("a 502 from a proxy, body not JSON", 502, "<html>Bad Gateway</html>", {}, K.SERVER, None),
    (
        "an OAuth refresh refused",
        400,
        {"error": "invalid_grant", "error_description": "Refresh token revoked"},
        {},
        K.AUTH_PERMANENT,
        None,
    ),
]


@pytest.mark.parametrize(
    ("name", "status", "body", "headers", "kind", "retry_after"), CASES, ids=[c[0] for c in CASES]
)
def test_real_bodies(
    name: str,
    status: int | None,
    body: object,
    headers: dict[str, str],
    kind: ModelFailureKind,
    retry_after: float | None,
) -> None:
    facts = facts_from_response(status, body, headers, now=1_700_000_000.0)
    assert classify(facts) is kind, facts
    assert facts.retry_after == (pytest.approx(retry_after) if retry_after is not None else None)


@pytest.mark.parametrize(
    ("facts", "kind"),
    [
        (ErrorFacts(transport="timeout", message="no first token within 60s"), K.TIMEOUT),
        (ErrorFacts(transport="connection", message="ConnectError"), K.CONNECTION),
        (ErrorFacts(status=418), K.UNKNOWN),
        (ErrorFacts(), K.UNKNOWN),
    ],
)
def test_transport_and_unknown(facts: ErrorFacts, kind: ModelFailureKind) -> None:
    assert classify(facts) is kind


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "5"}, 5.0),
        ({"Retry-After": "0.5"}, 0.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "Tue, 14 Nov 2023 22:13:50 GMT"}, 30.0),  # now is 22:13:20 GMT
        ({"retry-after": "-3"}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after-ms": "x", "retry-after": "2"}, 2.0),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, now=1_700_000_000.0) == expected


def test_error_for_builds_the_class_of_the_kind() -> None:
    err = error_for(
        ErrorFacts(status=429, retry_after=3.0, message="slow down"), provider="anthropic", model="m"
    )
    assert isinstance(err, RateLimited)
    assert (err.kind, err.status, err.retry_after, err.provider, err.model) == (
        K.RATE_LIMIT,
        429,
        3.0,
        "anthropic",
        "m",
    )


@given(
    status=st.one_of(st.none(), st.integers(100, 599)),
    error_type=st.one_of(st.none(), st.text(max_size=30)),
    code=st.one_of(st.none(), st.text(max_size=30)),
    message=st.text(max_size=200),
)
def test_classify_is_total(
    status: int | None, error_type: str | None, code: str | None, message: str
) -> None:
    """Whatever a server says, classification answers with a kind and never raises."""
    body = {"error": {"type": error_type, "code": code, "message": message}}
    facts = facts_from_response(status, body, {"retry-after": message[:10]})
    assert isinstance(classify(facts), ModelFailureKind)
    if status == 429 and not (code or "").strip() and not (error_type or "").strip() and not message:
        assert classify(facts) is ModelFailureKind.RATE_LIMIT
