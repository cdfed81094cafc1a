"""KV states on disk: the system prompt's, so that a freshly started server prefills only the
question; a question's own, kept while checks use the server's one slot (`SavedSlot`).

llama.cpp saves a slot's state (its tokens and their KV cache) to a file and restores it
(`POST /slots/0?action=save|restore`, files in the server's `slot_save_path`). The file is named
by the server (model file and settings) and the system prompt (instruction and tools): a changed
tool or model is another name. Even a wrong file could not change an answer: llama.cpp reuses a
restored state only as far as its tokens match the new prompt's. The directory is kept under
MAX_BYTES, least recently used files first out.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

import httpx

from .weights import cache_dir

MAX_BYTES = 512 << 20  # a 1.5B model's state of ~600 tokens is ~17 MB


def prompt_cache_dir() -> Path:
    return cache_dir() / "prompt-cache"


def state_file(server_key: str, system_prompt: str, tools: list | None = None) -> str:
    """The file name for this server and prompt (a name in prompt_cache_dir(), as llama.cpp wants it)."""
    text = json.dumps([server_key, system_prompt, tools or []], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24] + ".bin"


def _slot_action(server_url: str, action: str, filename: str, timeout: float = 60) -> dict:
    """llama.cpp's answer ({"n_saved": …} or {"n_restored": …}); {} when it failed."""
    try:
        response = httpx.post(f"{server_url}/slots/0?action={action}", json={"filename": filename},
                              timeout=timeout, verify=False)  # plain http: our own server
        return response.json() if response.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        return {}


def restore(server_url: str, filename: str) -> bool:
    """Load the saved state into slot 0 of a server that has answered nothing yet; False if none."""
    path = prompt_cache_dir() / filename
    if not path.is_file() or not _slot_action(server_url, "restore", filename).get("n_restored"):
        return False
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: pruned last
    return True


def save(server_url: str, filename: str) -> bool:
    """Save slot 0 (the prompt it last answered, which starts with the system prompt) once."""
    path = prompt_cache_dir() / filename
    if path.is_file():
        return False
    if not _slot_action(server_url, "save", filename).get("n_saved"):
        path.unlink(missing_ok=True)  # nothing was answered: an empty state would only take the name
        return False
    prune()
    return True


class SavedSlot:
    """Slot 0's state saved on entering and loaded back on leaving: the requests inside start from
    an earlier point of the prompt (a check asked right after the question), and the next request
    from where the slot was evaluates only its new tokens, not again those the checks displaced
    (bench/README.md, "The question's state kept aside"). Nothing is kept when the server cannot
    save (no `--slot-save-path`, a full disk)."""

    def __init__(self, server_url: str, filename: str):
        self.server_url, self.filename = server_url, filename
        self.saved = False

    def __enter__(self) -> "SavedSlot":
        self.saved = bool(_slot_action(self.server_url, "save", self.filename).get("n_saved"))
        if not self.saved:
            self._remove()  # what a failed save may have written
        return self

    def drop(self) -> None:
        """Load nothing back: the question goes on from the requests inside."""
        self._remove()

    def __exit__(self, *exc: object) -> None:
        if self.saved:
            _slot_action(self.server_url, "restore", self.filename)
            self._remove()

    def _remove(self) -> None:
        self.saved = False
        (prompt_cache_dir() / self.filename).unlink(missing_ok=True)


def prune(max_bytes: int = MAX_BYTES) -> None:
    files = []
    for path in prompt_cache_dir().glob("*.bin"):
        with contextlib.suppress(OSError):
            stat = path.stat()
            files.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in files)
    for _, size, path in sorted(files):
        if total <= max_bytes:
            break
        path.unlink(missing_ok=True)
        total -= size
