"""Content fingerprints recorded in the manifest and in feature files' ``source`` attributes."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (``hashlib.file_digest``: chunked, without reading it whole)."""
    with Path(path).open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
