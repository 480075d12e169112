"""The Python SDK's models (``sdk/hcp_client/models.py``), generated from the checked-in OpenAPI spec.

The SDK may not import the platform (import contract ``sdk-standalone``), so its models are generated
from ``api/openapi.json`` by datamodel-code-generator (its options: ``[tool.datamodel-codegen]`` in
pyproject.toml) rather than copied from ``api.schemas``; a test regenerates them and compares, and
``hcp api spec`` rewrites both. A dev-time tool: the served API never imports this module.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from api.spec import SPEC_PATH
from core.settings import PROJECT_ROOT

SDK_MODELS_PATH = PROJECT_ROOT / "sdk" / "hcp_client" / "models.py"


def sdk_schemas(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec as the SDK's generator reads it: the component schemas without the page envelopes (the
    SDK has one generic ``Page``), and a schema that extends another (Invoice = InvoiceSummary + lines)
    written as ``allOf`` so that its model subclasses the other's."""
    schemas = {n: s for n, s in spec["components"]["schemas"].items() if not n.endswith("Page")}
    out = {}
    for name, schema in schemas.items():
        props = schema.get("properties", {})
        bases = [
            other
            for other, candidate in schemas.items()
            if other != name
            and candidate.get("properties")
            and candidate["properties"].items() < props.items()
        ]
        if not bases:
            out[name] = schema
            continue
        base = max(bases, key=lambda other: len(schemas[other]["properties"]))
        extra = {k: v for k, v in props.items() if k not in schemas[base]["properties"]}
        own = {
            "type": "object",
            "properties": extra,
            "required": [r for r in schema["required"] if r in extra],
        }
        rest = {k: v for k, v in schema.items() if k not in ("properties", "required", "type")}
        out[name] = {**rest, "allOf": [{"$ref": f"#/components/schemas/{base}"}, own]}
    return {**spec, "paths": {}, "components": {"schemas": out}}


def sdk_models_text(spec_path: Path = SPEC_PATH) -> str:
    """The SDK's models module as generated from the spec at ``spec_path``."""
    spec = json.dumps(sdk_schemas(json.loads(spec_path.read_text())))
    generated = _run([sys.executable, "-m", "datamodel_code_generator"], spec)
    # the project's ruff settings on the file as it will be (first-party imports sorted as in the
    # repo), so `ruff check/format .` leave the generated file as it is
    ruff = [sys.executable, "-m", "ruff"]
    fixed = _run(
        [*ruff, "check", "--fix", "--quiet", "--stdin-filename", str(SDK_MODELS_PATH), "-"], generated
    )
    return _run([*ruff, "format", "--stdin-filename", str(SDK_MODELS_PATH), "-"], fixed)


def _run(command: list[str], stdin: str) -> str:
    """A tool's output for ``stdin``, run in the project root (where pyproject.toml configures it)."""
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed: {done.stderr.strip()}")
    return done.stdout


def write_sdk_models(path: Path = SDK_MODELS_PATH) -> Path:
    """Regenerate the SDK's models file from the checked-in spec."""
    path.write_text(sdk_models_text())
    return path
