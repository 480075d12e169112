"""The OpenAPI 3.1 document of the API, as checked in at ``api/openapi.json``."""

from __future__ import annotations

import json
from pathlib import Path

SPEC_PATH = Path(__file__).parent / "openapi.json"


def spec_text() -> str:
    """The spec as generated from the code: stable key order, two-space indent, newline at the end."""
    from api.app import create_app

    return json.dumps(create_app(with_lifespan=False).openapi(), indent=2, sort_keys=True) + "\n"


def write_spec(path: Path = SPEC_PATH) -> Path:
    path.write_text(spec_text())
    return path
