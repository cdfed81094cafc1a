"""A llama.cpp server kept loaded between commands (`server.keep_alive`), as Ollama keeps a model.

Each server has a key (a hash of its model file and settings) and two files in the cache dir:
`servers/<key>.json`, its state (pid, port), and `servers/<key>.lock`, an flock that every command
holds while it uses the server: exclusively while it finds or starts it (so two commands at once
start one), shared afterwards. The server itself exits once it can take the lock exclusively (no
command uses it) and nobody has touched the state file for `keep_alive` seconds.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Iterator

from .errors import ServerError
from .weights import cache_dir

SERVER_MODULE = "localagent.llama_server"


def servers_dir() -> Path:
    return cache_dir() / "servers"


def server_key(model: Path, settings: list[str]) -> str:
    """The same model file (path, size, mtime) and the same server arguments: the same server."""
    stat = model.stat()
    identity = [str(model.resolve()), str(stat.st_size), str(stat.st_mtime_ns), *settings]
    return hashlib.sha256("\0".join(identity).encode()).hexdigest()[:16]


@dataclass
class State:
    pid: int
    host: str
    port: int
    model: str
    keep_alive: float
    started: float
    log: str

    @property
    def api_base(self) -> str:
        return f"http://{self.host}:{self.port}/v1"


def read_state(path: Path) -> State | None:
    try:
        return State(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None  # absent, half-written by a killed command, or from an older version


def write_state(path: Path, state: State) -> None:
    partial = path.with_suffix(f".partial-{os.getpid()}")
    partial.write_text(json.dumps(asdict(state)), encoding="utf-8")
    os.replace(partial, path)  # atomic: a reader sees the old state or the new one


def is_server_process(pid: int) -> bool:
    """`pid` runs our llama.cpp server (not a process that reused the pid of a killed one)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process
    try:
        return SERVER_MODULE.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no /proc (macOS): the pid check is all there is
    except OSError:
        return False


def touch(path: Path) -> None:
    """Mark the server used now: its idle time counts from here."""
    with contextlib.suppress(OSError):
        os.utime(path)


class ServerLock:
    """The flock of one key: exclusive to find or start the server, shared while using it."""

    def __init__(self, key: str):
        servers_dir().mkdir(parents=True, exist_ok=True)
        self.state_path = servers_dir() / f"{key}.json"
        self.path = servers_dir() / f"{key}.lock"
        self.file: IO | None = None

    def exclusive(self, timeout: float) -> None:
        self.file = self.file or self.path.open("a+")
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ServerError(f"another localagent command has been starting the llama.cpp server "
                                      f"for over {timeout:g} s (lock: {self.path})") from None
                time.sleep(0.1)

    def shared(self) -> None:
        # Converting EX to SH is not atomic, but the server only exits when the state file is
        # older than keep_alive, and the command touched it while holding EX.
        fcntl.flock(self.file, fcntl.LOCK_SH)

    def touch(self) -> None:
        touch(self.state_path)

    def release(self) -> None:
        if self.file:
            self.file.close()  # closing drops the flock
            self.file = None


def terminate(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM our server process, SIGKILL after `timeout`; returns once it is gone."""
    if not is_server_process(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while is_server_process(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if is_server_process(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while is_server_process(pid):
            time.sleep(0.05)


def kept_servers() -> list[tuple[Path, State]]:
    """The kept servers that are running, each with its state file; stale state files are removed."""
    found = []
    for path in sorted(servers_dir().glob("*.json")):
        state = read_state(path)
        if state and is_server_process(state.pid):
            found.append((path, state))
        else:
            path.unlink(missing_ok=True)
    return found


def stop_kept_servers() -> list[State]:
    """Stop every kept server now (`--stop-server`); the ones that were running."""
    stopped = []
    for path, state in kept_servers():
        terminate(state.pid)
        path.unlink(missing_ok=True)
        stopped.append(state)
    return stopped


def idle_seconds(state_path: Path) -> float:
    try:
        return time.time() - state_path.stat().st_mtime
    except OSError:
        return float("inf")


# --- in the server process --------------------------------------------------------------------

def watch_idle(state_path: Path, keep_alive: float, stop: threading.Event, poll: float = 1.0) -> threading.Thread:
    """Set `stop` once no command has used this server for `keep_alive` seconds.

    Deciding holds the lock exclusively, and the lock stays held until this process exits (the
    file is left open), so no command can pick this server in between or start a second one on
    the same fixed port before this one has let it go.
    """
    lock_path = state_path.with_suffix(".lock")

    def run() -> None:
        touch(state_path)  # the model just loaded: idle from now
        while not stop.wait(poll):
            lock = lock_path.open("a+")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a command is using this server
                lock.close()
                touch(state_path)
                continue
            if idle_seconds(state_path) < keep_alive:
                lock.close()
                continue
            state = read_state(state_path)
            if state and state.pid == os.getpid():
                state_path.unlink(missing_ok=True)
            stop.set()  # `lock` stays open: released when the process exits
            return

    thread = threading.Thread(target=run, name="keep-alive", daemon=True)
    thread.start()
    return thread


@contextlib.contextmanager
def holding(lock: ServerLock) -> Iterator[None]:
    try:
        yield
    finally:
        lock.touch()
        lock.release()
