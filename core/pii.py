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


class MissingKeyError(RuntimeError):
    """No PII key: the platform stops rather than encrypt under (or fail to read with) a new key."""


def key_path() -> Path:
    return get_settings().home / "secrets" / "pii.key"


def load_key() -> PiiKey:
    """The PII key: ``HCP_PII_KEY`` (base64 of 32 bytes), else ``$HCP_HOME/secrets/pii.key``.
    A missing key is an error, never silently replaced: creating one is ``hcp keys create``."""
    settings = get_settings()
    if settings.pii_key:
        encoded = settings.pii_key
        source = "HCP_PII_KEY"
    else:
        path = key_path()
        if not path.exists():
            raise MissingKeyError(
                f"no PII key: neither HCP_PII_KEY nor {path} is set. Restore the key of this platform "
                "(`hcp db restore BACKUP` with its passphrase, or the key from your secret store); "
                "only for a new platform, create one with `hcp keys create`."
            )
        encoded = path.read_text().strip()
        source = str(path)
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise ValueError(f"{source} is not base64") from None
    if len(key) != 32:
        raise ValueError(f"{source} must be base64 of 32 bytes (AES-256), got {len(key)} bytes")
    return PiiKey(key, key_id(key))


def create_key(path: Path | None = None) -> PiiKey:
    """Write a new random key to ``path`` (default: ``$HCP_HOME/secrets/pii.key``, mode 0600);
    refuses to overwrite an existing key (that would make every encrypted record unreadable)."""
    return write_key(base64.b64encode(os.urandom(32)).decode(), path)


def write_key(encoded: str, path: Path | None = None) -> PiiKey:
    """Store a base64 key at ``path`` (mode 0600); FileExistsError when a key is already there."""
    path = path or key_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(encoded.strip() + "\n")
    key = base64.b64decode(encoded, validate=True)
    return PiiKey(key, key_id(key))


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
