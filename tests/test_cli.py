"""The CLI as a user runs it: a subprocess against a ScriptedServer in this process.

The helpers here (config_file, cli_env, cli, closed_port) are shared by test_repl, test_batch and
test_transcript.
"""
from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripted_server import ScriptedServer

ROOT = Path(__file__).resolve().parent.parent
CALL = 'Thought: I need the calculator\nAction: Calculator\nAction Input: {"expression": "6*7"}'


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when this returns: nothing answers there


def config_file(tmp_path: Path, api_base: str, **sections: dict[str, Any]) -> Path:
    """A config pointed at `api_base`, no autostart, the shipped tools; `sections` update it."""
    config: dict[str, Any] = {
        "llm_config": {"model": "scripted", "api_base": api_base, "timeout": 20, "max_retries": 0},
        "agent": {"max_turns": 3},
        "server": {"autostart": False},
        "tools": [str(ROOT / "tools")],
    }
    for name, values in sections.items():
        if isinstance(values, dict):
            config.setdefault(name, {}).update(values)
        else:
            config[name] = values
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def cli_env(tmp_path: Path) -> dict[str, str]:
    """HOME and the XDG dirs in tmp_path: history and transcripts land there, nowhere else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "XDG_"))}
    env.update(HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_CONFIG_HOME=str(tmp_path / "xdgconfig"),
               COLUMNS="200", NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    return env


def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data" / "localagent"


def cli(tmp_path: Path, *args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "agent_demo.py"), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=tmp_path, env=cli_env(tmp_path),
                          input=input, stdin=None if input is not None else subprocess.DEVNULL)


def assert_one_line_error(run: subprocess.CompletedProcess, *fragments: str) -> None:
    assert "Traceback" not in run.stderr, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("error:"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0]


# --- one question -----------------------------------------------------------------------------

def test_json_output_shape_with_a_tool_call(tmp_path):
    with ScriptedServer([CALL, "Final Answer: 6*7 is 42."], owned_by="other") as server:
        run = cli(tmp_path, "-c", str(config_file(tmp_path, server.api_base)), "--json", "what is 6*7?")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert set(result) == {"answer", "trace", "stopped", "turns", "tool_calls", "usage", "timings", "error", "partial"}
    assert result["answer"] == "6*7 is 42." and result["stopped"] == "answer" and result["turns"] == 2
    assert result["tool_calls"] == [{"name": "Calculator", "arguments": {"expression": "6*7"},
                                     "status": "ran", "result": "6*7 = 42", "error": None, "refusal": None, "missing": [],
                                     "repeats": None}]
    assert result["usage"]["prompt_tokens"] == 20 and result["usage"]["completion_tokens"] > 0
    assert result["usage"]["uncounted_requests"] == 0  # every request's usage was reported
    assert set(result["timings"]) == {"total_s", "llm_s", "tools_s", "checks_s"} and result["error"] is None


def test_plain_answer_goes_to_stdout_alone(tmp_path):
    with ScriptedServer(["Final Answer: hello"], owned_by="other") as server:
        run = cli(tmp_path, "-c", str(config_file(tmp_path, server.api_base)), "hi")
    assert run.returncode == 0 and run.stdout == "hello\n"


def test_an_endpoint_error_exits_1(tmp_path):
    with ScriptedServer([{"status": 500, "message": "model crashed"}], owned_by="other") as server:
        run = cli(tmp_path, "-c", str(config_file(tmp_path, server.api_base)), "--json", "hi")
    assert run.returncode == 1
    result = json.loads(run.stdout)
    assert result["stopped"] == "error" and "HTTP 500" in result["error"] and "model crashed" in result["error"]
    with ScriptedServer([{"status": 500, "message": "model crashed"}], owned_by="other") as server:
        run = cli(tmp_path, "-c", str(config_file(tmp_path, server.api_base)), "hi")
    assert run.returncode == 1 and run.stdout == ""
    assert_one_line_error(run, "HTTP 500")


def test_max_turns_exits_3(tmp_path):
    with ScriptedServer([CALL], owned_by="other") as server:
        config = config_file(tmp_path, server.api_base, agent={"max_turns": 1})
        run = cli(tmp_path, "-c", str(config), "--json", "what is 6*7?")
    assert run.returncode == 3, run.stderr
    result = json.loads(run.stdout)
    assert result["stopped"] == "max_turns" and "6*7 = 42" in result["answer"]


def test_nothing_answering_without_autostart_is_a_one_line_error(tmp_path):
    config = config_file(tmp_path, f"http://127.0.0.1:{closed_port()}/v1")
    run = cli(tmp_path, "-c", str(config), "hi")
    assert run.returncode == 1
    assert_one_line_error(run, "server.autostart is false")


@pytest.mark.parametrize("text, message", [
    ("llm_config: [1, 2\n", "invalid YAML"),
    ("llm_config:\n  model: x\n  api_base: http://h/v1\nagent:\n  max_turns: 99\n", "agent.max_turns"),
    ("llm_config:\n  model: x\n  api_base: http://h/v1\ntranscript:\n  enabled: maybe\n", "transcript.enabled"),
], ids=["yaml", "schema", "transcript-section"])
def test_a_bad_config_is_a_one_line_error(tmp_path, text, message):
    (tmp_path / "bad.yaml").write_text(text)
    run = cli(tmp_path, "-c", str(tmp_path / "bad.yaml"), "hi")
    assert run.returncode == 2
    assert_one_line_error(run, message)


def test_a_missing_config_file_is_a_one_line_error(tmp_path):
    run = cli(tmp_path, "-c", str(tmp_path / "nope.yaml"), "hi")
    assert run.returncode == 2
    assert_one_line_error(run, "config file not found")


@pytest.mark.parametrize("args, message", [
    (["hi", "--batch", "x.jsonl"], "only one of"),
    (["--out", "o.jsonl"], "--out goes with --batch"),
    (["--json"], "--json needs a prompt"),
    (["--transcript", "t.jsonl", "--no-transcript", "hi"], "contradict"),
    (["--engine", "magic", "hi"], "native or roleplay"),
])
def test_contradictory_options_are_one_line_errors(tmp_path, args, message):
    config = config_file(tmp_path, f"http://127.0.0.1:{closed_port()}/v1")
    run = cli(tmp_path, "-c", str(config), *args)
    assert run.returncode == 2
    assert_one_line_error(run, message)


def test_help_documents_every_option(tmp_path):
    run = cli(tmp_path, "--help")
    assert run.returncode == 0
    for option in ("--config", "--tools", "--engine", "--json", "--yes", "--dry-run", "--verbose", "--debug",
                   "--transcript", "--no-transcript", "--resume", "--batch", "--out", "--concurrency",
                   "--doctor", "--help"):
        assert option in run.stdout, option


# --- doctor -----------------------------------------------------------------------------------

def test_doctor_against_a_live_server(tmp_path):
    with ScriptedServer(["pong"], owned_by="llamacpp") as server:
        config = config_file(tmp_path, server.api_base)
        run = cli(tmp_path, "-c", str(config), "--doctor")
        requests = server.chat_requests()
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert str(config) in out
    assert f"{server.api_base} answers (" in out and " ms)" in out
    assert "scripted" in out  # the served model
    assert "llama.cpp" in out
    assert "constrained" in out and "supported" in out
    assert "tools=" in out and "accepted" in out
    assert "autostart" in out and "off" in out
    for name in ("Calculator", "RenewInstance", "DescribeInstance"):
        assert name in out
    assert "class" in out and "function" in out  # how each tool is written
    # the tools= probe: one request of one token, and nothing else was asked
    assert len(requests) == 1 and requests[0]["max_tokens"] == 1 and requests[0]["tools"]


def test_doctor_reports_a_server_that_rejects_tools(tmp_path):
    with ScriptedServer([{"status": 400, "message": "tools are not supported"}], owned_by="other") as server:
        run = cli(tmp_path, "-c", str(config_file(tmp_path, server.api_base)), "--doctor")
    assert run.returncode == 0  # it answers; ReAct does not need tools=
    assert "unknown" in run.stdout and "rejected" in run.stdout and "tools are not supported" in run.stdout


def test_doctor_against_a_closed_port_exits_1(tmp_path):
    api_base = f"http://127.0.0.1:{closed_port()}/v1"
    run = cli(tmp_path, "-c", str(config_file(tmp_path, api_base)), "--doctor", timeout=30)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert f"{api_base}: no answer" in run.stdout
    assert "server.autostart: false" in run.stdout
    assert "Calculator" in run.stdout  # the tools are still listed


def test_doctor_with_autostart_starts_nothing(tmp_path):
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF" + bytes(64))
    api_base = f"http://127.0.0.1:{closed_port()}/v1"
    config = config_file(tmp_path, api_base, server={"autostart": True, "model_path": str(model)})
    run = cli(tmp_path, "-c", str(config), "--doctor", timeout=30)
    has_llama = importlib.util.find_spec("xllamacpp") is not None
    assert run.returncode == (0 if has_llama else 1), run.stdout
    if has_llama:
        assert "would start llama.cpp" in run.stdout and str(model) in run.stdout
    assert not (tmp_path / "cache" / "localagent" / "logs").exists()  # no server was started
    model.write_bytes(b"not a model")
    run = cli(tmp_path, "-c", str(config), "--doctor", timeout=30)
    assert run.returncode == 1 and "is not a GGUF model file" in run.stdout


def test_doctor_with_a_bad_config_or_tool(tmp_path):
    (tmp_path / "bad.yaml").write_text("llm_config: {model: x}\n")
    run = cli(tmp_path, "-c", str(tmp_path / "bad.yaml"), "--doctor")
    assert run.returncode == 1 and "config" in run.stdout and "api_base" in run.stdout
    (tmp_path / "broken_tool.py").write_text("raise RuntimeError('boom')\n")
    with ScriptedServer(["pong"], owned_by="other") as server:
        run = cli(tmp_path, "-c", str(config_file(tmp_path, server.api_base)), "--doctor",
                  "--tools", str(tmp_path / "broken_tool.py"))
    assert run.returncode == 0 and "boom" in run.stdout and "Traceback" not in run.stdout + run.stderr


def test_a_seed_style_config_without_tools_gets_the_tools_folder(tmp_path):
    """The seed's users write only llm_config: RenewInstance must be there, not an unknown tool."""
    call = 'Action: RenewInstance\nAction Input: {"instance_id": "i-rj90a7e840y5cde", "period": "22"}'
    with ScriptedServer([call, "Final Answer: 已续费。"], owned_by="other") as server:
        path = tmp_path / "seed.yaml"
        path.write_text(yaml.safe_dump({"llm_config": {"model": "qwen2", "model_server": "openai",
                                                       "api_base": server.api_base, "is_chat": True}}))
        run = cli(tmp_path, "-c", str(path), "--json", "--yes", "请帮我续费一台ECS实例，实例id是：i-rj90a7e840y5cde，续费时长22个月")
    assert run.returncode == 0, run.stderr
    [renew] = json.loads(run.stdout)["tool_calls"]
    assert (renew["name"], renew["status"]) == ("RenewInstance", "ran") and "i-rj90a7e840y5cde" in renew["result"]
    assert "no tools" not in run.stderr


