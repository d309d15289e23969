"""Turn what a model API said into one :class:`ModelFailureKind`: pure functions and an ordered rule table.

The provider adapters reduce an SDK exception to :class:`ErrorFacts` (status, error type and code,
message, retry hints); :func:`classify` walks :data:`RULES` top to bottom and the first match wins.
Order matters where signals overlap:

- Anthropic's spend-cap answer is a 429 ``rate_limit_error`` whose ``details.error_code`` is
  ``enforced_spend_limit_reached``; OpenAI's exhausted quota is a 429 ``insufficient_quota``. Both are
  ``billing`` (hours, not seconds), so the billing rules come before the 429 rule.
- "prompt is too long" is a 400: ``context_overflow`` must be caught before ``bad_request``.
- A 200 stream can still fail with an SSE ``error`` event: there the status says nothing and the
  error type decides (``overloaded_error`` -> ``overloaded``).
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from nexus.models.errors import ERROR_FOR_KIND, ModelFailureKind, ProviderError

Transport = Literal["timeout", "connection"]


@dataclass(frozen=True)
class ErrorFacts:
    """Everything classification may look at; nothing that could hold a secret but the message."""

    status: int | None = None
    error_type: str | None = None
    """``error.type`` (Anthropic: ``rate_limit_error``...; OpenAI: ``invalid_request_error``...)."""
    code: str | None = None
    """OpenAI's ``error.code`` or Anthropic's ``error.details.error_code``."""
    message: str = ""
    retry_after: float | None = None
    transport: Transport | None = None
    """Set when no HTTP answer came at all."""


@dataclass(frozen=True)
class Rule:
    """Matches when every given condition holds (``None`` means "any")."""

    kind: ModelFailureKind
    statuses: frozenset[int] | None = None
    types: frozenset[str] | None = None
    codes: frozenset[str] | None = None
    message: re.Pattern[str] | None = None
    transport: Transport | None = None

    def matches(self, facts: ErrorFacts) -> bool:
        if self.transport is not None and facts.transport != self.transport:
            return False
        if self.statuses is not None and facts.status not in self.statuses:
            return False
        if self.types is not None and (facts.error_type or "").lower() not in self.types:
            return False
        if self.codes is not None and (facts.code or "").lower() not in self.codes:
            return False
        return self.message is None or bool(self.message.search(facts.message))


def _set(*items: str) -> frozenset[str]:
    return frozenset(items)


SPEND_CODES = _set(
    "enforced_spend_limit_reached",
    "contract_spend_limit_reached",
    "linked_organization_spend_limit_reached",
    "linked_organization_billing_unavailable",
    "insufficient_quota",
    "billing_hard_limit_reached",
    "billing_not_active",
)
REVOKED_CODES = _set("invalid_grant", "token_revoked", "account_deactivated", "organization_on_hold")
BILLING_TEXT = re.compile(
    r"credit balance is too low|exceeded your current quota|insufficient (credits|balance|funds)"
    r"|spend(ing)? limit|usage limits? (reached|exceeded)|reached your specified api usage limits"
    r"|payment required|purchase credits|add more credits",
    re.IGNORECASE,
)
REVOKED_TEXT = re.compile(
    r"revoked|invalid_grant|has been disabled|account (is )?(deactivated|suspended|disabled)",
    re.IGNORECASE,
)
CONTEXT_TEXT = re.compile(
    r"prompt is too long|maximum context length|context[ _-]?(window|length)|too many (input )?tokens"
    r"|input is too long|reduce the length of the messages",
    re.IGNORECASE,
)
OVERLOAD_TEXT = re.compile(r"overload", re.IGNORECASE)
SERVER_STATUSES = frozenset(range(500, 600)) - {504, 529}

RULES: tuple[Rule, ...] = (
    Rule(ModelFailureKind.TIMEOUT, transport="timeout"),
    Rule(ModelFailureKind.CONNECTION, transport="connection"),
    # billing hides behind 400, 403 and 429: before every status rule
    Rule(ModelFailureKind.BILLING, codes=SPEND_CODES),
    Rule(ModelFailureKind.BILLING, types=_set("billing_error", "insufficient_quota")),
    Rule(ModelFailureKind.BILLING, statuses=frozenset({402})),
    Rule(ModelFailureKind.BILLING, statuses=frozenset({400, 403, 429}), message=BILLING_TEXT),
    # dead credentials: permanent until a human acts
    Rule(ModelFailureKind.AUTH_PERMANENT, codes=REVOKED_CODES),
    Rule(ModelFailureKind.AUTH_PERMANENT, statuses=frozenset({400, 401, 403}), message=REVOKED_TEXT),
    Rule(ModelFailureKind.AUTH, statuses=frozenset({401})),
    Rule(ModelFailureKind.AUTH, types=_set("authentication_error")),
    # request too big for the model: never a blind retry
    Rule(ModelFailureKind.CONTEXT_OVERFLOW, codes=_set("context_length_exceeded", "string_above_max_length")),
    Rule(ModelFailureKind.CONTEXT_OVERFLOW, statuses=frozenset({400, 413, 422}), message=CONTEXT_TEXT),
    Rule(ModelFailureKind.CONTEXT_OVERFLOW, statuses=frozenset({413})),
    Rule(ModelFailureKind.CONTEXT_OVERFLOW, types=_set("request_too_large")),
    Rule(ModelFailureKind.PERMISSION, statuses=frozenset({403})),
    Rule(ModelFailureKind.PERMISSION, types=_set("permission_error")),
    Rule(ModelFailureKind.MODEL_NOT_FOUND, statuses=frozenset({404})),
    Rule(ModelFailureKind.MODEL_NOT_FOUND, types=_set("not_found_error")),
    Rule(ModelFailureKind.MODEL_NOT_FOUND, codes=_set("model_not_found")),
    Rule(ModelFailureKind.RATE_LIMIT, statuses=frozenset({429})),
    Rule(ModelFailureKind.RATE_LIMIT, types=_set("rate_limit_error", "requests", "tokens")),
    Rule(ModelFailureKind.RATE_LIMIT, codes=_set("rate_limit_exceeded", "ramp_limit_exceeded")),
    Rule(ModelFailureKind.OVERLOADED, statuses=frozenset({529})),
    Rule(ModelFailureKind.OVERLOADED, types=_set("overloaded_error")),
    Rule(ModelFailureKind.OVERLOADED, statuses=frozenset({503}), message=OVERLOAD_TEXT),
    Rule(ModelFailureKind.TIMEOUT, statuses=frozenset({408, 504})),
    Rule(ModelFailureKind.TIMEOUT, types=_set("timeout_error")),
    Rule(ModelFailureKind.BAD_REQUEST, statuses=frozenset({400, 409, 413, 422})),
    Rule(ModelFailureKind.BAD_REQUEST, types=_set("invalid_request_error")),
    Rule(ModelFailureKind.SERVER, statuses=SERVER_STATUSES),
    Rule(ModelFailureKind.SERVER, types=_set("api_error", "server_error")),
)


def classify(facts: ErrorFacts, rules: tuple[Rule, ...] = RULES) -> ModelFailureKind:
    """The kind of the first rule that matches ``facts``; ``unknown`` when none does."""
    for rule in rules:
        if rule.matches(facts):
            return rule.kind
    return ModelFailureKind.UNKNOWN


def facts_from_response(
    status: int | None,
    body: Any,
    headers: Mapping[str, str] | None = None,
    *,
    now: float | None = None,
) -> ErrorFacts:
    """Read an error answer of either API.

    ``body`` is the decoded JSON: Anthropic's ``{"type":"error","error":{type,message,details}}``,
    OpenAI's ``{"error":{message,type,param,code}}``, the bare inner error object that the OpenAI
    SDK hands over for an error inside a stream, or an OAuth ``{"error": "invalid_grant"}``.
    """
    error: Any = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, str) and isinstance(body, Mapping):  # OAuth: {"error": "invalid_grant", ...}
        error = {"code": error, "message": str(body.get("error_description") or error)}
    if not isinstance(error, Mapping):
        error = body if isinstance(body, Mapping) and ("message" in body or "type" in body) else {}
    error_type = error.get("type")
    code = error.get("code")
    details = error.get("details")
    if isinstance(details, Mapping) and details.get("error_code"):
        code = details.get("error_code")
    message = error.get("message") if isinstance(error.get("message"), str) else None
    if message is None and isinstance(body, str):
        message = body[:500]
    return ErrorFacts(
        status=status,
        error_type=str(error_type) if isinstance(error_type, str) else None,
        code=str(code) if code is not None and not isinstance(code, bool) else None,
        message=message or "",
        retry_after=parse_retry_after(headers or {}, now=now),
    )


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, or ``retry-after`` as seconds or an HTTP date.

    ``now`` (epoch seconds) is needed only for the date form; negative or unreadable values are None.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0:
            return value
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        if now is None:
            return None
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        value = when.timestamp() - now
    return value if value >= 0 else None


def error_for(facts: ErrorFacts, *, provider: str, model: str) -> ProviderError:
    """The classified :class:`ProviderError` for ``facts`` (the message must already be redacted)."""
    kind = classify(facts)
    return ERROR_FOR_KIND[kind](
        facts.message or kind.value,
        status=facts.status,
        retry_after=facts.retry_after,
        provider=provider,
        model=model,
    )
