"""A string that never prints itself, so secrets cannot leak through repr, logs or f-strings."""

from __future__ import annotations

import hashlib


class Secret:
    """Wraps a credential; ``reveal()`` is the only way to the value and is easy to grep for."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def fingerprint(self) -> str:
        """A short, stable, non-reversible tag for telling two secrets apart in logs."""
        return hashlib.sha256(self._value.encode()).hexdigest()[:8]

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return f"Secret(sha256:{self.fingerprint()})" if self._value else "Secret(<empty>)"

    __str__ = __repr__
