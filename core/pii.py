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


def old_keys() -> list[PiiKey]:
    """Retired keys that may still decrypt stored records: ``HCP_PII_OLD_KEYS`` (comma-separated base64)."""
    keys = []
    for encoded in filter(None, (k.strip() for k in os.environ.get("HCP_PII_OLD_KEYS", "").split(","))):
        raw = base64.b64decode(encoded, validate=True)
        keys.append(PiiKey(raw, key_id(raw)))
    return keys


def key_for(key_id_: str) -> PiiKey:
    """The current or a retired key with id ``key_id_``; KeyError names what to set when none is."""
    for key in [load_key(), *old_keys()]:
        if key.key_id == key_id_:
            return key
    raise KeyError(f"no key with id {key_id_} (set HCP_PII_KEY or HCP_PII_OLD_KEYS)")


# --- TOTP secrets -------------------------------------------------------------------------------
# A user's TOTP secret is sealed like customer PII: an AES-GCM envelope under the PII key, bound to
# the username (a sealed secret cannot be copied to another user's row).


def _totp_context(username: str) -> str:
    return f"totp:{username}"


def seal_totp_secret(username: str, secret: str, key: PiiKey | None = None) -> tuple[bytes, str]:
    """``(envelope, key_id)`` of ``username``'s TOTP secret under the current PII key."""
    key = key or load_key()
    return encrypt_pii({"totp_secret": secret}, _totp_context(username), key), key.key_id


def open_totp_secret(username: str, envelope: bytes | memoryview, key_id_: str) -> str:
    """The TOTP secret sealed by :func:`seal_totp_secret` (under the current or a retired key)."""
    return decrypt_pii(envelope, _totp_context(username), key_for(key_id_))["totp_secret"]


def seal_totp_secrets(conn, key: PiiKey | None = None) -> int:
    """Seal every TOTP secret still stored in clear (versions before 0016) or under another key
    than the current one, and empty the clear column; returns how many were (re)sealed. Runs in
    the caller's transaction; loads the key only when there is something to seal."""
    rows = conn.execute(
        """select username, totp_secret, totp_secret_encrypted, totp_key_id from ops.app_users
           where totp_secret is not null
              or (totp_secret_encrypted is not null and totp_key_id is distinct from %s)
           for update""",
        (key.key_id if key else "",),
    ).fetchall()
    if not rows:
        return 0
    key = key or load_key()
    sealed = 0
    for username, clear, envelope, kid in rows:
        if clear is None and kid == key.key_id:
            continue
        secret = clear if clear is not None else open_totp_secret(username, envelope, kid)
        blob, kid = seal_totp_secret(username, secret, key)
        conn.execute(
            """update ops.app_users set totp_secret = null, totp_secret_encrypted = %s, totp_key_id = %s
               where username = %s""",
            (blob, kid, username),
        )
        sealed += 1
    return sealed
