#!/usr/bin/env python3
"""Check localagent against api-for-open-llm's llama.cpp engine, on a CPU.

    .venv/bin/python api-for-open-llm-docs/verify_cpu.py PATH/TO/api-for-open-llm

Given a git checkout of api-for-open-llm at the last commit that has the llama.cpp engine
(PINNED below), this builds a venv for it (once), serves the bundled Qwen2.5-Coder-1.5B GGUF with
that engine on a free port of 127.0.0.1, asks localagent the ECS renewal question with each engine
(native, roleplay) in ReAct and in function-calling mode, and prints one PASS/FAIL line per row.
A row passes when RenewInstance ran with instance_id i-rj90a7e840y5cde and period 22. The server
is stopped at the end, also on an error or Ctrl-C.

Run it with the Python of localagent's venv (`make demo` makes `.venv`): it uses the bundled model
from there (requirements-model.txt) and runs agent_demo.py with it. Exit code: 0 when every
ReAct row passed, 1 otherwise, 2 for a bad checkout or option.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PINNED = "5ca94e3d893f75321ee4f8241efa9f8c3937a816"  # 2024-06-11; the next commit removed the engine
# What this engine needs at that commit, as found working on a 2-core CPU (see the doc, §3.5):
# torch is imported at start-up even for llama.cpp; FastAPI >= 0.106 breaks its engine lock.
PACKAGES = [
    "llama-cpp-python==0.3.36",  # source only on PyPI: compiled here, ~15 min on 2 cores
    "torch==2.13.0",
    "fastapi==0.105.0", "starlette==0.27.0", "sse-starlette==1.8.2", "starlette-context==0.3.6",
    "uvicorn==0.30.1", "pydantic==2.7.3", "openai==1.33.0", "loguru==0.7.2", "python-dotenv==1.0.0",
]
PROMPT = "请帮我续费一台ECS实例，实例id是：i-rj90a7e840y5cde，续费时长22个月"
EXPECTED = {"instance_id": "i-rj90a7e840y5cde", "period": "22"}
# (engine, is_function_call, why it may fail). api-for-open-llm's qwen2 template drops `tools`,
# so function calling is tried and reported, but only the ReAct rows decide the exit code.
ROWS = [
    ("native", False, None),
    ("roleplay", False, None),
    ("native", True, "the server ignores tools="),
    ("roleplay", True, "the server ignores tools="),
]


# api/server.py, run with one change in llama-cpp-python: no extra buffer types (llama.cpp's AMX
# and repacked weights). With them, 0.3.36 built for an Intel Xeon with AMX died of a general
# protection fault in libggml-cpu at the first request; api-for-open-llm has no setting for it.
BOOT = """
import runpy, sys
import llama_cpp.llama as L
default_params = L.llama_cpp.llama_model_default_params
def model_params():
    params = default_params()
    params.use_extra_bufts = False
    return params
L.llama_cpp.llama_model_default_params = model_params
sys.argv = ["api/server.py"]
runpy.run_path("api/server.py", run_name="__main__")
"""


class Failure(Exception):
    """A one-line reason to stop, with the exit code."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def short(path: Path) -> str:
    """A path as it is printed: under the home directory as ~/…."""
    try:
        return "~/" + str(path.resolve().relative_to(Path.home()))
    except ValueError:
        return str(path)


def say(text: str) -> None:
    print(text, flush=True)


def check_checkout(checkout: Path) -> None:
    if not checkout.is_dir():
        raise Failure(f"{checkout}: no such directory (git clone https://github.com/xusenlinzy/"
                      f"api-for-open-llm && git -C api-for-open-llm checkout {PINNED})", 2)
    try:
        head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"],
                              capture_output=True, text=True)
    except FileNotFoundError:
        raise Failure("git is not installed: it is needed to check the checkout's commit", 2) from None
    if head.returncode != 0:
        raise Failure(f"{checkout} is not a git checkout of api-for-open-llm", 2)
    if head.stdout.strip() != PINNED:
        raise Failure(f"{checkout} is at commit {head.stdout.strip()[:7]}, not {PINNED[:7]}, the last "
                      f"with the llama.cpp engine (git -C {checkout} checkout {PINNED})", 2)
    if not (checkout / "api" / "core" / "llama_cpp_engine.py").is_file():
        raise Failure(f"{checkout}: api/core/llama_cpp_engine.py is missing (git -C {checkout} status)", 2)


