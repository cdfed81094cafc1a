"""MCP servers' tools, end to end: the real CLI against a ScriptedServer, with real MCP servers
(mcp-server-time from PyPI, and tests/mcp_test_server.py written with the SDK) over stdio and
Streamable HTTP. Every server gets a marker in its environment; after each test no process with
that marker may be left."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from scripted_server import ScriptedServer
from test_cli import ROOT, cli, cli_env, config_file
from test_repl import expect_prompt, finish, spawn, wait_for

TEST_SERVER = str(Path(__file__).resolve().parent / "mcp_test_server.py")
ASK_TIME = 'Thought: I need the time\nAction: get_current_time\nAction Input: {"timezone": "Asia/Shanghai"}'


def react_call(name: str, arguments: dict) -> str:
    return f"Thought: I use {name}\nAction: {name}\nAction Input: {json.dumps(arguments)}"


# --- servers and the marker ---------------------------------------------------------------

def processes_with(mark: str) -> list[str]:
    needle = f"MCP_TEST_MARK={mark}".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0"):
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            pass  # gone, or not ours
    return found


@pytest.fixture
def mark():
    """A marker for this test's servers; afterwards none of them may still run."""
    value = uuid.uuid4().hex
    yield value
    deadline = time.monotonic() + 15
    while processes_with(value) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with(value) == [], "an MCP server outlived the CLI"


@pytest.fixture
def log(tmp_path) -> Path:
    return tmp_path / "server.log"


def time_server(mark: str, **extra) -> dict:
    """mcp-server-time; the model derives timezones from city names, which grounding allows here."""
    return {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"],
            "env": {"MCP_TEST_MARK": mark}, "derived_params": ["timezone"], **extra}


def ops_server(mark: str, log: Path, *args: str, **extra) -> dict:
    return {"command": sys.executable, "args": [TEST_SERVER, *args],
            "env": {"MCP_TEST_MARK": mark, "MCP_TEST_LOG": str(log)}, **extra}



def run_json(tmp_path: Path, server: ScriptedServer, question: str, *args: str, mcp: dict,
             agent: dict | None = None, timeout: float = 90, **llm) -> tuple[subprocess.CompletedProcess, dict]:
    config = config_file(tmp_path, server.api_base, mcp_servers=mcp, agent=agent or {}, llm_config=llm)
    run = cli(tmp_path, "-c", str(config), "--json", *args, question, timeout=timeout)
    assert run.stdout.strip(), run.stderr
    return run, json.loads(run.stdout)


def last_request_text(server: ScriptedServer) -> str:
    return json.dumps(server.chat_requests()[-1]["messages"], ensure_ascii=False)


def warnings(run: subprocess.CompletedProcess) -> list[str]:
    return [line for line in run.stderr.splitlines() if line.startswith("warning:")]


# --- mcp-server-time from PyPI, in every engine ----------------------------------------------

@pytest.mark.parametrize("mode", ["react", "function_calling"])
def test_the_time_server_answers_through_the_native_engine(tmp_path, mark, mode):
    if mode == "react":
        script = [ASK_TIME, "Final Answer: It is evening in Shanghai."]
    else:
        script = [{"tool_calls": [{"name": "get_current_time", "arguments": {"timezone": "Asia/Shanghai"}}]},
                  "It is evening in Shanghai."]
    with ScriptedServer(script, owned_by="other") as server:
        run, result = run_json(tmp_path, server, "现在上海几点？", mcp={"time": time_server(mark)},
                               is_function_call=mode == "function_calling")
        sent = last_request_text(server)
        offered = json.dumps(server.chat_requests()[0], ensure_ascii=False)
    assert run.returncode == 0, run.stderr
    [call] = result["tool_calls"]
    assert (call["name"], call["arguments"], call["error"]) == ("get_current_time", {"timezone": "Asia/Shanghai"}, None)
    answer = json.loads(call["result"])
    assert answer["timezone"] == "Asia/Shanghai" and answer["datetime"].endswith("+08:00")
    assert answer["datetime"] in sent  # the server's result reached the model
    assert "convert_time" in offered and "IANA timezone name" in offered  # the server's own schema
    assert result["answer"] == "It is evening in Shanghai."


