"""Calls to an OAuth 2.0 token endpoint (refresh, authorization code + PKCE), translated once here.

Anthropic's endpoint (the one Claude Code uses) takes a JSON body:
``{"grant_type": "refresh_token", "refresh_token": ..., "client_id": ...}`` and answers
``{"access_token", "refresh_token", "expires_in", "token_type"}``; errors follow RFC 6749 §5.2
(``{"error": "invalid_grant", "error_description": ...}``). Every failure leaves this module as a
:class:`TokenEndpointError` whose ``verdict`` says whether a human must log in again. Messages
carry the error code and status, never a token or a response body.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlparse

import httpx

from nexus.auth.errors import AuthError
from nexus.auth.policy import RefreshVerdict, classify_refresh_error
from nexus.common.net import is_loopback_url
from nexus.common.secret import Secret

ANTHROPIC_CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
"""The public client id of Claude Code's PKCE login (a public client: there is no client secret)."""
ANTHROPIC_TOKEN_URL = "https://console.anthropic.com/v1/oauth/token"
ANTHROPIC_AUTHORIZE_URL = "https://claude.ai/oauth/authorize"
ANTHROPIC_REDIRECT_URI = "https://console.anthropic.com/oauth/code/callback"
ANTHROPIC_SCOPES = "org:create_api_key user:profile user:inference"

TOKEN_ENDPOINTS: dict[str, tuple[str, str]] = {"anthropic": (ANTHROPIC_TOKEN_URL, ANTHROPIC_CLIENT_ID)}
"""Default (token_url, client_id) per provider, used when a profile does not name its own."""


class TokenEndpointError(AuthError):
    def __init__(
        self, message: str, *, verdict: RefreshVerdict, status: int | None, error: str | None
    ) -> None:
        super().__init__(message)
        self.verdict = verdict
        self.status = status
        self.error = error


@dataclass(frozen=True)
class TokenGrant:
    access: Secret
    refresh: Secret | None
    expires_in: float

    def __repr__(self) -> str:
        return f"TokenGrant(access={self.access!r}, expires_in={self.expires_in})"


async def _post_token(
    url: str, body: dict[str, str], *, timeout_s: float, transport: httpx.AsyncBaseTransport | None
) -> TokenGrant:
    # Proxies from the environment apply to real endpoints only; loopback (tests, local fakes) is direct.
    async with httpx.AsyncClient(
        timeout=timeout_s, transport=transport, trust_env=not is_loopback_url(url)
    ) as client:
        try:
            response = await client.post(url, json=body, headers={"accept": "application/json"})
        except httpx.TimeoutException as exc:
            raise TokenEndpointError(
                f"token endpoint {url} did not answer within {timeout_s:.0f}s",
                verdict=RefreshVerdict.RETRY_LATER,
                status=None,
                error="timeout",
            ) from exc
        except httpx.HTTPError as exc:
            raise TokenEndpointError(
                f"token endpoint {url} unreachable ({type(exc).__name__})",
                verdict=RefreshVerdict.RETRY_LATER,
                status=None,
                error="connection",
            ) from exc
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code != 200:
        error = data.get("error") if isinstance(data, dict) else None
        error = error if isinstance(error, str) else None
        verdict = classify_refresh_error(response.status_code, error)
        raise TokenEndpointError(
            f"token endpoint answered {response.status_code} {error or '(no error code)'}",
            verdict=verdict,
            status=response.status_code,
            error=error,
        )
    if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
        raise TokenEndpointError(
            "token endpoint answered 200 without an access_token",
            verdict=RefreshVerdict.RETRY_LATER,
            status=200,
            error="malformed",
        )
    refresh = data.get("refresh_token")
    expires_in = data.get("expires_in", 3600)
    return TokenGrant(
        access=Secret(data["access_token"]),
        refresh=Secret(refresh) if isinstance(refresh, str) and refresh else None,
        expires_in=float(expires_in) if isinstance(expires_in, int | float) else 3600.0,
    )


async def refresh_grant(
    token_url: str,
    client_id: str,
    refresh_token: Secret,
    *,
    timeout_s: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> TokenGrant:
    """Spend ``refresh_token`` once for a new pair. The caller holds the account's refresh lock."""
    body = {"grant_type": "refresh_token", "refresh_token": refresh_token.reveal(), "client_id": client_id}
    return await _post_token(token_url, body, timeout_s=timeout_s, transport=transport)


# -- authorization code + PKCE (``nexus auth login``) ---------------------------------------------------


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge) as in RFC 7636."""
    verifier = _b64url(secrets.token_bytes(32))
    challenge = _b64url(hashlib.sha256(verifier.encode("ascii")).digest())
    return verifier, challenge


def authorize_url(
    challenge: str,
    state: str,
    *,
    base: str = ANTHROPIC_AUTHORIZE_URL,
    client_id: str = ANTHROPIC_CLIENT_ID,
    redirect_uri: str = ANTHROPIC_REDIRECT_URI,
    scope: str = ANTHROPIC_SCOPES,
) -> str:
    params = {
        "code": "true",
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": scope,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": state,
    }
    return f"{base}?{urlencode(params)}"


def parse_pasted_code(text: str) -> tuple[str, str | None]:
    """The callback page shows ``CODE#STATE``; a pasted callback URL works too. Raises ValueError."""
    raw = text.strip()
    if not raw:
        raise ValueError("nothing was pasted: copy the code shown after you authorize, then paste it")
    if "code=" in raw:
        query = parse_qs(urlparse(raw).query)
        codes = query.get("code")
        if not codes:
            raise ValueError("the pasted URL has no code= parameter; paste the code shown on the page")
        return codes[0], (query.get("state") or [None])[0]
    code, _, state = raw.partition("#")
    return code, state or None


async def exchange_code(
    code: str,
    *,
    verifier: str,
    state: str | None,
    token_url: str = ANTHROPIC_TOKEN_URL,
    client_id: str = ANTHROPIC_CLIENT_ID,
    redirect_uri: str = ANTHROPIC_REDIRECT_URI,
    timeout_s: float = 20.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> TokenGrant:
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    if state:
        body["state"] = state
    return await _post_token(token_url, body, timeout_s=timeout_s, transport=transport)
