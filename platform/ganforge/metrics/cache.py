"""The on-disk cache of evaluation artefacts: content-hash keys and atomic writes.

Lives under ``$GANFORGE_CACHE_DIR`` (default ``~/.cache/ganforge``), one sub-directory per kind
(``real-stats``, ``extractors``). Files are written to a temporary name in the same directory
and renamed, so a crash or a concurrent Tune trial never leaves a half-written file behind.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from ganforge.metrics.weights import ganforge_cache_root


def cache_dir(kind: str) -> Path:
    """``<cache root>/<kind>``, created on first use (never at import)."""
    path = ganforge_cache_root() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def content_key(*parts: Any) -> str:
    """A stable hex digest of JSON-able parts (dicts are key-sorted; other objects use str())."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def file_digest(path: str | os.PathLike, limit: int = 1 << 20) -> str:
    """Digest of a file's size and first ``limit`` bytes: cheap identity for weights files."""
    path = Path(path)
    with path.open("rb") as handle:
        head = handle.read(limit)
    return content_key(path.stat().st_size, hashlib.blake2b(head, digest_size=12).hexdigest())


def atomic_write(path: Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` then rename the result onto ``path`` (same directory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(handle)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
