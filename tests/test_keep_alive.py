"""The kept-alive server (server.keep_alive): the real CLI, the real llama.cpp server, the bundled
model (slow). Each test has its own cache dir for the state files and stops what it started."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from localagent.kept_server import is_server_process, read_state
from localagent.weights import bundled_model_path

ROOT = Path(__file__).resolve().parent.parent
SERVER = "localagent.llama_server"

pytestmark = pytest.mark.slow


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_pids(marker: str) -> list[int]:
    """Our llama.cpp server processes whose command line contains `marker` (zombies excluded)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
        if proc.name.isdigit() and SERVER in cmdline and marker in cmdline:
            pids.append(int(proc.name))
    return pids


class Kept:
    """A config (no tools, short answers: the model's time is not what is tested) and a cache dir."""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.cache = tmp_path / "cache"
        self.env = {**os.environ, "LOCALAGENT_CACHE": str(self.cache), "NO_PROXY": "127.0.0.1"}

    def config(self, keep_alive: str | float = "5m", port: int = 0, agent: dict | None = None,
               tools: list[str] | None = None, max_tokens: int = 4, **server) -> Path:
        path = self.tmp / f"config-{keep_alive}-{port}-{len(list(self.tmp.glob('config-*')))}.yaml"
        path.write_text(yaml.safe_dump({
            "llm_config": {"model": "qwen", "api_base": f"http://127.0.0.1:{free_port()}/v1",
                           "max_tokens": max_tokens},
            "agent": agent or {},
            # the model assembled in the user's cache, so that this test's cache holds only servers
            "server": {"autostart": True, "model_path": str(bundled_model_path()), "port": port,
                       "threads": 2, "keep_alive": keep_alive, **server},
            "tools": tools or []}, allow_unicode=True), encoding="utf-8")
        return path

    def command(self, config: Path, *args: str) -> list[str]:
        return [sys.executable, str(ROOT / "agent_demo.py"), "--no-transcript", "-c", str(config), *args]

    def run(self, config: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(config, *args), capture_output=True, text=True,
                              timeout=600, cwd=self.tmp, env=self.env, stdin=subprocess.DEVNULL)

    def ask(self, config: Path) -> subprocess.CompletedProcess:
        run = self.run(config, "--json", "hi")
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["stopped"] == "answer"
        return run

    def states(self):
        return [read_state(p) for p in sorted((self.cache / "servers").glob("*.json"))]

    def stop_all(self) -> None:
        self.run(self.config(), "--stop-server")
        for pid in server_pids(str(self.cache)):  # whatever --stop-server missed
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def kept(tmp_path):
    kept = Kept(tmp_path)
    yield kept
    kept.stop_all()
    assert server_pids(str(kept.cache)) == []


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_server_process(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not is_server_process(pid)


def notices(run: subprocess.CompletedProcess) -> int:
    return run.stderr.count("stays loaded")


def test_a_second_command_reuses_the_kept_server_and_stop_server_ends_it(kept):
    config = kept.config("5m")
    first = kept.ask(config)
    assert notices(first) == 1 and "--stop-server" in first.stderr
    [state] = kept.states()
    assert is_server_process(state.pid)
    second = kept.ask(config)
    assert notices(second) == 0, second.stderr  # said once, by the command that started it
    assert kept.states() == [state]  # same pid, port and start time: no second model load
    assert server_pids(str(kept.cache)) == [state.pid]

    doctor = kept.run(config, "--doctor")
    assert "kept server" in doctor.stdout and f"pid {state.pid}" in doctor.stdout, doctor.stdout

    stop = kept.run(config, "--stop-server")
    assert stop.returncode == 0 and f"pid {state.pid}" in stop.stderr
    assert wait_gone(state.pid, 5) and kept.states() == []
    again = kept.run(config, "--stop-server")
    assert again.returncode == 0 and "no kept llama.cpp server" in again.stderr


def test_other_settings_get_another_server(kept):
    kept.ask(kept.config("5m"))
    other = kept.config("5m", port=free_port())  # a fixed port is a setting like any other
    kept.ask(other)
    pids = {s.pid for s in kept.states()}
    assert len(pids) == 2 and all(is_server_process(p) for p in pids)


def test_keep_alive_0_leaves_no_process(kept):
    port = free_port()
    run = kept.ask(kept.config(0, port=port))
    assert notices(run) == 0
    assert kept.states() == [] and server_pids(f"--port {port}") == []


def test_the_server_exits_by_itself_after_keep_alive(kept):
    kept.ask(kept.config("3s"))
    [state] = kept.states()
    assert wait_gone(state.pid, 3 + 15), "the kept server outlived its keep_alive"
    assert kept.states() == []


def test_two_commands_at_once_start_one_server(kept):
    config = kept.config("5m")
    both = [subprocess.Popen(kept.command(config, "--json", "hi"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=kept.tmp, env=kept.env, stdin=subprocess.DEVNULL) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in both]
    assert [p.returncode for p in both] == [0, 0], outputs
    assert sum(err.count("stays loaded") for _, err in outputs) == 1
    [state] = kept.states()
    assert server_pids(str(kept.cache)) == [state.pid]


def test_a_server_killed_by_sigkill_is_replaced(kept):
    config = kept.config("5m")
    kept.ask(config)
    [old] = kept.states()
    os.kill(old.pid, signal.SIGKILL)
    assert wait_gone(old.pid, 10)
    run = kept.ask(config)  # the state file still names the dead server
    assert notices(run) == 1
    [new] = kept.states()
    assert new.pid != old.pid and is_server_process(new.pid)


def test_a_chat_in_progress_keeps_the_server_and_does_not_hold_up_other_commands(kept):
    config = kept.config("3s")
    chat = subprocess.Popen(kept.command(config), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=kept.tmp, env=kept.env)
    try:
        deadline = time.monotonic() + 300
        while not kept.states() and time.monotonic() < deadline:  # the chat starts the server
            time.sleep(0.5)
        [state] = kept.states()
        other = kept.ask(config)  # at once, on the same server, while the chat holds it
        assert notices(other) == 0 and kept.states() == [state]
        time.sleep(3 + 3)
        assert is_server_process(state.pid), "the server timed out under an open chat"
    finally:
        chat.communicate("/exit\n", timeout=60)
    assert chat.returncode == 0
    assert wait_gone(state.pid, 3 + 15)
