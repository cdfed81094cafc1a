"""Batch mode: a file of questions answered concurrently, one JSON result a line, resumable.

Input lines are {"id": ..., "prompt": ...} (a missing id is the line number) or plain text (the
id is the line number). The engines are synchronous: a bounded thread pool shares one engine, so
the agent loop is the same code as everywhere else. Each result is appended and fsynced as soon
as it is done; a rerun skips the ids answered in the output and asks the failed ones again, so an
interrupted batch resumes where it stopped. The output is locked while a batch writes to it.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
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
from .errors import AgentError, BatchError, ResultsNotSaved
from .transcript import read_lines


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


def previous_results(out: Path) -> dict[str, bool]:
    """Each id already in the output, mapped to whether its latest line is a failure: a rerun asks
    failed ids again, and their new line supersedes the old. A line cut short by a crash is ignored."""
    failed: dict[str, bool] = {}
    if not out.is_file():  # e.g. a device: nothing to resume
        return failed
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
            failed[id_key(record["id"])] = record.get("stopped") == "error"
    return failed


def done_ids(out: Path) -> set[str]:
    """The ids answered in the output (their latest line is not a failure)."""
    return {key for key, failed in previous_results(out).items() if not failed}


class ResultWriter:
    """Appends one JSON line per result, fsynced; safe to call from any thread. Holds an exclusive
    lock on the file while open: a second batch on the same output would run every item again."""

    def __init__(self, path: Path):
        self.path, self.saved = path, 0
        self.lock = threading.Lock()
        self.failure: ResultsNotSaved | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            raise BatchError(f"{path}: cannot write results ({e.strerror or e})") from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            raise BatchError(f"{path} is in use by another batch; wait for it to end or give another --out") from None
        size = os.fstat(self.fd).st_size
        if size and os.pread(self.fd, 1, size - 1) != b"\n":
            self._append(b"\n")  # a line cut short by a crash stays on its own

    def write(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        with self.lock:
            if self.failure:
                raise self.failure
            self._append(data)
            self.saved += 1

    def _append(self, data: bytes) -> None:
        # Unbuffered: a failed write leaves nothing behind for a later flush to fail on again.
        try:
            while data:
                data = data[os.write(self.fd, data):]
            os.fsync(self.fd)
        except OSError as e:
            full = e.errno in (errno.ENOSPC, errno.EDQUOT)
            what = "the disk is full" if full else f"cannot write ({e.strerror or e})"
            self.failure = ResultsNotSaved(
                f"{self.path}: {what}; {self.saved} result(s) of this run were saved before, each line whole; "
                f"make room and rerun to resume")
            raise self.failure from None

    def close(self) -> None:
        with self.lock:
            os.close(self.fd)  # the lock goes with it


@dataclass
class Summary:
    total: int = 0
    skipped: int = 0
    retried: int = 0  # items whose earlier result was a failure, asked again
    done: int = 0
    errors: int = 0
    wall_s: float = 0.0
    interrupted: bool = False

    def line(self, out: Path) -> str:
        retried = f" ({self.retried} asked again after failing before)" if self.retried else ""
        text = (f"{self.done} done{retried}, {self.errors} error(s), {self.skipped} skipped (already answered "
                f"in {out}), wall time {self.wall_s:.1f} s")
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
    """Answer the items not yet answered in `out`, `concurrency` at a time. The engine is made
    once, before any item (a config problem fails here, and the endpoint is probed once) and
    shared by the workers: an engine keeps nothing between questions."""
    started = time.perf_counter()
    summary = Summary(total=len(items))
    writer = ResultWriter(out)  # locked before anything is read or asked
    try:
        earlier = previous_results(out)
        todo = [item for item in items if earlier.get(item.key, True)]
        summary.skipped = len(items) - len(todo)
        summary.retried = sum(1 for item in todo if earlier.get(item.key))
        if todo:
            _answer_all(todo, writer, make_engine(), max(1, min(concurrency, len(todo))), summary, console)
    finally:
        if not summary.interrupted:  # abandoned workers may still write: the CLI exits at once
            writer.close()
    summary.wall_s = time.perf_counter() - started
    return summary


def _answer_all(todo: list[Item], writer: ResultWriter, engine: Any, workers: int, summary: Summary,
                console: Console | None) -> None:
    def work(item: Item) -> RunResult:
        if writer.failure:  # nothing more can be saved: do not ask (or act with --yes) in vain
            raise writer.failure
        try:
            result = engine.run(item.prompt)
        except Exception as e:  # noqa: BLE001 - one item's failure is recorded, the batch goes on
            result = failed(e)
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


def _count(summary: Summary, future: Future) -> None:
    if future.cancelled():
        return
    result = future.result()  # ResultsNotSaved (a full disk) ends the batch here
    summary.done += 1
    if result.stopped == "error":
        summary.errors += 1
