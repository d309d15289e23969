"""Auth profiles: who Nexus is towards each provider, and the host-wide protocol that keeps shared
OAuth credentials alive. Others use :func:`open_credentials` and the names below; the rest is inside.
"""

from nexus.auth.credentials import (
    Credential,
    CredentialKind,
    CredentialSource,
    EnvCredentialSource,
    ProfileState,
)
from nexus.auth.errors import AuthError, CredentialUnavailable, NeedsReauth, UnreliableFilesystem
from nexus.auth.events import AuthEvent, AuthEventSink, ExpiryWarning, ReauthRequired, TokenRefreshed
from nexus.auth.policy import ProfileStatus
from nexus.auth.source import CombinedSource, open_credentials, resolve_store_path
from nexus.auth.store import ProfileReport, ProfileStore

__all__ = [
    "AuthError",
    "AuthEvent",
    "AuthEventSink",
    "CombinedSource",
    "Credential",
    "CredentialKind",
    "CredentialSource",
    "CredentialUnavailable",
    "EnvCredentialSource",
    "ExpiryWarning",
    "NeedsReauth",
    "ProfileReport",
    "ProfileState",
    "ProfileStatus",
    "ProfileStore",
    "ReauthRequired",
    "TokenRefreshed",
    "UnreliableFilesystem",
    "open_credentials",
    "resolve_store_path",
]