def test_no_tools_at_all_is_said_once(tmp_path):
    with ScriptedServer(["Final Answer: 你好！"], owned_by="other") as server:
        run = cli(tmp_path, "-c", str(config_file(tmp_path, server.api_base, tools=[])), "你好")
    assert run.returncode == 0 and run.stdout.strip() == "你好！"
    assert run.stderr.count("no tools") == 1 and "Traceback" not in run.stderr
# --- --stop-server (the kept server itself: test_keep_alive.py) --------------------------------

def test_stop_server_with_nothing_kept(tmp_path):
    run = cli(tmp_path, "--stop-server")
    assert run.returncode == 0 and "no kept llama.cpp server was running" in run.stderr


def test_stop_server_never_signals_a_process_that_is_not_our_server(tmp_path):
    """A stale state file whose pid now belongs to another process (pid reuse after a SIGKILL)."""
    servers = tmp_path / "cache" / "localagent" / "servers"
    servers.mkdir(parents=True)
    other = subprocess.Popen(["sleep", "30"])
    try:
        state = {"pid": other.pid, "host": "127.0.0.1", "port": closed_port(), "model": "m.gguf",
                 "keep_alive": 300, "started": 0, "log": "x.log"}
        (servers / "0123456789abcdef.json").write_text(json.dumps(state))
        run = cli(tmp_path, "--stop-server")
        assert run.returncode == 0 and "no kept llama.cpp server was running" in run.stderr
        assert other.poll() is None  # still running
        assert list(servers.glob("*.json")) == []  # the stale state is gone
    finally:
        other.kill()
        other.wait()


def test_stop_server_is_a_mode_of_its_own(tmp_path):
    assert_one_line_error(cli(tmp_path, "--stop-server", "hello"), "give only one of")


def test_one_probe_of_the_endpoint_per_command(tmp_path):
    """GET /models once per process, however many engines (batch workers) are created."""
    from bench.startup import StubEndpoint

    (tmp_path / "prompts.txt").write_text("hi\nhello\nhey\n", encoding="utf-8")
    for args in (["--json", "hi"], ["--batch", str(tmp_path / "prompts.txt"), "--concurrency", "3"]):
        with StubEndpoint() as stub:
            run = cli(tmp_path, "-c", str(config_file(tmp_path, stub.api_base)), "--no-transcript", *args)
        assert run.returncode == 0, run.stderr
        assert [path for _, method, path in stub.hits if method == "GET"] == ["/v1/models"], args
