"""The API's own settings (``HCP_API_*``) and the server secret that keys are hashed with.

Nothing is read at import time; call :func:`get_api_settings` where a value is needed.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.settings import get_settings


class ApiSettings(BaseSettings):
    """Settings of ``hcp api serve``; each field maps to an ``HCP_API_*`` variable."""

    model_config = SettingsConfigDict(env_prefix="HCP_API_", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(
        default=None, description="URL the API connects with (as hcp_api); derived from DATABASE_URL if unset"
    )
    db_password: str | None = Field(default=None, description="password of the hcp_api login role")
    key_secret: str | None = Field(default=None, description="server secret API keys are hashed with")
    stripe_webhook_secret: str | None = Field(
        default=None, alias="HCP_STRIPE_WEBHOOK_SECRET", description="Stripe's whsec_... signing secret"
    )
    host: str = "127.0.0.1"
    port: int = 8000
    pool_size: int = 10
    workers: int = Field(default=1, ge=1, description="uvicorn worker processes (one per core)")


@lru_cache(maxsize=1)
def get_api_settings() -> ApiSettings:
    return ApiSettings()


def key_secret() -> bytes:
    """The HMAC secret of API keys: ``HCP_API_KEY_SECRET``, else ``$HCP_HOME/secrets/api_keys.secret``
    (generated, mode 0600, on first use). Changing it invalidates every key."""
    configured = get_api_settings().key_secret
    if configured:
        return configured.encode()
    path: Path = get_settings().home / "secrets" / "api_keys.secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process wrote it first: use theirs
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(os.urandom(32).hex() + "\n")
    return path.read_text().strip().encode()