def test_grounding_applies_to_mcp_tools_unless_a_server_lists_derived_params(tmp_path, mark):
    """A timezone the model derived from a city name is not a value the user gave."""
    with ScriptedServer([ASK_TIME, "Final Answer: Which timezone?"], owned_by="other") as server:
        run, result = run_json(tmp_path, server, "现在上海几点？", mcp={"time": time_server(mark, derived_params=[])})
    [call] = result["tool_calls"]
    assert call["error"].startswith("not executed: timezone") and call["result"] is None


def test_the_time_server_answers_through_the_roleplay_engine(tmp_path, mark):
    script = ['Action: get_current_time\nAction Input: {"timezone": "Europe/London"}', "Answer: Done."]
    with ScriptedServer(script, owned_by="other") as server:
        run, result = run_json(tmp_path, server, "What time is it in London?", "--engine", "roleplay",
                               mcp={"time": time_server(mark)}, timeout=180)
        sent = last_request_text(server)
    assert run.returncode == 0, run.stderr
    [call] = result["tool_calls"]
    assert call["error"] is None and json.loads(call["result"])["timezone"] == "Europe/London"
    assert json.loads(call["result"])["datetime"] in sent


# --- side effects from the annotations --------------------------------------------------------

def test_a_destructive_tool_is_refused_without_a_terminal_and_runs_with_yes(tmp_path, mark, log):
    call = react_call("delete_file", {"path": "notes.txt"})
    mcp = {"ops": ops_server(mark, log)}
    with ScriptedServer([call, "Final Answer: I could not delete it."], owned_by="other") as server:
        run, result = run_json(tmp_path, server, "delete notes.txt", mcp=mcp)
    assert result["tool_calls"][0]["error"].startswith("not executed: delete_file changes real resources")
    assert not log.exists()  # the server never saw the call
    with ScriptedServer([call, "Final Answer: Deleted."], owned_by="other") as server:
        run, result = run_json(tmp_path, server, "delete notes.txt", "--yes", mcp=mcp)
    assert result["tool_calls"][0]["result"] == '{"result": "deleted notes.txt"}'
    assert log.read_text() == "deleted notes.txt\n"


def test_the_user_is_asked_at_a_terminal_before_a_destructive_tool(tmp_path, mark, log):
    script = [react_call("delete_file", {"path": "notes.txt"}), "Final Answer: Not deleted."]
    with ScriptedServer(script, owned_by="other") as server:
        config = config_file(tmp_path, server.api_base, mcp_servers={"ops": ops_server(mark, log)})
        child = spawn(tmp_path, "-c", str(config))
        child.sendline("delete notes.txt")
        child.expect_exact("changes real resources: run it with {\"path\": \"notes.txt\"}?")
        child.sendline("n")
        child.expect_exact("the user declined")
        child.expect_exact("Not deleted.")
        expect_prompt(child)
        child.sendeof()
        assert finish(child) == 0
    assert not log.exists()


def test_ctrl_c_during_a_call_cancels_it_and_returns_to_the_prompt(tmp_path, mark, log):
    script = [react_call("nap", {"seconds": 60}), "Final Answer: still here"]
    with ScriptedServer(script, owned_by="other") as server:
        config = config_file(tmp_path, server.api_base, mcp_servers={"ops": ops_server(mark, log)})
        child = spawn(tmp_path, "-c", str(config))
        child.sendline("nap for 60 seconds")
        child.expect_exact("running nap")
        time.sleep(0.5)
        child.sendintr()
        child.expect_exact("interrupted")
        expect_prompt(child)
        wait_for(lambda: log.exists() and "nap cancelled" in log.read_text())  # cancelled at the server
        child.sendline("/tools")  # the server still serves
        child.expect_exact("MCP ops")
        expect_prompt(child)
        child.sendeof()
        assert finish(child) == 0


