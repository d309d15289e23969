"""How a credential goes on the wire to Anthropic: one pure function the adapter and the fakes share.

API keys travel as ``x-api-key``. OAuth access tokens and long-lived (``claude setup-token``) tokens
travel as ``Authorization: Bearer`` and need the ``anthropic-beta: oauth-2025-04-20`` header;
sending a token as ``x-api-key`` (or a key as Bearer) is answered with 401.
"""

from __future__ import annotations

from nexus.auth.credentials import Credential, CredentialKind

OAUTH_BETA = "oauth-2025-04-20"


def anthropic_auth_headers(credential: Credential) -> dict[str, str]:
    """Headers carrying ``credential`` to the Anthropic Messages API (reveals the secret: do not log)."""
    if credential.kind is CredentialKind.API_KEY:
        return {"x-api-key": credential.secret.reveal()}
    return {"authorization": f"Bearer {credential.secret.reveal()}", "anthropic-beta": OAUTH_BETA}
