"""A llama.cpp server kept loaded between commands (`server.keep_alive`), as Ollama keeps a model.

Each server has a key (a hash of its model file and settings) and, in the cache dir, its state
`servers/<key>.json` (pid, port) and two flocks (ServerLock): `<key>.lock`, held exclusively by a
command while it finds or starts the server, and `<key>.lease`, held shared while it uses it. The
server itself exits once it can take both exclusively (nobody uses it) and nobody has touched the
state file for `keep_alive` seconds. Flocks go with their process, so a killed command or server
leaves no lock behind; a state file whose process is gone is replaced.
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
from .replaced import replaced
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
    with replaced(path) as file:  # a reader sees the old state or the new one
        file.write(json.dumps(asdict(state)))


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
    """The two flocks of one key. `<key>.lock`: held exclusively while a command finds or starts
    the server (so two commands at once start one). `<key>.lease`: held shared while a command
    uses it (so it cannot time out under a long chat, and a chat does not hold up other commands).
    The server exits only when it can take both exclusively."""

    def __init__(self, key: str):
        servers_dir().mkdir(parents=True, exist_ok=True)
        self.state_path = servers_dir() / f"{key}.json"
        self.path = servers_dir() / f"{key}.lock"
        self.lease_path = servers_dir() / f"{key}.lease"
        self.files: list[IO] = []

    def acquire(self, timeout: float) -> None:
        """The start lock, exclusively: the server cannot be exiting while we hold it."""
        self.files.append(self.path.open("a+"))
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(self.files[0], fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ServerError(f"another localagent command has been starting the llama.cpp server "
                                      f"for over {timeout:g} s (lock: {self.path})") from None
                time.sleep(0.1)

    def use(self) -> None:
        """Take the lease (shared), then let other commands find the server."""
        lease = self.lease_path.open("a+")
        fcntl.flock(lease, fcntl.LOCK_SH)  # free: the server takes it only while holding the start lock
        self.files.append(lease)
        self.touch()
        self.files.pop(0).close()  # closing drops the flock

    def touch(self) -> None:
        touch(self.state_path)

    def release(self) -> None:
        while self.files:
            self.files.pop().close()


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

    Deciding holds both locks exclusively, and they stay held until this process exits (the files
    are left open), so no command can pick this server in between, or start a second one on the
    same fixed port before this one has let it go.
    """
    lock_paths = [state_path.with_suffix(".lock"), state_path.with_suffix(".lease")]

    def unused() -> list[IO] | None:
        """Both locks, if nobody finds, starts or uses the server now."""
        held: list[IO] = []
        for path in lock_paths:
            held.append(path.open("a+"))
            try:
                fcntl.flock(held[-1], fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                for file in held:
                    file.close()
                return None
        return held

    def run() -> None:
        touch(state_path)  # the model just loaded: idle from now
        while not stop.wait(poll):
            held = unused()
            if held is None:  # in use: idle counts from the end of that use
                touch(state_path)
                continue
            if idle_seconds(state_path) < keep_alive:
                for file in held:
                    file.close()
                continue
            state = read_state(state_path)
            if state and state.pid == os.getpid():
                state_path.unlink(missing_ok=True)
            stop.set()  # `held` stays open: the locks go when the process exits
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