@pytest.mark.parametrize("read_only", [True, False])
def test_a_server_setting_overrides_the_annotations(tmp_path, mark, log, read_only):
    """read_only: true runs a destructive tool without asking; false makes get_current_time ask."""
    mcp = {"ops": ops_server(mark, log, read_only=True)} if read_only else {
        "time": time_server(mark, read_only=False)}
    call = react_call("delete_file", {"path": "notes.txt"}) if read_only else ASK_TIME
    with ScriptedServer([call, "Final Answer: ok"], owned_by="other") as server:
        run, result = run_json(tmp_path, server, "delete notes.txt" if read_only else "现在上海几点？", mcp=mcp)
    error = result["tool_calls"][0]["error"]
    assert (error is None) == read_only, error


# --- results and failures ---------------------------------------------------------------------

def test_an_is_error_result_is_an_error_observation(tmp_path, mark, log):
    with ScriptedServer([react_call("fail", {"reason": "no disk"}), "Final Answer: It failed."],
                        owned_by="other") as server:
        run, result = run_json(tmp_path, server, "fail, the reason: no disk", mcp={"ops": ops_server(mark, log)})
        sent = last_request_text(server)
    assert run.returncode == 0
    error = result["tool_calls"][0]["error"]
    assert error.startswith("fail failed:") and "cannot do it: no disk" in error
    assert "Error: fail failed" in sent and result["answer"] == "It failed."


def test_a_server_printing_stray_lines_on_stdout_still_works_without_a_traceback(tmp_path, mark, log):
    with ScriptedServer([react_call("lookup", {"key": "alpha"}), "Final Answer: 42"], owned_by="other") as server:
        run, result = run_json(tmp_path, server, "look up alpha", mcp={"ops": ops_server(mark, log, "noisy")})
    assert result["tool_calls"][0]["result"] == '{"result": "value of alpha is 42"}'
    assert run.stderr == "", run.stderr


def test_images_and_resources_are_described_in_one_line(tmp_path, mark, log):
    with ScriptedServer([react_call("picture", {}), "Final Answer: A picture."], owned_by="other") as server:
        run, result = run_json(tmp_path, server, "show me", mcp={"ops": ops_server(mark, log)})
    assert result["tool_calls"][0]["result"] == (
        "[image: image/png, 100 bytes]\n[resource: file:///notes.txt, text/plain, 500 characters]")


def test_a_slow_tool_is_cancelled_at_the_server_after_tool_timeout(tmp_path, mark, log):
    with ScriptedServer([react_call("nap", {"seconds": 60}), "Final Answer: Too slow."], owned_by="other") as server:
        run, result = run_json(tmp_path, server, "nap for 60 seconds", mcp={"ops": ops_server(mark, log)},
                               agent={"tool_timeout": 2})
    assert run.returncode == 0, run.stderr
    assert "no result within 2 s (agent.tool_timeout)" in result["tool_calls"][0]["error"]
    assert result["answer"] == "Too slow."
    wait_for(lambda: log.exists() and "nap cancelled" in log.read_text())  # MCP cancellation arrived


def test_a_tool_that_never_returns_ends_at_tool_timeout(tmp_path, mark, log):
    """`hang` blocks and ignores cancellation: the call still ends, and the process group is killed."""
    with ScriptedServer([react_call("hang", {}), "Final Answer: It hangs."], owned_by="other") as server:
        run, result = run_json(tmp_path, server, "hang", mcp={"ops": ops_server(mark, log)},
                               agent={"tool_timeout": 2})
    assert run.returncode == 0 and "no result within 2 s" in result["tool_calls"][0]["error"]


def test_a_server_that_crashes_mid_call_is_an_error_observation(tmp_path, mark, log):
    script = [react_call("crash", {}), react_call("lookup", {"key": "alpha"}), "Final Answer: The server died."]
    with ScriptedServer(script, owned_by="other") as server:
        run, result = run_json(tmp_path, server, "crash it, then look up alpha", mcp={"ops": ops_server(mark, log)})
    assert run.returncode == 0, run.stderr
    first, second = result["tool_calls"]
    assert "MCP server 'ops' is not running (its stderr: about to crash)" in first["error"]
    assert "is not running" in second["error"]  # later calls fail at once
    assert result["answer"] == "The server died."


