"""Classified model-call failures. SDK exceptions are translated into these in the provider
adapters and nowhere else; the router decides what to do from ``kind`` alone.

    ProviderError (kind: FailureKind)
    ├── RateLimited        429 with retry-after
    ├── Overloaded         529 / overloaded_error (also as an SSE error event after 200)
    ├── AuthFailed         401: worth one forced refresh, then the next profile
    ├── AuthRevoked        revoked / invalid_grant: permanent until a human acts
    ├── Billing            402, spend caps, credit exhausted
    ├── PermissionDenied   403
    ├── ModelMissing       404 / unknown model
    ├── ContextOverflow    prompt too long: never a blind retry
    ├── BadRequest         other 400: terminal, no fallback
    ├── Timeout            connect, first token, idle stream
    ├── ConnectionFailed   refused, reset, DNS
    └── ServerError        other 5xx
"""

from __future__ import annotations

from enum import StrEnum

from nexus.errors import NexusError


class FailureKind(StrEnum):
    RATE_LIMIT = "rate_limit"
    OVERLOADED = "overloaded"
    AUTH = "auth"
    AUTH_PERMANENT = "auth_permanent"
    BILLING = "billing"
    PERMISSION = "permission"
    MODEL_NOT_FOUND = "model_not_found"
    CONTEXT_OVERFLOW = "context_overflow"
    BAD_REQUEST = "bad_request"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    SERVER = "server"
    UNKNOWN = "unknown"


class ProviderError(NexusError):
    """One failed model call, classified."""

    kind: FailureKind = FailureKind.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        provider: str | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.provider = provider
        self.model = model

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(kind={self.kind.value!r}, status={self.status}, message={self.message!r})"
        )


class RateLimited(ProviderError):
    kind = FailureKind.RATE_LIMIT


class Overloaded(ProviderError):
    kind = FailureKind.OVERLOADED


class AuthFailed(ProviderError):
    kind = FailureKind.AUTH


class AuthRevoked(ProviderError):
    kind = FailureKind.AUTH_PERMANENT


class Billing(ProviderError):
    kind = FailureKind.BILLING


class PermissionDenied(ProviderError):
    kind = FailureKind.PERMISSION


class ModelMissing(ProviderError):
    kind = FailureKind.MODEL_NOT_FOUND


class ContextOverflow(ProviderError):
    kind = FailureKind.CONTEXT_OVERFLOW


class BadRequest(ProviderError):
    kind = FailureKind.BAD_REQUEST


class Timeout(ProviderError):
    kind = FailureKind.TIMEOUT


class ConnectionFailed(ProviderError):
    kind = FailureKind.CONNECTION


class ServerError(ProviderError):
    kind = FailureKind.SERVER


class UnknownFailure(ProviderError):
    kind = FailureKind.UNKNOWN


ERROR_FOR_KIND: dict[FailureKind, type[ProviderError]] = {
    cls.kind: cls
    for cls in (
        RateLimited,
        Overloaded,
        AuthFailed,
        AuthRevoked,
        Billing,
        PermissionDenied,
        ModelMissing,
        ContextOverflow,
        BadRequest,
        Timeout,
        ConnectionFailed,
        ServerError,
        UnknownFailure,
    )
}
