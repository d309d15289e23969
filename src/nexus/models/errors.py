"""Classified model-call failures. SDK exceptions are translated into these in the provider
adapters and nowhere else; the router decides what to do from ``kind`` alone.

    ProviderError (kind: ModelFailureKind)
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


class ModelFailureKind(StrEnum):
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

    kind: ModelFailureKind = ModelFailureKind.UNKNOWN

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
    kind = ModelFailureKind.RATE_LIMIT


class Overloaded(ProviderError):
    kind = ModelFailureKind.OVERLOADED


class AuthFailed(ProviderError):
    kind = ModelFailureKind.AUTH


class AuthRevoked(ProviderError):
    kind = ModelFailureKind.AUTH_PERMANENT


class Billing(ProviderError):
    kind = ModelFailureKind.BILLING


class PermissionDenied(ProviderError):
    kind = ModelFailureKind.PERMISSION


class ModelMissing(ProviderError):
    kind = ModelFailureKind.MODEL_NOT_FOUND


class ContextOverflow(ProviderError):
    kind = ModelFailureKind.CONTEXT_OVERFLOW


class BadRequest(ProviderError):
    kind = ModelFailureKind.BAD_REQUEST


class Timeout(ProviderError):
    kind = ModelFailureKind.TIMEOUT


class ConnectionFailed(ProviderError):
    kind = ModelFailureKind.CONNECTION


class ServerError(ProviderError):
    kind = ModelFailureKind.SERVER


class UnknownFailure(ProviderError):
    kind = ModelFailureKind.UNKNOWN


ERROR_FOR_KIND: dict[ModelFailureKind, type[ProviderError]] = {
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
