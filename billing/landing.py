"""Landing copies of customer PII, for erasure.

Loaded files are not moved or archived: a customers file stays where it was loaded from (its path
is in ``raw.load_log.source_file``), and the landing folder keeps customers files the sensor has
not loaded yet. Those are the landing copies of a customer's PII. Erasure removes the customer's
rows from each (other customers' rows are kept, so a reload stays a no-op for them) and leaves the
file readable by its owner only.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from core.files import write_private

# Customers files as the landing folder names them (assets.ingestion: reference/customers*.csv).
CUSTOMERS_FILES = "customers*.csv"


class LandingCopyError(RuntimeError):
    """A landing copy that cannot be erased from; the message names the file."""


def landing_copies(landing: Path, recorded: list[str]) -> list[Path]:
    """Customers files that may hold PII: the ``recorded`` paths of earlier loads that still exist,
    and every customers file under ``landing``. Symbolic links are left alone (ingestion refuses
    them; rewriting one would write through it)."""
    found = {Path(p) for p in recorded}
    if landing.is_dir():
        found |= set(landing.rglob(CUSTOMERS_FILES))
    return sorted(p for p in found if p.is_file() and not p.is_symlink())


def drop_customer_rows(path: Path, customer_id: str) -> int:
    """Rewrite the customers CSV at ``path`` without the rows of ``customer_id`` (atomically, mode
    0600); returns how many rows were removed (0: the file is left untouched)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LandingCopyError(f"{path}: not UTF-8, cannot erase a customer from it") from None
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        return 0
    # header names match as ingestion matches them: case, spaces and underscores aside
    keys = [re.sub(r"[\s_]+", "", name).lower() for name in rows[0]]
    if "customerid" not in keys:
        raise LandingCopyError(f"{path}, line 1: no customer_id column, cannot erase a customer from it")
    column = keys.index("customerid")
    kept = [rows[0]] + [r for r in rows[1:] if not (len(r) > column and r[column].strip() == customer_id)]
    removed = len(rows) - len(kept)
    if removed:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(kept)
        temporary = path.with_name(f".{path.name}.erasing")
        write_private(temporary, out.getvalue())
        os.replace(temporary, path)
    return removed
