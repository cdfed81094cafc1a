"""The embedded llama.cpp server: started when nothing answers, stopped when the CLI exits."""
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
from .weights import BUNDLED, bundled_model_path, cache_dir, check_gguf


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the CLI dies, even by SIGKILL, so no server is orphaned."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class EmbeddedServer:
    def __init__(self, config: Config):
        self.server = config.server
        self.alias = config.llm_config.model
        self.process: subprocess.Popen | None = None
        self.log_path = cache_dir() / "logs" / "llama-server.log"
        self.port = self.server.port or free_port(self.server.host)
        self.api_base = f"http://{self.server.host}:{self.port}/v1"

    def model_path(self) -> Path:
        path = (Path(self.server.model_path).expanduser() if self.server.model_path
                else bundled_model_path(BUNDLED[self.server.bundled]))
        check_gguf(path)
        return path

    def start(self, on_status: Callable[[str], None] = lambda s: None) -> str:
        model = self.model_path()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "localagent.llama_server", "--model", str(model),
               "--host", self.server.host, "--port", str(self.port),
               "--threads", str(self.server.threads), "--ctx-size", str(self.server.ctx_size),
               "--alias", self.alias]
        on_status(f"loading {model.name} into llama.cpp on {self.server.host}:{self.port}")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        self._wait_ready()
        return self.api_base

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.server.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"the llama.cpp server exited while loading the model "
                                  f"({self._last_log_line()}); log: {self.log_path}")
            try:
                if httpx.get(f"{self.api_base}/models", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise ServerError(f"the llama.cpp server was not ready within {self.server.startup_timeout:g} s "
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
        self.process = None


@contextlib.contextmanager
def running_server(config: Config, on_status: Callable[[str], None] = lambda s: None) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(config)
    try:
        server.start(on_status)
        yield server
    finally:
        server.stop()
