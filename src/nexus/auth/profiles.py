"""The shape of ``auth-profiles.json``: OpenClaw's JSON-era format, so an existing file imports as is.

    {"version": 1, "profiles": {"anthropic:main": {"type": "oauth", "provider": "anthropic",
      "access": "...", "refresh": "...", "expires": <epoch ms>, "email"?, "token_url"?, "client_id"?}}}

Types: ``oauth`` (access/refresh/expires), ``token`` (long-lived, ``token`` and optional ``expires``),
``api_key`` (``key``), and Nexus's ``borrowed`` (a credential another program owns and refreshes,
``source: "claude-code"``, optional ``path``). Unknown keys are kept as they are, at every level, so
a round trip through Nexus never loses what another tool wrote. Parsing never raises for one bad
profile: it is reported as invalid with the key named, and the others still serve.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from nexus.common.secret import Secret

STORE_VERSION = 1


class ProfileType(StrEnum):
    OAUTH = "oauth"
    TOKEN = "token"
    API_KEY = "api_key"
    BORROWED = "borrowed"


_SECRET_FIELD = {ProfileType.OAUTH: "access", ProfileType.TOKEN: "token", ProfileType.API_KEY: "key"}
_KNOWN = {"type", "provider", "access", "refresh", "expires", "email", "token_url", "client_id"}
_KNOWN |= {"token", "key", "issued", "source", "path"}


@dataclass(frozen=True)
class Profile:
    """One credential. Secrets are :class:`Secret`; ``repr`` never shows them."""

    name: str
    type: ProfileType
    provider: str
    secret: Secret | None = None
    """The access token (oauth), the long-lived token (token) or the key (api_key)."""
    refresh: Secret | None = None
    expires_ms: int | None = None
    issued_ms: int | None = None
    """When Nexus obtained the access token (lets the refresh margin follow the token's lifetime)."""
    email: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    source: str | None = None
    path: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)
    """Keys Nexus does not know, kept for the round trip (may hold secrets: never in a repr)."""

    @property
    def account(self) -> str:
        """Who the credential belongs to: the unit of the host-wide refresh lock."""
        return self.email or self.name

    @property
    def expires_s(self) -> float | None:
        return None if self.expires_ms is None else self.expires_ms / 1000.0

    @property
    def lifetime_s(self) -> float | None:
        if self.expires_ms is None or self.issued_ms is None:
            return None
        return max(0.0, (self.expires_ms - self.issued_ms) / 1000.0)

    def with_tokens(self, *, access: str, refresh: str | None, expires_ms: int, issued_ms: int) -> Profile:
        return replace(
            self,
            secret=Secret(access),
            refresh=Secret(refresh) if refresh else self.refresh,
            expires_ms=expires_ms,
            issued_ms=issued_ms,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        out["type"] = self.type.value
        out["provider"] = self.provider
        if self.type in _SECRET_FIELD and self.secret is not None:
            out[_SECRET_FIELD[self.type]] = self.secret.reveal()
        if self.refresh is not None:
            out["refresh"] = self.refresh.reveal()
        optional = {
            "expires": self.expires_ms,
            "issued": self.issued_ms,
            "email": self.email,
            "token_url": self.token_url,
            "client_id": self.client_id,
            "source": self.source,
            "path": self.path,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out


@dataclass(frozen=True)
class InvalidProfile:
    """An entry that cannot be used; ``problem`` names the key and the fix."""

    name: str
    provider: str
    problem: str


@dataclass(frozen=True)
class StoreDocument:
    profiles: Mapping[str, Profile] = field(default_factory=dict)
    invalid: Mapping[str, InvalidProfile] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    """The document as read (secrets included: never in a repr): invalid entries and unknown top-level keys are written back untouched."""

    def with_profile(self, profile: Profile) -> StoreDocument:
        profiles = dict(self.profiles)
        profiles[profile.name] = profile
        invalid = {k: v for k, v in self.invalid.items() if k != profile.name}
        return replace(self, profiles=profiles, invalid=invalid)

    def without(self, name: str) -> StoreDocument:
        return replace(
            self,
            profiles={k: v for k, v in self.profiles.items() if k != name},
            invalid={k: v for k, v in self.invalid.items() if k != name},
            raw={**self.raw, "profiles": {k: v for k, v in _raw_profiles(self.raw).items() if k != name}},
        )

    def to_json(self) -> str:
        doc: dict[str, Any] = {k: v for k, v in self.raw.items() if k not in ("version", "profiles")}
        raw_profiles = _raw_profiles(self.raw)
        out_profiles: dict[str, Any] = {}
        for name in [*raw_profiles, *self.profiles]:
            if name in self.profiles:
                out_profiles[name] = self.profiles[name].to_json()
            elif name in self.invalid:
                out_profiles[name] = raw_profiles[name]
        ordered = {"version": STORE_VERSION, "profiles": out_profiles, **doc}
        return json.dumps(ordered, indent=2, sort_keys=False) + "\n"


class StoreFormatError(ValueError):
    """The file as a whole is unusable (not JSON, not an object, unknown version)."""


def _raw_profiles(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    profiles = raw.get("profiles")
    return profiles if isinstance(profiles, Mapping) else {}


def parse_document(text: str) -> StoreDocument:
    """Parse the whole file. Raises StoreFormatError for a file-level problem only."""
    if not text.strip():
        return StoreDocument()
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StoreFormatError(f"not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(raw, dict):
        raise StoreFormatError('the top level must be an object: {"version": 1, "profiles": {...}}')
    version = raw.get("version", STORE_VERSION)
    if version != STORE_VERSION:
        raise StoreFormatError(
            f"version: {version!r} is not supported (this Nexus reads version {STORE_VERSION})"
        )
    raw_profiles = raw.get("profiles", {})
    if not isinstance(raw_profiles, dict):
        raise StoreFormatError("profiles: must be an object mapping profile names to entries")
    profiles: dict[str, Profile] = {}
    invalid: dict[str, InvalidProfile] = {}
    for name, entry in raw_profiles.items():
        result = parse_profile(str(name), entry)
        if isinstance(result, Profile):
            profiles[result.name] = result
        else:
            invalid[result.name] = result
    return StoreDocument(profiles=profiles, invalid=invalid, raw=raw)


def parse_profile(name: str, entry: object) -> Profile | InvalidProfile:
    key = f"profiles.{name}"
    fallback_provider = name.split(":", 1)[0]
    fix = f"fix it by hand or run `nexus auth remove {name}` and add it again"

    def bad(problem: str, provider: str = fallback_provider) -> InvalidProfile:
        return InvalidProfile(name=name, provider=provider, problem=f"{problem}; {fix}")

    if not isinstance(entry, dict):
        return bad(f"{key}: must be an object")
    provider = entry.get("provider", fallback_provider)
    if not isinstance(provider, str) or not provider:
        return bad(f"{key}.provider: must be a provider name such as 'anthropic'")
    try:
        ptype = ProfileType(entry.get("type"))
    except ValueError:
        kinds = ", ".join(t.value for t in ProfileType)
        return bad(f"{key}.type: {entry.get('type')!r} is not one of {kinds}", provider)

    def text(field_name: str, required: bool = False) -> str | None:
        value = entry.get(field_name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or (required and not value):
            raise _FieldError(f"{key}.{field_name}: must be a non-empty string")
        return value

    def millis(field_name: str) -> int | None:
        value = entry.get(field_name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _FieldError(f"{key}.{field_name}: must be epoch milliseconds (a number)")
        return int(value)

    try:
        secret_field = _SECRET_FIELD.get(ptype)
        secret_text = text(secret_field, required=True) if secret_field else None
        refresh = text("refresh", required=ptype is ProfileType.OAUTH)
        expires = millis("expires")
        if ptype is ProfileType.OAUTH and expires is None:
            raise _FieldError(f"{key}.expires: an oauth profile needs the access token's expiry (epoch ms)")
        source = text("source", required=ptype is ProfileType.BORROWED)
        if ptype is ProfileType.BORROWED and source != "claude-code":
            raise _FieldError(f"{key}.source: {source!r} cannot be borrowed; supported: 'claude-code'")
        profile = Profile(
            name=name,
            type=ptype,
            provider=provider,
            secret=Secret(secret_text) if secret_text is not None else None,
            refresh=Secret(refresh) if refresh else None,
            expires_ms=expires,
            issued_ms=millis("issued"),
            email=text("email"),
            token_url=text("token_url"),
            client_id=text("client_id"),
            source=source,
            path=text("path"),
            extra={k: v for k, v in entry.items() if k not in _KNOWN},
        )
    except _FieldError as exc:
        return bad(str(exc), provider)
    return profile


class _FieldError(ValueError):
    pass