def test_a_server_that_never_answers_initialize_is_one_warning_and_the_rest_works(tmp_path, mark, log):
    mcp = {"mute": ops_server(mark, log, "mute", startup_timeout=2), "time": time_server(mark)}
    with ScriptedServer([ASK_TIME, "Final Answer: evening"], owned_by="other") as server:
        run, result = run_json(tmp_path, server, "现在上海几点？", mcp=mcp)
    assert run.returncode == 0 and result["tool_calls"][0]["error"] is None
    assert warnings(run) == ["warning: MCP server 'mute' is not used: no answer to initialize within 2 s "
                             "(startup_timeout); its stderr: warming up forever"]


def test_ctrl_c_while_a_server_starts_stops_it(tmp_path, mark, log):
    from test_repl import terminal_signals

    with ScriptedServer([], owned_by="other") as server:
        config = config_file(tmp_path, server.api_base, mcp_servers={"mute": ops_server(mark, log, "mute")})
        process = subprocess.Popen([sys.executable, str(ROOT / "agent_demo.py"), "-c", str(config), "hi"],
                                   cwd=tmp_path, env=cli_env(tmp_path), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   preexec_fn=terminal_signals)
        try:
            wait_for(lambda: len(processes_with(mark)) == 1, timeout=60)
            time.sleep(0.5)
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=30)
        finally:
            process.kill()
    assert process.returncode == 130 and stderr.strip() == "error: interrupted", stderr


def test_a_command_that_does_not_exist_is_one_warning(tmp_path, mark):
    with ScriptedServer(["Final Answer: hi"], owned_by="other") as server:
        run, result = run_json(tmp_path, server, "hi", mcp={"nope": {"command": "no-such-mcp-server-here"}})
    assert run.returncode == 0 and result["answer"] == "hi"
    [line] = warnings(run)
    assert line.startswith("warning: MCP server 'nope' is not used:") and "no-such-mcp-server-here" in line


