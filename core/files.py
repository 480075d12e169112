"""Files that may hold PII or money (reports, exports, dry-run logs): readable by the owner only."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, content: bytes | str, append: bool = False) -> Path:
    """Write (or append) ``content`` to ``path`` with mode 0600, whatever the umask; an existing file
    is narrowed to 0600 too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, content.encode() if isinstance(content, str) else content)
    finally:
        os.close(fd)
    return path
