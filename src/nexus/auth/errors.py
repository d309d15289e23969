"""Credential store and refresh failures.

AuthError
├── CredentialUnavailable   no usable credential for a profile right now (names the fix)
├── NeedsReauth             the refresh token is dead (reused/revoked): a human must log in again
└── UnreliableFilesystem    flock cannot be trusted where the store or its locks would live
"""

from __future__ import annotations

from nexus.errors import NexusError


class AuthError(NexusError):
    """Base of the auth error tree."""


class CredentialUnavailable(AuthError):
    def __init__(self, profile: str, reason: str) -> None:
        super().__init__(f"{profile}: {reason}")
        self.profile = profile
        self.reason = reason


class NeedsReauth(CredentialUnavailable):
    """Permanent until a human acts: never retried in a loop."""


class UnreliableFilesystem(AuthError):
    """The store would sit on nfs/cifs/9p/drvfs/virtiofs, where flock does not exclude other hosts."""
