"""Batch mode: a file of questions answered concurrently, one JSON result a line, resumable.

Input lines are {"id": ..., "prompt": ...} (a missing id is the line number) or plain text (the
id is the line number). The engines are synchronous: a bounded thread pool, each worker borrowing
one engine of its own from a pool, so the agent loop is the same code as everywhere else. Each
result is appended, flushed and fsynced as soon as it is done; a rerun skips the ids already in
the output, so an interrupted batch resumes where it stopped.
"""
from __future__ import annotations

import json
import os
import queue
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

from .engines.base import RunResult
from .errors import AgentError
from .transcript import read_lines


class BatchError(AgentError):
    """The batch input or output file is unusable."""


@dataclass(frozen=True)
class Item:
    id: Any
    prompt: str

    @property
    def key(self) -> str:
        return id_key(self.id)


def id_key(value: Any) -> str:
    """Ids compare by their JSON text: 3 and "3" are different ids, as they are in the files."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def read_prompts(path: str | os.PathLike) -> list[Item]:
    path = Path(path)
    lines = read_lines(path, BatchError, "batch file")
    items: list[Item] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        item = _parse_line(path, number, line)
        if item.key in seen:
            raise BatchError(f"{path} line {number}: id {item.key} already used on line {seen[item.key]}")
        seen[item.key] = number
        items.append(item)
    return items


def _parse_line(path: Path, number: int, line: str) -> Item:
    try:
        value = json.loads(line)
    except ValueError:
        if line.lstrip().startswith("{"):
            raise BatchError(f"{path} line {number}: invalid JSON") from None
        return Item(number, line.strip())
    if isinstance(value, str):
        return Item(number, value)
    if not isinstance(value, dict):  # e.g. a line that is just a number: plain text
        return Item(number, line.strip())
    prompt = value.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise BatchError(f"{path} line {number}: expected {{\"id\": ..., \"prompt\": \"...\"}}")
    return Item(value.get("id", number), prompt)


def done_ids(out: Path) -> set[str]:
    """The ids already answered (or failed) in the output; a line cut short by a crash is ignored."""
    done: set[str] = set()
    if not out.exists():
        return done
    try:
        text = out.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BatchError(f"{out}: cannot read the existing results ({getattr(e, 'strerror', None) or e})") from None
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "id" in record:
            done.add(id_key(record["id"]))
    return done


class ResultWriter:
    """Appends one JSON line per result, flushed and fsynced; safe to call from any thread."""

    def __init__(self, path: Path):
        self.lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.file = path.open("a+", encoding="utf-8")
            self.file.seek(0, os.SEEK_END)
            if self.file.tell() > 0:
                self.file.seek(self.file.tell() - 1)
                if self.file.read(1) != "\n":
                    self.file.write("\n")  # a line cut short by a crash stays on its own
        except OSError as e:
            raise BatchError(f"{path}: cannot write results ({e.strerror or e})") from None

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self.lock:
            try:
                self.file.write(line)
                self.file.flush()
                os.fsync(self.file.fileno())
            except OSError as e:
                raise BatchError(f"{self.file.name}: cannot write results ({e.strerror or e})") from None

    def close(self) -> None:
        with self.lock:
            self.file.close()


@dataclass
class Summary:
    total: int = 0
    skipped: int = 0
    done: int = 0
    errors: int = 0
    wall_s: float = 0.0
    interrupted: bool = False

    def line(self, out: Path) -> str:
        text = (f"{self.done} done, {self.errors} error(s), {self.skipped} skipped (already in {out}), "
                f"wall time {self.wall_s:.1f} s")
        if self.interrupted:
            text += f"; interrupted with {self.total - self.skipped - self.done} left: rerun to resume"
        return text


def failed(error: BaseException) -> RunResult:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if not isinstance(error, AgentError):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return RunResult(stopped="error", error=text)


def run_batch(items: list[Item], out: Path, make_engine: Callable[[], Any], concurrency: int = 4,
              console: Console | None = None) -> Summary:
    """Answer the items not yet in `out`, `concurrency` at a time. Engines are made up front
    (a config problem fails here, not once per item)."""
    started = time.perf_counter()
    done = done_ids(out)
    todo = [item for item in items if item.key not in done]
    summary = Summary(total=len(items), skipped=len(items) - len(todo))
    if not todo:
        summary.wall_s = time.perf_counter() - started
        return summary
    workers = max(1, min(concurrency, len(todo)))
    engines: queue.Queue = queue.Queue()
    for _ in range(workers):
        engines.put(make_engine())
    writer = ResultWriter(out)

    def work(item: Item) -> RunResult:
        engine = engines.get()
        try:
            result = engine.run(item.prompt)
        except Exception as e:  # noqa: BLE001 - one item's failure is recorded, the batch goes on
            result = failed(e)
        finally:
            engines.put(engine)
        writer.write({"id": item.id, "prompt": item.prompt, **result.to_json()})
        return result

    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("[red]{task.fields[errors]} error(s)"), TimeElapsedColumn(),
                        TimeRemainingColumn(), console=console, disable=console is None or not console.is_terminal)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batch")
    try:
        with progress:
            task = progress.add_task("batch", total=len(todo), errors=0)
            pending: set[Future] = {pool.submit(work, item) for item in todo}
            try:
                while pending:
                    finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in finished:
                        _count(summary, future)
                        progress.update(task, advance=1, errors=summary.errors)
            except KeyboardInterrupt:
                summary.interrupted = True
                for future in pending:
                    future.cancel()
                running = [f for f in pending if not f.cancelled()]
                if console is not None:
                    console.print(f"[yellow]interrupted:[/] waiting for {len(running)} running item(s) "
                                  f"(Ctrl-C again to abandon them)")
                try:
                    for future in wait(running).done:
                        _count(summary, future)
                except KeyboardInterrupt:
                    pass  # abandoned: their results are not written; a rerun asks them again
    finally:
        pool.shutdown(wait=not summary.interrupted, cancel_futures=True)
        if not summary.interrupted:
            writer.close()
    summary.wall_s = time.perf_counter() - started
    return summary


def _count(summary: Summary, future: Future) -> None:
    if future.cancelled():
        return
    summary.done += 1
    if future.result().stopped == "error":
        summary.errors += 1
