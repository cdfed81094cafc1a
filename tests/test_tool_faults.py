"""Tools that misbehave (issue 12, items 5-7 and 9): one that never returns, one that prints, one
that exits, two of the same name, names servers reject. Real tool files, the real CLI against a
ScriptedServer."""
from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

from localagent.engines.factory import create_engine
from localagent.config import AgentConfig, Config, LLMConfig
from localagent.tools import Toolbox
from scripted_server import ScriptedServer
from test_cli import assert_one_line_error, cli, config_file

TOOLS = '''
import sys
import threading
import time

RELEASE = threading.Event()


def Hang(task: str) -> str:
    """Never returns (until the test releases it), then prints and returns late.

    task: anything
    """
    RELEASE.wait()
    print("LATE PRINT")
    return "LATE RESULT"


def Sleepy(task: str) -> str:
    """Sleeps 30 s; its own time limit is shorter than agent.tool_timeout.

    task: anything
    """
    time.sleep(30)
    return "slept"


Sleepy.timeout = 0.5


def Noisy(task: str) -> str:
    """Prints while it works.

    task: anything
    """
    print("progress: 50%")
    print("progress: 100%")
    return "noisy done"


def Quitter(code: int) -> str:
    """Calls sys.exit.

    code: the exit code
    """
    sys.exit(code)


def Interrupter(task: str) -> str:
    """Raises KeyboardInterrupt from its own code.

    task: anything
    """
    raise KeyboardInterrupt
'''


def call(name: str, args: dict) -> str:
    return f"Action: {name}\nAction Input: {json.dumps(args)}"


@pytest.fixture
def tool_file(tmp_path: Path) -> Path:
    path = tmp_path / "faulty_tools.py"
    path.write_text(TOOLS, encoding="utf-8")
    return path


def ask(tmp_path: Path, tool_file: Path, script: list, *args: str, agent: dict | None = None, timeout: float = 60):
    # grounding off: these calls are about what a tool does once it runs, not about their values
    with ScriptedServer(script, owned_by="other") as server:
        config = config_file(tmp_path, server.api_base, agent={"grounding": False, **(agent or {})})
        return cli(tmp_path, "-c", str(config), "-t", str(tool_file), *args, timeout=timeout)


# --- 5. a time limit on tools -------------------------------------------------------------------

def test_a_tool_that_never_returns_times_out_and_the_question_goes_on(tmp_path, tool_file):
    started = time.monotonic()
    run = ask(tmp_path, tool_file, [call("Hang", {"task": "x"}), "Final Answer: it timed out"],
              "--json", "run hang", agent={"tool_timeout": 1}, timeout=30)
    assert time.monotonic() - started < 30
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["stopped"] == "answer" and result["answer"] == "it timed out"
    assert "timed out after 1 s" in result["tool_calls"][0]["error"] and result["tool_calls"][0]["status"] == "timed_out"


def test_a_tools_own_timeout_wins_over_agent_tool_timeout(tmp_path, tool_file):
    run = ask(tmp_path, tool_file, [call("Sleepy", {"task": "x"}), "Final Answer: ok"], "--json", "sleep",
              agent={"tool_timeout": 60}, timeout=30)
    assert run.returncode == 0, run.stderr
    assert "timed out after 0.5 s" in json.loads(run.stdout)["tool_calls"][0]["error"]


def test_an_abandoned_call_cannot_write_into_a_later_answer(tmp_path, tool_file, capsys):
    toolbox = Toolbox.load([str(tool_file)], tool_timeout=0.3)
    hang_module = __import__("sys").modules["localagent_user_tools.faulty_tools"]
    with ScriptedServer([call("Hang", {"task": "x"}), "Final Answer: first", "Final Answer: second"],
                        owned_by="other") as server:
        config = Config(llm_config=LLMConfig(model="m", api_base=server.api_base, max_retries=0),
                        agent=AgentConfig(max_turns=3, grounding=False))
        engine = create_engine(config, server.api_base, toolbox)
        first = engine.run("run hang")
        hang_module.RELEASE.set()  # the abandoned call now prints and returns
        time.sleep(0.3)
        second = engine.run("something else")
    assert first.stopped == "answer" and "timed out after 0.3 s" in first.tool_calls[0].error
    assert second.stopped == "answer" and second.answer == "second"
    assert "LATE" not in json.dumps(second.to_json()) and "LATE" not in json.dumps(first.to_json())
    out = capsys.readouterr()
    assert "LATE" not in out.out and "LATE" not in out.err


