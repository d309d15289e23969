"""Secrets sealed with a passphrase: scrypt derives a 256-bit key, AES-256-GCM encrypts and
authenticates (``cryptography``'s implementations; nothing hand-rolled).

    b"NEXUS-SEALED-1\\n" + header JSON (kdf parameters, salt, nonce) + b"\\n" + ciphertext

The header is the AEAD's associated data, so changing a KDF parameter is caught like changing the
ciphertext. A wrong passphrase and a tampered body look the same to GCM; the archive's manifest
(SHA-256 of the sealed member) is checked first, so by the time we decrypt, a failure means the
passphrase.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from nexus.common import Secret
from nexus.ops.backup.errors import BackupError, WrongPassphrase

MAGIC = b"NEXUS-SEALED-1\n"
MIN_PASSPHRASE = 8


@dataclass(frozen=True)
class KdfParams:
    """scrypt cost: n=2**15, r=8 is ~32 MiB and ~0.1 s, the interactive setting of the scrypt paper."""

    n: int = 2**15
    r: int = 8
    p: int = 1


def read_passphrase(path: Path) -> Secret:
    """The first line of ``path``; refuse a short or missing one with the fix named."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BackupError(
            f"cannot read the passphrase file {path}: {exc.strerror}; pass an existing file"
        ) from exc
    value = text.splitlines()[0] if text.splitlines() else ""
    if len(value) < MIN_PASSPHRASE:
        raise BackupError(
            f"the passphrase in {path} is shorter than {MIN_PASSPHRASE} characters; write a longer one"
        )
    return Secret(value)


def _key(passphrase: Secret, salt: bytes, params: KdfParams) -> bytes:
    kdf = Scrypt(salt=salt, length=32, n=params.n, r=params.r, p=params.p)
    return kdf.derive(passphrase.reveal().encode("utf-8"))


def seal(files: Mapping[str, bytes], passphrase: Secret, *, params: KdfParams | None = None) -> bytes:
    """Encrypt ``files`` (name -> content) into one sealed blob."""
    params = params or KdfParams()
    salt, nonce = os.urandom(16), os.urandom(12)
    header = json.dumps(
        {
            "kdf": "scrypt",
            "n": params.n,
            "r": params.r,
            "p": params.p,
            "salt": base64.b64encode(salt).decode(),
            "cipher": "aes-256-gcm",
            "nonce": base64.b64encode(nonce).decode(),
        },
        sort_keys=True,
    ).encode()
    body = json.dumps({name: base64.b64encode(data).decode() for name, data in files.items()}).encode()
    ciphertext = AESGCM(_key(passphrase, salt, params)).encrypt(nonce, body, header)
    return MAGIC + header + b"\n" + ciphertext


def unseal(blob: bytes, passphrase: Secret) -> dict[str, bytes]:
    """Decrypt a sealed blob; WrongPassphrase when it does not open."""
    if not blob.startswith(MAGIC) or b"\n" not in blob[len(MAGIC) :]:
        raise BackupError("secrets.enc is not a Nexus sealed file; the archive is not a Nexus backup")
    header, _, ciphertext = blob[len(MAGIC) :].partition(b"\n")
    try:
        meta = json.loads(header)
        params = KdfParams(int(meta["n"]), int(meta["r"]), int(meta["p"]))
        salt, nonce = base64.b64decode(meta["salt"]), base64.b64decode(meta["nonce"])
        if meta.get("kdf") != "scrypt" or meta.get("cipher") != "aes-256-gcm":
            raise ValueError(f"unknown kdf/cipher {meta.get('kdf')}/{meta.get('cipher')}")
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupError(f"secrets.enc has a malformed header ({exc}); the archive is damaged") from exc
    try:
        body = AESGCM(_key(passphrase, salt, params)).decrypt(nonce, ciphertext, header)
    except InvalidTag as exc:
        raise WrongPassphrase(
            "wrong passphrase: the secrets in this archive do not open with it; "
            "pass the --passphrase-file used at `nexus backup create`"
        ) from exc
    return {name: base64.b64decode(data) for name, data in json.loads(body).items()}
