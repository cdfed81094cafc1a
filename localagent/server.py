"""The embedded llama.cpp server: started when nothing answers; stopped when the CLI exits, or
kept loaded for `server.keep_alive` and found again by the next command (kept_server.py)."""
from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import httpx

from .config import Config
from .errors import ServerError
from .kept_server import (ServerLock, State, holding, is_server_process, read_state, server_key, terminate,
                          write_state)
from .prompt_cache import prompt_cache_dir
from .weights import BUNDLED, bundled_model_path, cache_dir, check_gguf

def stop_hint() -> str:
    """How this CLI, as the user started it, stops kept servers."""
    prog = Path(sys.argv[0]).name
    return f"{'python ' if prog.endswith('.py') else ''}{prog} --stop-server"


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the CLI dies, even by SIGKILL, so no server is orphaned."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g} s"


class EmbeddedServer:
    def __init__(self, config: Config):
        self.server = config.server
        self.alias = config.llm_config.model
        self.process: subprocess.Popen | None = None
        self.pid: int | None = None
        self.fresh = False  # started by this process: nothing in its KV cache yet
        self.prompt_file: str | None = None  # its system prompt's state on disk (prompt_cache.py)
        self.log_path = cache_dir() / "logs" / "llama-server.log"
        self.port = self.server.port
        self.model = self.model_path()

    @property
    def url(self) -> str:
        return f"http://{self.server.host}:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.url}/v1"

    @property
    def key(self) -> str:
        return server_key(self.model, self.settings())

    def model_path(self) -> Path:
        path = (Path(self.server.model_path).expanduser() if self.server.model_path
                else bundled_model_path(BUNDLED[self.server.bundled]))
        check_gguf(path)
        return path

    def settings(self) -> list[str]:
        """The server's arguments but the model and a free port: what makes two servers alike."""
        return ["--host", self.server.host, "--threads", str(self.server.threads),
                "--ctx-size", str(self.server.ctx_size), "--alias", self.alias] + \
            (["--port", str(self.server.port)] if self.server.port else []) + \
            (["--slot-save-path", str(prompt_cache_dir())] if self.server.prompt_cache else []) + \
            self.speculation()

    def speculation(self) -> list[str]:
        args = ["--speculative", self.server.speculative]
        for name, value in self.server.speculative_sizes.items():
            args += ["--spec", f"{name}={value}"]
        if self.server.speculative == "draft":
            draft = (Path(self.server.draft_model).expanduser() if self.server.draft_model
                     else bundled_model_path(BUNDLED["qwen2.5-coder-0.5b"]))
            check_gguf(draft)
            args += ["--draft-model", str(draft)]
        return args

    def start(self, on_status: Callable[[str], None] = lambda s: None, *, kept: Path | None = None) -> str:
        """Spawn the server and wait until it answers. `kept`: its state file, and then the server
        runs detached (its own session, outliving this process) and exits after keep_alive idle."""
        self.port = self.port or free_port(self.server.host)
        cmd = [sys.executable, "-m", "localagent.llama_server", "--model", str(self.model),
               *self.settings(), *([] if self.server.port else ["--port", str(self.port)])]
        if kept:
            cmd += ["--keep-alive", f"{self.server.keep_alive:g}", "--state", str(kept)]
            self.log_path = kept.with_suffix(".log")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.server.prompt_cache:
            prompt_cache_dir().mkdir(parents=True, exist_ok=True)
        on_status(f"loading {self.model.name} into llama.cpp on {self.server.host}:{self.port}")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=bool(kept),
                                            preexec_fn=None if kept else _die_with_parent)
        self.pid = self.process.pid
        if kept:
            write_state(kept, State(pid=self.pid, host=self.server.host, port=self.port, model=str(self.model),
                                    keep_alive=self.server.keep_alive, started=time.time(), log=str(self.log_path)))
        try:
            self.wait_ready(self.server.startup_timeout)
        except BaseException:  # not ready, or Ctrl-C while loading: no half-started server stays
            self.stop()
            if kept:
                kept.unlink(missing_ok=True)
            raise
        self.fresh = True
        return self.api_base

    def alive(self) -> bool:
        if self.process:
            return self.process.poll() is None
        return self.pid is not None and is_server_process(self.pid)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ServerError(f"the llama.cpp server exited while loading the model "
                                  f"({self._last_log_line()}); log: {self.log_path}")
            try:
                # plain http: no TLS context to build on every poll
                if httpx.get(f"{self.api_base}/models", timeout=1, verify=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise ServerError(f"the llama.cpp server was not ready within {timeout:g} s "
                          f"(server.startup_timeout); log: {self.log_path}")

    def _last_log_line(self) -> str:
        with contextlib.suppress(OSError):
            lines = [l for l in self.log_path.read_text(errors="replace").splitlines() if l.strip()]
            errors = [l for l in lines if "error" in l.lower() or "failed" in l.lower()]
            return (errors or lines or ["no output"])[-1].strip()[:200]
        return "no log"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        elif self.process is None and self.pid is not None:
            terminate(self.pid)
        self.process = None


@contextlib.contextmanager
def running_server(config: Config, on_status: Callable[[str], None] = lambda s: None,
                   on_notice: Callable[[str], None] = lambda s: None) -> Iterator[EmbeddedServer]:
    """A server for the duration of the block: kept (found or started) when server.keep_alive > 0."""
    server = EmbeddedServer(config)
    if config.server.keep_alive > 0:
        with kept_server(server, on_status, on_notice):
            yield server
        return
    try:
        server.start(on_status)
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def kept_server(server: EmbeddedServer, on_status: Callable[[str], None],
                on_notice: Callable[[str], None]) -> Iterator[EmbeddedServer]:
    """The kept server for this model and these settings, started if none runs; in use (the lock
    held shared) until the block ends, so it cannot time out under a long chat."""
    lock = ServerLock(server.key)
    with holding(lock):
        lock.acquire(timeout=server.server.startup_timeout + 30)
        if not _attach(server, read_state(lock.state_path)):
            lock.state_path.unlink(missing_ok=True)
            server.start(on_status, kept=lock.state_path)
            on_notice(f"the llama.cpp server stays loaded for {duration(server.server.keep_alive)} after the last "
                      f"command (server.keep_alive); `{stop_hint()}` stops it now")
        lock.use()
        yield server


def _attach(server: EmbeddedServer, state: State | None) -> bool:
    """Point `server` at the running server of `state`; False (after stopping what is left of it)
    when there is none that answers: pid gone, or not answering though its model has had time."""
    if state is None or not is_server_process(state.pid):
        return False
    server.pid, server.port, server.log_path = state.pid, state.port, Path(state.log)
    loading_left = state.started + server.server.startup_timeout - time.time()
    try:
        server.wait_ready(max(loading_left, 1.0))
        return True
    except ServerError:
        terminate(state.pid)
        server.pid, server.port = None, server.server.port
        return False
