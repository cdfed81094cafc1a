"""Files written whole: a reader sees the old content or the new, never half of it.

The new content goes to a file beside the target, which is renamed over it (`os.replace`, atomic
on one file system) only when it was written without error. A command killed while writing, a
full disk or a check that fails leaves the old file, and no partial one.
"""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import IO, Any, Iterator


@contextlib.contextmanager
def replaced(path: Path, mode: str = "w", durable: bool = False) -> Iterator[IO[Any]]:
    """A file to write `path`'s new content into (`mode` "w" for text in UTF-8, "wb" for bytes);
    `durable`: on the disk before it replaces the old one, not only in the system's cache."""
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}-{threading.get_ident()}")
    try:
        with partial.open(mode, encoding=None if "b" in mode else "utf-8") as file:
            yield file
            if durable:
                file.flush()
                os.fsync(file.fileno())
        os.replace(partial, path)
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
