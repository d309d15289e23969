"""A real OAuth 2.0 token endpoint on 127.0.0.1, strict the way real ones are about refresh tokens.

- ``POST /v1/oauth/token`` with a JSON (or form) body, like Anthropic's endpoint:
  ``grant_type=refresh_token`` rotates: the refresh token is single-use and a new pair comes back
  (``access_token``, ``refresh_token``, ``expires_in``, ``token_type``); presenting a spent refresh
  token is *reuse*: the whole family is revoked (RFC 9700 §4.14.2), every token of it dies, and the
  answer is 400 ``invalid_grant``. ``grant_type=authorization_code`` checks the PKCE S256 verifier.
- ``GET /v1/me``: a protected resource answering 200 only to a live ``Bearer`` access token.
- Access tokens live ``access_ttl`` seconds (short in tests, so expiries happen during a test).

Knobs and counters are plain attributes, guarded by one lock; the server runs in a daemon thread.
``accept_token(headers)`` is the hook the fake Anthropic server uses to decide if a request carries a
live token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"


@dataclass
class Family:
    id: int
    email: str
    revoked: bool = False
    generations: int = 0


@dataclass
class Grant:
    access: str
    refresh: str
    expires_in: float
    expires_at: float
    family: int

    def profile_json(self, *, token_url: str, email: str | None = None) -> dict[str, Any]:
        """An ``auth-profiles.json`` oauth entry for this grant."""
        entry: dict[str, Any] = {
            "type": "oauth",
            "provider": "anthropic",
            "access": self.access,
            "refresh": self.refresh,
            "expires": int(self.expires_at * 1000),
            "issued": int((self.expires_at - self.expires_in) * 1000),
            "token_url": token_url,
            "client_id": CLIENT_ID,
        }
        if email:
            entry["email"] = email
        return entry


@dataclass
class _Stats:
    refreshes: int = 0
    reuse_detected: int = 0
    revoked_families: int = 0
    code_exchanges: int = 0
    rejected_requests: int = 0
    spent_refresh_tokens: list[str] = field(default_factory=list)
    presented_refresh_tokens: list[str] = field(default_factory=list)
    refresh_ages: list[float] = field(default_factory=list)
    """For each accepted refresh: seconds since the refreshed pair was issued (early refreshes show here)."""


class FakeOAuthServer:
    """Start with ``with FakeOAuthServer() as oauth:``; ``oauth.token_url`` is the endpoint."""

    def __init__(self, *, access_ttl: float = 3600.0, client_id: str = CLIENT_ID) -> None:
        self.access_ttl = access_ttl
        self.client_id = client_id
        self.delay_s = 0.0
        """Sleep this long before answering a refresh (to hold a refresher inside its lock)."""
        self.fail_next: list[int] = []
        """Statuses to answer the next refresh requests with (e.g. [503]), consumed in order."""
        self.stats = _Stats()
        self._lock = threading.Lock()
        self._families: dict[int, Family] = {}
        self._refresh: dict[str, tuple[int, bool]] = {}  # token -> (family, spent)
        self._access: dict[str, tuple[int, float]] = {}  # token -> (family, expires_at)
        self._codes: dict[str, tuple[str, str]] = {}  # code -> (challenge, email)
        self._issued: dict[str, float] = {}  # refresh token -> when its pair was minted
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-oauth", daemon=True
        )

    # -- life cycle ------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/v1/oauth/token"

    def start(self) -> FakeOAuthServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeOAuthServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- test controls ---------------------------------------------------------------------------------
    def issue(self, *, email: str = "owner@example.com", ttl: float | None = None) -> Grant:
        """Start a new token family, as a completed login would."""
        with self._lock:
            family = Family(id=len(self._families) + 1, email=email)
            self._families[family.id] = family
            return self._mint(family, ttl)

    def issue_code(self, challenge: str, *, email: str = "owner@example.com") -> str:
        """An authorization code bound to a PKCE S256 ``challenge`` (what the browser step yields)."""
        code = "code-" + secrets.token_urlsafe(12)
        with self._lock:
            self._codes[code] = (challenge, email)
        return code

    def revoke_family_of(self, token: str) -> None:
        with self._lock:
            fam = self._family_of(token)
            if fam is not None and not fam.revoked:
                fam.revoked = True
                self.stats.revoked_families += 1

    def access_live(self, token: str) -> bool:
        with self._lock:
            entry = self._access.get(token)
            if entry is None:
                return False
            family, expires_at = entry
            return not self._families[family].revoked and time.time() < expires_at

    def accept_token(self, headers: Mapping[str, str]) -> bool:
        """True when ``headers`` carry a live access token as ``Authorization: Bearer``."""
        lowered = {k.lower(): v for k, v in headers.items()}
        auth = lowered.get("authorization", "")
        if not auth.startswith("Bearer "):
            return False
        return self.access_live(auth[len("Bearer ") :])

    def family_revoked(self, token: str) -> bool:
        with self._lock:
            fam = self._family_of(token)
            return fam is not None and fam.revoked

    @property
    def revoked_families(self) -> int:
        with self._lock:
            return self.stats.revoked_families

    @property
    def refreshes(self) -> int:
        with self._lock:
            return self.stats.refreshes

    # -- internals (call with self._lock held) ----------------------------------------------------------
    def _family_of(self, token: str) -> Family | None:
        if token in self._refresh:
            return self._families[self._refresh[token][0]]
        if token in self._access:
            return self._families[self._access[token][0]]
        return None

    def _mint(self, family: Family, ttl: float | None) -> Grant:
        ttl = self.access_ttl if ttl is None else ttl
        family.generations += 1
        access = f"sk-ant-oat01-{family.id}-{family.generations}-{secrets.token_urlsafe(24)}"
        refresh = f"sk-ant-ort01-{family.id}-{family.generations}-{secrets.token_urlsafe(24)}"
        expires_at = time.time() + ttl
        self._access[access] = (family.id, expires_at)
        self._refresh[refresh] = (family.id, False)
        self._issued[refresh] = time.time()
        return Grant(access=access, refresh=refresh, expires_in=ttl, expires_at=expires_at, family=family.id)

    def _token(self, body: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        if body.get("client_id") != self.client_id:
            return 401, {"error": "invalid_client", "error_description": "unknown client_id"}
        grant_type = body.get("grant_type")
        if grant_type == "refresh_token":
            return self._refresh_grant(body.get("refresh_token", ""))
        if grant_type == "authorization_code":
            return self._code_grant(body)
        return 400, {"error": "unsupported_grant_type", "error_description": f"{grant_type!r}"}

    def _refresh_grant(self, token: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.stats.presented_refresh_tokens.append(token)
            if self.fail_next:
                status = self.fail_next.pop(0)
                return status, {"error": "server_error", "error_description": "try again later"}
            entry = self._refresh.get(token)
            if entry is None:
                return 400, {"error": "invalid_grant", "error_description": "unknown refresh token"}
            family_id, spent = entry
            family = self._families[family_id]
            if spent:
                self.stats.reuse_detected += 1
                if not family.revoked:
                    family.revoked = True
                    self.stats.revoked_families += 1
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "refresh token reused; family revoked",
                }
            if family.revoked:
                return 400, {"error": "invalid_grant", "error_description": "token family revoked"}
            self._refresh[token] = (family_id, True)
            self.stats.spent_refresh_tokens.append(token)
            self.stats.refreshes += 1
            self.stats.refresh_ages.append(time.time() - self._issued[token])
            grant = self._mint(family, None)
        return 200, {
            "access_token": grant.access,
            "refresh_token": grant.refresh,
            "expires_in": grant.expires_in,
            "token_type": "Bearer",
        }

    def _code_grant(self, body: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            entry = self._codes.pop(body.get("code", ""), None)
            if entry is None:
                return 400, {"error": "invalid_grant", "error_description": "code expired or already used"}
            challenge, email = entry
            verifier = body.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != challenge:
                return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
            family = Family(id=len(self._families) + 1, email=email)
            self._families[family.id] = family
            self.stats.code_exchanges += 1
            grant = self._mint(family, None)
        return 200, {
            "access_token": grant.access,
            "refresh_token": grant.refresh,
            "expires_in": grant.expires_in,
            "token_type": "Bearer",
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read stats instead
                return

            def _send(self, status: int, payload: Mapping[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                if self.path != "/v1/oauth/token":
                    self._send(404, {"error": "not_found"})
                    return
                ctype = self.headers.get("content-type", "")
                try:
                    if "json" in ctype:
                        parsed = json.loads(raw or b"{}")
                        body = {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}
                    else:
                        body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                except (ValueError, UnicodeDecodeError):
                    self._send(400, {"error": "invalid_request", "error_description": "malformed body"})
                    return
                if body.get("grant_type") == "refresh_token" and fake.delay_s:
                    time.sleep(fake.delay_s)
                status, payload = fake._token(body)
                self._send(status, payload)

            def do_GET(self) -> None:
                if self.path != "/v1/me":
                    self._send(404, {"error": "not_found"})
                    return
                if fake.accept_token(dict(self.headers.items())):
                    self._send(200, {"ok": True})
                else:
                    with fake._lock:
                        fake.stats.rejected_requests += 1
                    self._send(401, {"type": "error", "error": {"type": "authentication_error"}})

        return Handler