# --- Streamable HTTP, headers and secrets -----------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def http_server(tmp_path, mark):
    """tests/mcp_test_server.py over Streamable HTTP on 127.0.0.1; (url, token)."""
    port, token = free_port(), f"tok-{uuid.uuid4().hex}"
    env = {**os.environ, "MCP_TEST_MARK": mark}
    process = subprocess.Popen([sys.executable, TEST_SERVER, "http", str(port), token], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "the HTTP MCP server did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp", token
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def test_streamable_http_with_a_secret_header_from_the_environment(tmp_path, http_server):
    url, token = http_server
    mcp = {"remote": {"url": url, "headers": {"Authorization": "Bearer ${MCP_TEST_TOKEN}"}}}
    with ScriptedServer([react_call("lookup", {"key": "answer"}), "Final Answer: 42"], owned_by="other") as server:
        config = config_file(tmp_path, server.api_base, mcp_servers=mcp)
        env = {**cli_env(tmp_path), "MCP_TEST_TOKEN": token}
        run = subprocess.run([sys.executable, str(ROOT / "agent_demo.py"), "-c", str(config), "--json", "look up answer"],
                             capture_output=True, text=True, timeout=90, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["tool_calls"][0]["result"] == '{"result": "value of answer is 42"}'
        # A wrong token: the server refuses; one warning, and the token is never printed.
        env["MCP_TEST_TOKEN"] = "wrong-secret-value"
        server.script[:] = ["Final Answer: no tools"]
        run = subprocess.run([sys.executable, str(ROOT / "agent_demo.py"), "-c", str(config), "--doctor"],
                             capture_output=True, text=True, timeout=90, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL)
    assert "remote (http):" in run.stdout and "✗ mcp" in run.stdout
    assert "wrong-secret-value" not in run.stdout + run.stderr and token not in run.stdout + run.stderr


# --- config: the mcpServers shape, --mcp files, one-line errors -------------------------------

def test_an_mcp_servers_file_as_other_clients_write_it(tmp_path, mark):
    path = tmp_path / "claude_desktop_config.json"
    path.write_text(json.dumps({"mcpServers": {"time": time_server(mark)}}))
    with ScriptedServer([ASK_TIME, "Final Answer: evening"], owned_by="other") as server:
        config = config_file(tmp_path, server.api_base)
        run = cli(tmp_path, "-c", str(config), "--mcp", str(path), "--json", "现在上海几点？", timeout=90)
    assert run.returncode == 0, run.stderr
    assert json.loads(json.loads(run.stdout)["tool_calls"][0]["result"])["timezone"] == "Asia/Shanghai"


@pytest.mark.parametrize("servers, fragment", [
    ({"db": {"command": "x", "url": "http://h/mcp"}}, "mcpServers.db: give either command (stdio) or url"),
    ({"db": {"args": ["--token", "s3cret-arg"]}}, "mcpServers.db: give either command (stdio) or url"),
    ({"db": {"command": "x", "autoStart": True}}, "mcpServers.db.autoStart: unknown key"),
    ({"db": {"type": "sse", "url": "http://h/sse"}}, "mcpServers.db.type: input should be 'stdio', 'http'"),
    ({"db": {"command": "x", "env": {"TOKEN": ["s3cret-env"]}}}, "mcpServers.db.env.TOKEN: input should be a valid string"),
    ({"db": {"command": "x", "env": {"TOKEN": "${MCP_TEST_UNSET_VARIABLE}"}}}, "environment variable MCP_TEST_UNSET_VARIABLE is not set"),
])
def test_a_wrong_mcp_entry_is_one_line_naming_the_server_and_the_key(tmp_path, servers, fragment):
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": servers}))
    run = cli(tmp_path, "-c", str(config_file(tmp_path, "http://127.0.0.1:1/v1")), "--mcp", str(path), "hi")
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode == 2 and len(lines) == 1 and fragment in lines[0], run.stderr
    assert "s3cret" not in run.stderr and "Traceback" not in run.stderr


def test_a_wrong_mcp_servers_section_in_the_config_names_the_server_and_the_key(tmp_path):
    config = config_file(tmp_path, "http://127.0.0.1:1/v1", mcp_servers={
        "db": {"url": "http://h/mcp", "headers": {"Authorization": {"token": "s3cret"}}}})
    run = cli(tmp_path, "-c", str(config), "hi")
    assert run.returncode == 2 and "mcp_servers.db.headers.Authorization: input should be a valid string" in run.stderr
    assert "s3cret" not in run.stderr
    path = tmp_path / "not.json"
    path.write_text("{not json")
    run = cli(tmp_path, "-c", str(config_file(tmp_path, "http://127.0.0.1:1/v1")), "--mcp", str(path), "hi")
    assert run.returncode == 2 and f"{path}: not a JSON file" in run.stderr


def test_secrets_are_masked_in_the_config_view(tmp_path):
    from localagent.config import load_config
    from localagent.render import config_view

    config = load_config(config_file(tmp_path, "http://127.0.0.1:1/v1", mcp_servers={
        "db": {"command": "x", "env": {"DB_PASSWORD": "s3cret-env"}},
        "api": {"url": "http://h/mcp", "headers": {"Authorization": "Bearer s3cret-header"}}}))
    shown = config_view(config).code
    assert "DB_PASSWORD" in shown and "Authorization" in shown and "s3cret" not in shown


def test_a_tool_name_taken_by_another_tool_is_prefixed_with_the_server_name(tmp_path, mark):
    local = tmp_path / "clock.py"
    local.write_text('def get_current_time(timezone: str) -> str:\n    """The local clock."""\n    return "noon"\n')
    script = [react_call("time_get_current_time", {"timezone": "UTC"}), "Final Answer: ok"]
    with ScriptedServer(script, owned_by="other") as server:
        run, result = run_json(tmp_path, server, "time?", "--tools", str(local), mcp={"time": time_server(mark)})
        offered = json.dumps(server.chat_requests()[0], ensure_ascii=False)
    assert warnings(run) == ["warning: MCP server 'time': tool name(s) already taken, offered as "
                             "get_current_time as time_get_current_time"]
    assert "time_get_current_time" in offered and "The local clock." in offered
    assert json.loads(result["tool_calls"][0]["result"])["timezone"] == "UTC"


# --- doctor, REPL, batch, and a killed CLI ---------------------------------------------------

def test_doctor_lists_each_server_its_tools_and_their_read_only_status(tmp_path, mark, log):
    mcp = {"time": time_server(mark), "ops": ops_server(mark, log),
           "mute": ops_server(mark, log, "mute", startup_timeout=1), "off": {"command": "x", "disabled": True}}
    with ScriptedServer([], owned_by="other") as server:
        run = cli(tmp_path, "-c", str(config_file(tmp_path, server.api_base, mcp_servers=mcp)), "--doctor", timeout=90)
    out = run.stdout
    assert "✓ mcp         time (stdio): 2 tool(s), 2 read-only; started in" in out
    assert "✓ mcp         ops (stdio): 7 tool(s), 6 read-only; started in" in out
    assert "✗ mcp         mute (stdio): no answer to initialize within 1 s (startup_timeout)" in out
    assert "· mcp         off: disabled" in out
    rows = {line.split()[0]: line.split()[1:5] for line in out.splitlines() if line.strip().startswith(
        ("get_current_time", "delete_file"))}
    assert rows == {"get_current_time": ["MCP", "time", "no", "timezone*:"],
                    "delete_file": ["MCP", "ops", "yes", "path*:"]}


def test_the_repl_tools_command_shows_each_tools_source_and_batch_mode_calls_mcp_tools(tmp_path, mark):
    with ScriptedServer([ASK_TIME, "Final Answer: evening"], owned_by="other") as server:
        config = config_file(tmp_path, server.api_base, mcp_servers={"time": time_server(mark)})
        run = cli(tmp_path, "-c", str(config), input="/tools\n", timeout=90)
        assert run.returncode == 0, run.stderr
        rows = [line.split()[:3] for line in run.stdout.splitlines()]
        assert ["get_current_time", "MCP", "time"] in rows and ["Calculator", "function", "no"] in rows
        batch = tmp_path / "questions.txt"
        batch.write_text("现在上海几点？\n", encoding="utf-8")
        run = cli(tmp_path, "-c", str(config), "--batch", str(batch), "--out", str(tmp_path / "out.jsonl"), timeout=90)
    assert run.returncode == 0, run.stderr
    [line] = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(json.loads(line)["tool_calls"][0]["result"])["timezone"] == "Asia/Shanghai"


def test_a_killed_cli_leaves_no_server_behind(tmp_path, mark, log):
    """SIGKILL runs no cleanup in the CLI; a server busy in a call does not even notice its stdin
    closing. The servers still go (Linux: the parent-death signal set before the server starts)."""
    with ScriptedServer([react_call("hang", {})], owned_by="other") as server:
        config = config_file(tmp_path, server.api_base, mcp_servers={"time": time_server(mark),
                                                                     "ops": ops_server(mark, log)})
        process = subprocess.Popen([sys.executable, str(ROOT / "agent_demo.py"), "-c", str(config), "hang"],
                                   cwd=tmp_path, env=cli_env(tmp_path), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: log.exists() and "hang started" in log.read_text(), timeout=60)
            assert len(processes_with(mark)) == 2
            process.kill()
        finally:
            process.wait(timeout=10)
    # the `mark` fixture checks that both servers are gone


# --- the real bundled model ---------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("question, zone", [("现在上海几点了？", "Asia/Shanghai"),
                                            ("What time is it in Tokyo right now?", "Asia/Tokyo")])
def test_the_bundled_model_asks_the_time_server(bundled_llm, mark, question, zone):
    from localagent.engines.factory import create_engine
    from localagent.config import McpServerConfig, load_config
    from localagent.mcp_tools import McpServers
    from localagent.tools import Toolbox

    config = load_config(ROOT / "config" / "default.yaml")
    config.llm_config.api_base = bundled_llm
    config.llm_config.timeout = 600  # a cold prompt on a shared 2-core machine
    with McpServers({"time": McpServerConfig.model_validate(time_server(mark))}) as servers:
        engine = create_engine(config, bundled_llm, Toolbox(servers.start()))
        result = engine.run(question)
    calls = [c for c in result.tool_calls if c.error is None]
    assert result.stopped == "answer" and calls, result
    assert calls[0].name == "get_current_time" and calls[0].arguments == {"timezone": zone}
    hour_minute = json.loads(calls[0].result)["datetime"][11:16]
    assert result.answer.strip(), result
    print(f"{question} -> {result.answer!r} (server said {hour_minute})")