# --- 6. what a tool prints never reaches stdout ---------------------------------------------------

def test_a_tools_print_does_not_break_json(tmp_path, tool_file):
    run = ask(tmp_path, tool_file, [call("Noisy", {"task": "x"}), "Final Answer: done"], "--json", "go")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)  # stdout is the JSON object and nothing else
    assert result["tool_calls"][0]["result"] == "noisy done"
    assert "[Noisy] progress: 50%" in run.stderr and "[Noisy] progress: 100%" in run.stderr


def test_a_tools_print_stays_off_stdout_in_a_plain_answer(tmp_path, tool_file):
    run = ask(tmp_path, tool_file, [call("Noisy", {"task": "x"}), "Final Answer: done"], "go")
    assert run.returncode == 0 and run.stdout == "done\n"


# --- 7. sys.exit / KeyboardInterrupt in a tool is a failed call ------------------------------------

def test_sys_exit_in_a_tool_is_a_failed_call(tmp_path, tool_file):
    transcript = tmp_path / "t.jsonl"
    run = ask(tmp_path, tool_file, [call("Quitter", {"code": 7}), "Final Answer: the tool failed"],
              "--json", "--transcript", str(transcript), "quit")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["answer"] == "the tool failed" and "sys.exit(7)" in result["tool_calls"][0]["error"]
    assert json.loads(transcript.read_text())["tool_calls"][0]["error"] == result["tool_calls"][0]["error"]


def test_keyboard_interrupt_raised_by_a_tool_is_a_failed_call(tmp_path, tool_file):
    run = ask(tmp_path, tool_file, [call("Interrupter", {"task": "x"}), "Final Answer: it failed"], "--json", "go")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["stopped"] == "answer" and "KeyboardInterrupt" in result["tool_calls"][0]["error"]


# --- 9. names: duplicates said once, invalid ones refused -----------------------------------------

def test_a_tool_that_replaces_another_is_said_once_and_doctor_shows_it(tmp_path):
    mine = tmp_path / "my_calc.py"
    mine.write_text(textwrap.dedent('''
        def Calculator(expression: str) -> str:
            """My own calculator.

            expression: what to compute
            """
            return "mine"
    '''), encoding="utf-8")
    with ScriptedServer([call("Calculator", {"expression": "1+1"}), "Final Answer: 2"], owned_by="other") as server:
        config = config_file(tmp_path, server.api_base)
        run = cli(tmp_path, "-c", str(config), "-t", str(mine), "--json", "1+1?")
        doctor = cli(tmp_path, "-c", str(config), "-t", str(mine), "--doctor")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["tool_calls"][0]["result"] == "mine"  # the later one is used
    warnings = [line for line in run.stderr.splitlines() if "replaces" in line]
    assert len(warnings) == 1 and "Calculator" in warnings[0] and str(mine) in warnings[0]
    assert "Calculator" in doctor.stdout and "replaces" in doctor.stdout and str(mine) in doctor.stdout


@pytest.mark.parametrize("source", [
    'def Renew(x: str) -> str:\n    """Renew.\n\n    x: y\n    """\n    return x\n\n\nRenew.tool_name = "renew instance"\n',
    'def 续费(x: str) -> str:\n    """Renew.\n\n    x: y\n    """\n    return x\n',
    'class Empty:\n    name = ""\n    description = "d"\n    parameters = []\n\n    def call(self, params, **kw):\n        return ""\n',
], ids=["space", "non-ascii", "empty"])
def test_a_tool_name_servers_reject_is_a_load_error_naming_the_file(tmp_path, source):
    path = tmp_path / "bad_names.py"
    path.write_text(source, encoding="utf-8")
    config = config_file(tmp_path, "http://127.0.0.1:9/v1")
    run = cli(tmp_path, "-c", str(config), "-t", str(path), "hi")
    assert run.returncode == 2
    assert_one_line_error(run, str(path), "tool name")


def test_the_same_tool_file_twice_replaces_nothing_and_says_nothing(tmp_path):
    shipped = str(Path(__file__).resolve().parent.parent / "tools")
    toolbox = Toolbox.load([shipped, shipped])
    assert toolbox.replaced == [] and "Calculator" in toolbox.names()
