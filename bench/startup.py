"""Start-up: CLI process start to its first request, a fresh CLI process answering the ECS
prompt with the server already up, and the embedded server: cold, with the prompt cache on disk,
and kept from the command before.

The CLI (agent_demo.py) runs as a subprocess against a stub endpoint that timestamps every
request and answers at once, so what is measured is the CLI's own start-up (imports, config,
tools, engine), not the model.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from localagent.config import Config

from .modes import configure
from .speed import ECS_PROMPT, median

ROOT = Path(__file__).resolve().parent.parent
ANSWER = "Answer: 好的。"


class StubEndpoint:
    """An OpenAI-style endpoint that answers every chat request with ANSWER and logs arrival times."""

    def __init__(self) -> None:
        self.hits: list[tuple[float, str, str]] = []  # (time.time(), method, path)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "StubEndpoint":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def first(self, method: str | None = None) -> float | None:
        return next((t for t, m, _ in self.hits if method is None or m == method), None)

    def _handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                stub.hits.append((time.time(), "GET", self.path))
                self._json({"object": "list", "data": [{"id": "stub", "object": "model", "owned_by": "llamacpp"}]})

            def do_POST(self) -> None:
                stub.hits.append((time.time(), "POST", self.path))
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
                if not body.get("stream"):
                    self._json({"id": "stub", "object": "chat.completion", "created": int(time.time()),
                                "model": "stub", "usage": usage, "choices": [{
                                    "index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": ANSWER}}]})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                base = {"id": "stub", "object": "chat.completion.chunk", "created": int(time.time()), "model": "stub"}
                for chunk in ({**base, "choices": [{"index": 0, "delta": {"content": ANSWER}, "finish_reason": None}]},
                              {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                              {**base, "choices": [], "usage": usage}):
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        return Handler


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(config: Config, path: Path, **llm: Any) -> Path:
    """`config` as a YAML file (the real api key, absolute tool paths), with llm_config overrides."""
    data = config.model_dump(mode="json")
    data["llm_config"]["api_key"] = config.llm_config.api_key.get_secret_value()
    data["llm_config"].update(llm)
    data["tools"] = [str(Path(t).resolve()) if Path(t).exists() else t for t in config.tool_sources()]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def run_cli(config_path: Path, timeout: float, env: dict | None = None) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run agent_demo.py on the ECS prompt; (wall-clock start, end, process)."""
    cmd = [sys.executable, str(ROOT / "agent_demo.py"), "-c", str(config_path), "--json", "--yes", ECS_PROMPT]
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, stdin=subprocess.DEVNULL,
                          env=env)
    return start, time.time(), proc


def cli_startup(config: Config, modes: list[str], repeat: int = 3, timeout: float = 120) -> dict[str, Any]:
    """Per mode: process start to first request (any, and the first chat request), and to exit."""
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            for mode in modes:
                with StubEndpoint() as stub:
                    cfg = configure(config, mode)
                    cfg.server.autostart = False
                    path = write_config(cfg, Path(tmp) / f"{mode}.yaml", api_base=stub.api_base)
                    start, end, proc = run_cli(path, timeout)
                    first_any, first_post = stub.first(), stub.first("POST")
                runs[mode].append({
                    "returncode": proc.returncode, "stderr": proc.stderr[-300:] if proc.returncode else "",
                    "first_request_s": None if first_any is None else round(first_any - start, 4),
                    "first_chat_s": None if first_post is None else round(first_post - start, 4),
                    "exit_s": round(end - start, 4)})
    summary = {m: {k: median([r[k] for r in rs]) for k in ("first_request_s", "first_chat_s", "exit_s")}
               | {"failures": sum(r["returncode"] != 0 for r in rs)} for m, rs in runs.items()}
    return {"modes": summary, "runs": runs}