def build_venv(venv: Path, python: str, log: Path) -> Path:
    """The venv with PACKAGES; built once, rebuilt only when the list changes."""
    py = venv / "bin" / "python"
    marker = venv / "localagent-packages.txt"
    wanted = "\n".join(PACKAGES) + "\n"
    if py.exists() and marker.exists() and marker.read_text() == wanted:
        say(f"venv      {short(venv)} (ready)")
        return py
    say(f"venv      {short(venv)}: installing {len(PACKAGES)} packages; llama-cpp-python compiles "
        f"from source (~15 min on 2 cores); log {short(log)}")
    env = dict(os.environ)
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    start = time.monotonic()
    with log.open("a") as out:
        for cmd in ([python, "-m", "venv", str(venv)], [str(py), "-m", "pip", "install", *PACKAGES]):
            if subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env).returncode != 0:
                raise Failure(f"`{' '.join(cmd[:4])} …` failed: {last_line(log)} (log {short(log)})")
    marker.write_text(wanted)
    say(f"venv      ready in {time.monotonic() - start:.0f} s")
    return py


def last_line(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:200] if lines else "(empty log)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(checkout: Path, py: Path, model: Path, port: int, threads: int, workdir: Path,
                 log: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env.update({
        "PYTHONPATH": str(checkout),  # upstream's `cp api/server.py .`, without writing into the checkout
        "HOST": "127.0.0.1", "PORT": str(port), "ENGINE": "llama.cpp", "TASKS": "llm",
        "MODEL_NAME": "qwen2", "PROMPT_NAME": "qwen2",  # unset PROMPT_NAME picks the Qwen-1 template
        "MODEL_PATH": str(model), "CONTEXT_LEN": "4096",  # this engine's default is 2048
        "N_GPU_LAYERS": "0", "N_THREADS": str(threads), "N_THREADS_BATCH": str(threads),
        "INTERRUPT_REQUESTS": "false",  # true cuts a stream off when another request arrives
        "STORAGE_LOCAL_PATH": str(workdir / "file_storage"),  # else created inside the checkout
    })
    with log.open("w") as out:
        return subprocess.Popen([str(py), "-c", BOOT], cwd=checkout, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def wait_ready(server: subprocess.Popen, api_base: str, log: Path, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if server.poll() is not None:
            raise Failure(f"the server exited ({server.returncode}): {last_line(log)} (log {short(log)})")
        try:
            with urllib.request.urlopen(f"{api_base}/models", timeout=5) as reply:
                if reply.status == 200:
                    return time.monotonic() - start
        except OSError:
            pass
        time.sleep(1)
    raise Failure(f"the server did not answer {api_base}/models within {timeout:.0f} s (log {short(log)})")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    except ProcessLookupError:
        pass


def write_config(path: Path, api_base: str, engine: str, function_call: bool) -> None:
    # JSON is YAML: no YAML library needed here.
    config = {
        "llm_config": {"model": "qwen2", "model_server": "openai", "api_base": api_base,
                       "api_key": "EMPTY", "is_chat": True, "is_function_call": function_call,
                       "timeout": 600, "max_retries": 0, "temperature": 0, "max_tokens": 512},
        "agent": {"engine": engine, "max_turns": 3},
        "server": {"autostart": False},
        "tools": [str(REPO / "tools")],
    }
    path.write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n")


def run_row(engine: str, function_call: bool, api_base: str, workdir: Path,
            timeout: float) -> tuple[bool, str]:
    mode = "fc" if function_call else "react"
    config = workdir / f"{engine}-{mode}.yaml"
    write_config(config, api_base, engine, function_call)
    cmd = [sys.executable, str(REPO / "agent_demo.py"), "-c", str(config), "--json", "--yes",
           "--no-transcript", PROMPT]
    try:
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return False, f"no answer within {timeout:.0f} s"
    (workdir / f"{engine}-{mode}.json").write_text(done.stdout)
    (workdir / f"{engine}-{mode}.stderr").write_text(done.stderr)
    try:
        result = json.loads(done.stdout)
    except json.JSONDecodeError:
        lines = done.stderr.strip().splitlines()
        return False, f"exit {done.returncode}, no JSON: {lines[-1][:150] if lines else '(no output)'}"
    calls = [c for c in result.get("tool_calls", []) if c.get("name") == "RenewInstance"]
    for call in calls:
        args = {k: str(v) for k, v in (call.get("arguments") or {}).items()}
        if call.get("status") == "ran" and all(args.get(k) == v for k, v in EXPECTED.items()):
            answer = " ".join(str(result.get("answer", "")).split())
            return True, (f"RenewInstance({json.dumps(call['arguments'], ensure_ascii=False)}), "
                          f"{result.get('turns')} turns: {answer[:60]}")
    if calls:
        c = calls[0]
        return False, (f"RenewInstance {c.get('status')} with "
                       f"{json.dumps(c.get('arguments'), ensure_ascii=False)}")
    made = ", ".join(f"{c.get('name')} {c.get('status')}" for c in result.get("tool_calls", []))
    said = f"error: {result['error']}" if result.get("error") else f"answer: {result.get('answer')}"
    return False, f"no RenewInstance call ({made or 'no tool call'}); {' '.join(said.split())[:90]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkout", type=Path, help=f"git checkout of api-for-open-llm at {PINNED[:7]}")
    parser.add_argument("--workdir", type=Path, help="venv, logs, configs and replies "
                        "(default: CHECKOUT/.localagent-cpu)")
    parser.add_argument("--python", default=sys.executable,
                        help="the Python that makes the venv (default: this one)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2,
                        help="llama.cpp threads (default: all cores)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per question (default 900)")
    parser.add_argument("--setup-only", action="store_true", help="build the venv, then stop")
    args = parser.parse_args()
    checkout = args.checkout.expanduser().resolve()
    try:
        check_checkout(checkout)
        workdir = (args.workdir.expanduser() if args.workdir else checkout / ".localagent-cpu").resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        say(f"checkout  {short(checkout)} at {PINNED[:7]}")
        py = build_venv(workdir / "venv", args.python, workdir / "pip.log")
        if args.setup_only:
            return 0
        from localagent.errors import ServerError
        from localagent.weights import QWEN_15B, bundled_model_path
        try:
            model = bundled_model_path(QWEN_15B)
        except ServerError as e:
            raise Failure(str(e)) from None
        port = free_port()
        api_base = f"http://127.0.0.1:{port}/v1"
        log = workdir / "server.log"
        server = start_server(checkout, py, model, port, args.threads, workdir, log)
        try:
            ready = wait_ready(server, api_base, log, timeout=300)
            say(f"server    api-for-open-llm ENGINE=llama.cpp, {model.name}, {args.threads} threads, "
                f"{api_base} (up in {ready:.0f} s)")
            passed, count = True, 0
            for engine, function_call, known in ROWS:
                mode = "function calling" if function_call else "ReAct"
                start = time.monotonic()
                ok, detail = run_row(engine, function_call, api_base, workdir, args.timeout)
                verdict = "PASS" if ok else "FAIL"
                note = f" (expected: {known})" if known and not ok else ""
                say(f"{verdict}  {engine:<8} {mode:<16} {time.monotonic() - start:4.0f} s  {detail}{note}")
                count += ok
                if server.poll() is not None:
                    raise Failure(f"the server died ({server.returncode}) during that row: "
                                  f"{last_line(log)} (log {short(log)})")
                if not known and not ok:
                    passed = False
        finally:
            stop_server(server)
            say("server    stopped")
        say(f"result    {count} of {len(ROWS)} rows passed; replies in {short(workdir)}")
        return 0 if passed else 1
    except Failure as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def interrupted(*_: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends the run as Ctrl-C does: the server is stopped


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, interrupted)
    sys.exit(main())
