"""The JSONL transcript: every exchange appended and fsynced at once, so a crash loses nothing.

One line per exchange: {"time", "prompt", "answer", "trace", "stopped", "turns", "tool_calls",
"usage", "timings", "error", "partial"}; `/reset` writes {"time", "event": "reset"}. `/save` writes a conversation as
chat messages, one {"role", "content"} a line. `load_history` reads both (and batch results), so
`--resume` continues any of them.
"""
from __future__ import annotations

import json
import os
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any

import platformdirs

from .engines.base import Exchange, Message, RunResult, ToolCallRecord, history_messages
from .errors import TranscriptError
from .memory import exchanges_of
from .replaced import replaced


def data_dir() -> Path:
    """Where history and transcripts live: $XDG_DATA_HOME/localagent, ~/.local/share/localagent."""
    return Path(platformdirs.user_data_dir("localagent", appauthor=False))


def history_file() -> Path:
    return data_dir() / "history"


def default_path(directory: str | os.PathLike | None = None) -> Path:
    """A new file per session: <dir>/<local time>-<pid>.jsonl."""
    base = Path(directory).expanduser() if directory else data_dir() / "transcripts"
    return base / f"{datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}.jsonl"


def append_line(path: Path, record: dict[str, Any]) -> None:
    """One JSON line, flushed and fsynced. Private (0600): conversations may hold secrets."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        if os.fstat(fd).st_size > 0 and not _ends_with_newline(path):
            f.write("\n")  # a line cut short by a crash stays on its own
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def exchange_record(prompt: str, result: RunResult) -> dict[str, Any]:
    return {"time": datetime.now().astimezone().isoformat(timespec="seconds"), "prompt": prompt,
            **result.to_json()}


class Transcript:
    """Appends exchanges to one file, created on the first write. A failed write warns once and
    turns the transcript off: the conversation goes on."""

    def __init__(self, path: Path | None, on_warning=lambda message: None):
        self.path, self.on_warning = path, on_warning
        self.count = 0

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def add(self, prompt: str, result: RunResult) -> None:
        self._write(exchange_record(prompt, result))
        self.count += 1

    def reset(self) -> None:
        """A marker, so that resuming this file starts after it (nothing to mark in an empty file)."""
        if self.count or (self.path is not None and self.path.exists()):
            self._write({"time": datetime.now().astimezone().isoformat(timespec="seconds"), "event": "reset"})

    def _write(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        try:
            append_line(self.path, record)
        except OSError as e:
            self.on_warning(f"transcript {self.path} not written ({e.strerror or e}); transcript off")
            self.path = None


def read_lines(path: Path, error: type[Exception], what: str) -> list[str]:
    """The lines of a JSONL file, or `error` with a one-line message (a BOM is tolerated)."""
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from None


def load_history(path: str | os.PathLike) -> list[Message]:
    """The user/assistant messages of a transcript, a /save file or batch results (see load_exchanges)."""
    return history_messages(load_exchanges(path))


def load_exchanges(path: str | os.PathLike) -> list[Exchange]:
    """The answered exchanges of a transcript or batch results, with their tool calls, and those of
    a /save file (known only as text); a reset line starts over. Unreadable lines (a crash
    mid-write) are skipped."""
    path = Path(path)
    lines = read_lines(path, TranscriptError, "transcript")
    history: list[Message | Exchange] = []
    parsed = 0
    for line in lines:
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if not isinstance(item, dict):
            continue
        parsed += 1
        if item.get("event") == "reset":
            history.clear()
        elif item.get("role") in ("user", "assistant") and isinstance(item.get("content"), str):
            history.append({"role": item["role"], "content": item["content"]})
        elif isinstance(item.get("prompt"), str) and item.get("stopped", "answer") == "answer":
            history.append(Exchange(item["prompt"], str(item.get("trace") or item.get("answer") or ""),
                                    _records(item.get("tool_calls"))))
    if lines and not parsed:
        raise TranscriptError(f"{path}: not a JSONL transcript")
    return exchanges_of(history)


def _records(calls: Any) -> list[ToolCallRecord] | None:
    """The tool calls of a transcript line as records (None when the line has none that read)."""
    if not isinstance(calls, list):
        return None
    names = {f.name for f in fields(ToolCallRecord)}
    try:
        return [ToolCallRecord(**{k: v for k, v in call.items() if k in names}) for call in calls]
    except (TypeError, AttributeError):
        return None


def save_conversation(path: str | os.PathLike, history: list[dict[str, str]]) -> Path:
    """The conversation as chat messages, one JSON line each (replaces the file)."""
    path = Path(path).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with replaced(path, durable=True) as f:
            for message in history:
                f.write(json.dumps(message, ensure_ascii=False) + "\n")
    except OSError as e:
        raise TranscriptError(f"{path}: cannot write ({e.strerror or e})") from None
    return path