def warm_cli(config: Config, api_base: str, modes: list[str], repeat: int = 3, timeout: float = 600) -> dict[str, Any]:
    """Per mode: a fresh CLI process to its answer with the model server already up (what a user
    waits for with `llamacpp/serve` running), modes interleaved; `vs_native` is the median ratio."""
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            for mode in modes:
                cfg = configure(config, mode)
                cfg.server.autostart = False
                start, end, proc = run_cli(write_config(cfg, Path(tmp) / f"{mode}.yaml", api_base=api_base), timeout)
                try:
                    calls = [c["name"] for c in json.loads(proc.stdout).get("tool_calls", []) if not c.get("error")]
                except ValueError:
                    calls = []
                runs[mode].append({"returncode": proc.returncode, "exit_s": round(end - start, 4),
                                   "called": calls[:1] == ["RenewInstance"]})
    summary = {m: {"exit_s": median([r["exit_s"] for r in rs]),
                   "correct": f"{sum(r['called'] for r in rs)}/{len(rs)}",
                   "failures": sum(r["returncode"] != 0 for r in rs)} for m, rs in runs.items()}
    if "native" in summary:
        for s in summary.values():
            s["vs_native"] = round(s["exit_s"] / summary["native"]["exit_s"], 3)
    return {"modes": summary, "runs": runs}


class EmbeddedRun(NamedTuple):
    """A fresh CLI process on the ECS prompt with nothing at api_base, so the embedded server
    serves it, after `before` identical runs."""
    name: str
    keep_alive: float
    prompt_cache: bool
    speculative: str
    before: int


EMBEDDED_RUNS = [
    EmbeddedRun("cold, features off", 0, False, "none", 0),  # the model loaded, the whole prompt prefilled
    EmbeddedRun("cold, prompt cache on disk", 0, True, "ngram-mod", 1),  # the saved system prompt restored
    # a server already up, as llamacpp/serve with today's features off: the baseline of the next row
    EmbeddedRun("server up, features off", 300, False, "none", 1),
    EmbeddedRun("second command, kept server", 300, True, "ngram-mod", 1),  # the server the run before left
]


def embedded_runs(config: Config, timeout: float = 900) -> dict[str, Any]:
    """Process start to answer per EMBEDDED_RUNS entry, in a cache dir of its own (the model file
    from the usual one); `vs_off` is the ratio to the first, `vs_server_up` to a server already up
    with the features off. Kept servers are stopped after."""
    import os

    from localagent.weights import BUNDLED, bundled_model_path

    model = config.server.model_path or str(bundled_model_path(BUNDLED[config.server.bundled]))
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "LOCALAGENT_CACHE": tmp}
        try:
            for run in EMBEDDED_RUNS:
                cfg = configure(config, "native")
                cfg.server.autostart, cfg.server.model_path, cfg.server.port = True, model, 0
                cfg.server.keep_alive, cfg.server.prompt_cache = run.keep_alive, run.prompt_cache
                cfg.server.speculative = run.speculative
                path = write_config(cfg, Path(tmp) / "embedded.yaml", api_base=f"http://127.0.0.1:{free_port()}/v1")
                for _ in range(run.before + 1):
                    start, end, proc = run_cli(path, timeout, env)
                results[run.name] = _answer(proc) | {"wall_s": round(end - start, 3), "returncode": proc.returncode}
        finally:
            subprocess.run([sys.executable, str(ROOT / "agent_demo.py"), "--stop-server"], env=env,
                           capture_output=True, timeout=60)
    off, up = (results[EMBEDDED_RUNS[i].name]["wall_s"] for i in (0, 2))
    for r in results.values():
        r["vs_off"], r["vs_server_up"] = round(r["wall_s"] / off, 3), round(r["wall_s"] / up, 3)
    return results


def _answer(proc: subprocess.CompletedProcess) -> dict[str, Any]:
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        return {"stderr": proc.stderr[-500:]}
    return {"stopped": result.get("stopped"),
            "tool_calls": [{"name": c["name"], "arguments": c["arguments"]} for c in result.get("tool_calls", [])]}
