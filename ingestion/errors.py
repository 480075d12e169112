"""The one error an unusable landing file raises."""

from __future__ import annotations

from pathlib import Path


class IngestError(Exception):
    """A file that cannot be ingested at all (empty, wrong encoding, wrong header, unknown kind)."""

    def __init__(self, path: str | Path, message: str, *, line: int | None = None, field: str | None = None):
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message
        where = (
            self.path
            + (f", line {line}" if line is not None else "")
            + (f", field {field!r}" if field else "")
        )
        super().__init__(f"{where}: {message}")
