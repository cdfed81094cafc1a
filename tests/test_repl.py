"""The interactive chat, driven for real through a pseudo-terminal (pexpect) against a ScriptedServer."""
from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import pexpect
import pytest

from scripted_server import ScriptedServer
from test_cli import CALL, ROOT, cli, cli_env, config_file, data_dir

PROMPT = "› "
# prompt_toolkit turns on bracketed paste only after it has put the terminal in raw mode, so this
# marks a prompt that is ready for keys. The "› " alone may be the final redraw of the previous,
# finished prompt: a Ctrl-D sent then reaches a terminal still in line mode and is lost.
READY = "\x1b[?2004h"
UP = "\x1b[A"


def spawn(tmp_path: Path, *args: str) -> pexpect.spawn:
    env = cli_env(tmp_path)
    env.update(TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1")  # pexpect answers no cursor-position requests
    child = pexpect.spawn(sys.executable, [str(ROOT / "agent_demo.py"), *args], cwd=str(tmp_path), env=env,
                          encoding="utf-8", timeout=20, dimensions=(50, 160), preexec_fn=terminal_signals)
    child.logfile_read = (tmp_path / "terminal.log").open("w", encoding="utf-8")
    expect_prompt(child)
    return child


def expect_prompt(child: pexpect.spawn) -> None:
    child.expect_exact(READY)
    child.expect_exact(PROMPT)


def terminal_signals() -> None:
    """The signal dispositions a login shell gives a program: pytest may run under nohup or as a
    script's background job, which ignore SIGHUP / SIGINT, and a spawned child inherits that."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def user_messages(request: dict) -> list[str]:
    # the question's first line: the agent adds a note on the answer's language below it
    return [m["content"].split("\n")[0] for m in request["messages"] if m["role"] == "user"]


def test_a_conversation_with_a_tool_call_memory_commands_and_exit(tmp_path):
    script = [CALL, "Final Answer: 6*7 is 42.", "Final Answer: You asked about 6*7.", "Final Answer: fresh start"]
    with ScriptedServer(script, owned_by="other") as server:
        child = spawn(tmp_path, "-c", str(config_file(tmp_path, server.api_base)))
        child.sendline("what is 6*7?")
        child.expect_exact("Calculator")  # the tool panel
        child.expect_exact("6*7 = 42")
        child.expect_exact("6*7 is 42.")
        expect_prompt(child)

        child.sendline("what did I ask?")  # multi-turn memory: the first exchange is in the request
        child.expect_exact("You asked about 6*7.")
        expect_prompt(child)
        assert user_messages(server.chat_requests()[2])[:2] == ["what is 6*7?", "what did I ask?"]

        child.sendline("/tools")
        for name in ("side effect", "Calculator", "instance_id*: string", "RenewInstance"):
            child.expect_exact(name)
        expect_prompt(child)

        child.send(UP)  # history: the previous line comes back, and Enter runs it again
        child.send("\r")
        child.expect_exact("RenewInstance")
        expect_prompt(child)

        child.sendline("/reset")
        child.expect_exact("conversation cleared")
        expect_prompt(child)
        child.sendline("hello again")
        child.expect_exact("fresh start")
        expect_prompt(child)
        assert user_messages(server.chat_requests()[-1]) == ["hello again"]

        child.sendline("/stats")
        child.expect_exact("last answer")
        child.expect_exact("session")
        child.expect_exact("3 question(s)")
        expect_prompt(child)
        child.sendline("/config")
        child.expect_exact("api_key")
        child.expect_exact("********")
        expect_prompt(child)
        child.sendline("/nope")
        child.expect_exact("unknown command /nope")
        expect_prompt(child)
        child.sendline(f"/save {tmp_path / 'config.yaml' / 'x.jsonl'}")  # not a directory: one line
        child.expect_exact("error:")
        expect_prompt(child)
        child.sendline(f"/save {tmp_path / 'saved.jsonl'}")
        child.expect_exact("saved 2 message(s)")
        expect_prompt(child)
        child.sendline("/exit")
        assert finish(child) == 0
    log = (tmp_path / "terminal.log").read_text(encoding="utf-8")
    assert "Traceback" not in log
    saved = [json.loads(line) for line in (tmp_path / "saved.jsonl").read_text().splitlines()]
    assert saved == [{"role": "user", "content": "hello again"}, {"role": "assistant", "content": "Final Answer: fresh start"}]
    transcripts = list((data_dir(tmp_path) / "transcripts").glob("*.jsonl"))
    assert len(transcripts) == 1
    lines = [json.loads(line) for line in transcripts[0].read_text().splitlines()]
    assert [line.get("prompt", line.get("event")) for line in lines] == [
        "what is 6*7?", "what did I ask?", "reset", "hello again"]
    assert lines[0]["tool_calls"][0]["result"] == "6*7 = 42"


def test_ctrl_c_stops_a_slow_answer_and_ctrl_d_exits(tmp_path):
    with ScriptedServer([{"content": "never shown", "delay": 30}, "Final Answer: quick"], owned_by="other") as server:
        child = spawn(tmp_path, "-c", str(config_file(tmp_path, server.api_base)),
                      "--transcript", str(tmp_path / "t.jsonl"))
        started = time.monotonic()
        child.sendline("take your time")
        wait_for(lambda: len(server.chat_requests()) == 1)
        time.sleep(0.5)  # a person's Ctrl-C comes well after Enter
        child.sendcontrol("c")
        child.expect_exact("interrupted")
        expect_prompt(child)
        assert time.monotonic() - started < 15
        child.sendline("and now?")  # the chat goes on
        child.expect_exact("quick")
        expect_prompt(child)
        child.sendcontrol("c")  # at the prompt: just a fresh line
        expect_prompt(child)
        child.sendcontrol("d")
        assert finish(child) == 0
    assert "never shown" not in (tmp_path / "terminal.log").read_text(encoding="utf-8")
    lines = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [(line["prompt"], line["stopped"]) for line in lines] == [
        ("take your time", "interrupted"), ("and now?", "answer")]
    assert user_messages(server.chat_requests()[1]) == ["and now?"]  # the interrupted one is forgotten


def test_history_persists_between_sessions(tmp_path):
    with ScriptedServer([], owned_by="other") as server:
        config = str(config_file(tmp_path, server.api_base))
        child = spawn(tmp_path, "-c", config)
        child.sendline("/help")
        child.expect_exact("/save FILE")
        expect_prompt(child)
        child.sendline("/exit")
        assert finish(child) == 0
        assert "/help" in (data_dir(tmp_path) / "history").read_text()
        child = spawn(tmp_path, "-c", config)
        child.send(UP + UP)  # the line before the earlier session's last (/exit): /help, run again
        child.send("\r")
        child.expect_exact("/save FILE")
        expect_prompt(child)
        child.sendcontrol("d")
        assert finish(child) == 0


def test_a_side_effecting_tool_asks_first(tmp_path):
    call = 'Action: RenewInstance\nAction Input: {"instance_id": "i-abc123", "period": "3"}'
    with ScriptedServer([call, "Final Answer: renewed", call, "Final Answer: not renewed"], owned_by="other") as server:
        child = spawn(tmp_path, "-c", str(config_file(tmp_path, server.api_base)), "--no-transcript")
        child.sendline("renew i-abc123 for 3 months")
        child.expect_exact("changes real resources")
        child.sendline("y")
        child.expect_exact("Renewed")
        child.expect_exact("renewed")
        expect_prompt(child)
        child.sendline("renew i-abc123 for 3 months again")
        child.expect_exact("changes real resources")
        child.sendline("n")
        child.expect_exact("declined")
        child.expect_exact("not renewed")
        expect_prompt(child)
        child.sendline("/exit")
        assert finish(child) == 0
    assert not (data_dir(tmp_path) / "transcripts").exists()


def test_the_chat_reads_plain_lines_from_a_pipe(tmp_path):
    with ScriptedServer(["Final Answer: one", "Final Answer: two"], owned_by="other") as server:
        run = cli(tmp_path, "-c", str(config_file(tmp_path, server.api_base)), input="first\n\n/bogus\nsecond\n")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["one", "two"]
    assert "unknown command /bogus" in run.stderr and "Traceback" not in run.stderr
    assert user_messages(server.chat_requests()[1]) == ["first", "second"]


@pytest.mark.parametrize("args", [["--verbose"], []], ids=["verbose", "quiet"])
def test_verbose_shows_usage_per_answer(tmp_path, args):
    with ScriptedServer(["Final Answer: ok"], owned_by="other") as server:
        run = cli(tmp_path, "-c", str(config_file(tmp_path, server.api_base)), *args, input="hi\n")
    assert run.returncode == 0
    assert ("prompt +" in run.stderr and "completion tokens" in run.stderr) == bool(args)


def test_verbose_says_how_many_requests_went_uncounted(tmp_path):
    """A reply stopped in a loop ends before the server's usage: said, not counted as 0 tokens."""
    looping = {"content": "Final Answer: " + "The Assembly met on the hill of the Pnyx. " * 80, "pace": 0.002}
    with ScriptedServer([looping], owned_by="other") as server:
        run = cli(tmp_path, "-c", str(config_file(tmp_path, server.api_base)), "--verbose", input="hi\n")
    assert run.returncode == 0, run.stderr
    assert "The Assembly met on the hill of the Pnyx." in run.stdout
    assert "(and 1 request(s) the server did not count)" in " ".join(run.stderr.split())


def test_sigterm_at_the_prompt_ends_the_chat(tmp_path):
    with ScriptedServer(["Final Answer: hi"], owned_by="other") as server:
        child = spawn(tmp_path, "-c", str(config_file(tmp_path, server.api_base)), "--no-transcript")
        child.kill(signal.SIGTERM)
        assert finish(child) == 130
