"""Customer PII encryption: AES-256-GCM, one random nonce per record, the customer id as associated
data (a ciphertext cannot be moved to another customer), stored as JSON with the key id."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.settings import get_settings

ALGORITHM = "AES-256-GCM"


@dataclass(frozen=True)
class PiiKey:
    key: bytes
    key_id: str  # first 8 hex digits of sha256(key): names the key without revealing it


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def load_key() -> PiiKey:
    """The PII key: ``HCP_PII_KEY`` (base64 of 32 bytes), else ``$HCP_HOME/secrets/pii.key``,
    generated there (mode 0600) on first use."""
    settings = get_settings()
    if settings.pii_key:
        encoded = settings.pii_key
        source = "HCP_PII_KEY"
    else:
        path = settings.home / "secrets" / "pii.key"
        if not path.exists():
            _write_new_key(path)
        encoded = path.read_text().strip()
        source = str(path)
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise ValueError(f"{source} is not base64") from None
    if len(key) != 32:
        raise ValueError(f"{source} must be base64 of 32 bytes (AES-256), got {len(key)} bytes")
    return PiiKey(key, key_id(key))


def _write_new_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(os.urandom(32)).decode() + "\n")


def encrypt_pii(fields: dict[str, str | None], customer_id: str, key: PiiKey) -> bytes:
    """JSON ``{"alg", "key_id", "nonce", "ciphertext"}`` (base64 values) as UTF-8 bytes."""
    nonce = os.urandom(12)
    plaintext = json.dumps(fields, sort_keys=True).encode()
    ciphertext = AESGCM(key.key).encrypt(nonce, plaintext, customer_id.encode())
    envelope = {
        "alg": ALGORITHM,
        "key_id": key.key_id,
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }
    return json.dumps(envelope).encode()


def decrypt_pii(
    blob: bytes | memoryview, customer_id: str, key: PiiKey | None = None
) -> dict[str, str | None]:
    """The PII fields of one customer; raises ``cryptography.exceptions.InvalidTag`` on a wrong key."""
    key = key or load_key()
    envelope = json.loads(bytes(blob))
    nonce = base64.b64decode(envelope["nonce"])
    ciphertext = base64.b64decode(envelope["ciphertext"])
    return json.loads(AESGCM(key.key).decrypt(nonce, ciphertext, customer_id.encode()))
