"""The JSONL transcript: written per exchange (a killed process loses nothing), resumable."""
from __future__ import annotations

import json
import os
import signal
import stat

import pexpect
import pytest

from localagent.replies import in_language

from localagent.engines.base import RunResult, ToolCallRecord
from localagent.transcript import (Transcript, TranscriptError, append_line, load_history,
                                   save_conversation)
from scripted_server import ScriptedServer
from test_cli import cli, config_file, data_dir
from test_repl import expect_prompt, spawn


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_transcript_survives_a_killed_process(tmp_path):
    path = tmp_path / "t.jsonl"
    with ScriptedServer(["Final Answer: the answer is 42", {"content": "never", "delay": 30}],
                        owned_by="other") as server:
        child = spawn(tmp_path, "-c", str(config_file(tmp_path, server.api_base)), "--transcript", str(path))
        child.sendline("what is the answer?")
        child.expect_exact("the answer is 42")
        expect_prompt(child)
        child.sendline("and the question?")  # killed while this one is being answered
        child.expect_exact("thinking")
        os.kill(child.pid, signal.SIGKILL)
        child.expect(pexpect.EOF)
        child.close()
        assert child.signalstatus == signal.SIGKILL
    [record] = lines(path)
    assert record["prompt"] == "what is the answer?" and record["answer"] == "the answer is 42"
    assert record["stopped"] == "answer" and record["time"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_one_shot_question_writes_one_line_in_the_data_dir(tmp_path):
    with ScriptedServer(["Final Answer: hi there"], owned_by="other") as server:
        config = str(config_file(tmp_path, server.api_base))
        run = cli(tmp_path, "-c", config, "--json", "hello")
        assert run.returncode == 0, run.stderr
        [path] = (data_dir(tmp_path) / "transcripts").glob("*.jsonl")
        [record] = lines(path)
        assert record == {"time": record["time"], "prompt": "hello", **json.loads(run.stdout)}
        run = cli(tmp_path, "-c", config, "--no-transcript", "hello")
        assert run.returncode == 1  # the script is exhausted: an error, not a transcript
        assert len(list((data_dir(tmp_path) / "transcripts").glob("*.jsonl"))) == 1


def test_resume_continues_the_conversation_and_appends_to_the_same_file(tmp_path):
    path = tmp_path / "chat.jsonl"
    script = ["Final Answer: Paris", "Final Answer: about 2.1 million"]
    with ScriptedServer(script, owned_by="other") as server:
        config = str(config_file(tmp_path, server.api_base))
        assert cli(tmp_path, "-c", config, "--transcript", str(path), "capital of France?").returncode == 0
        run = cli(tmp_path, "-c", config, "--resume", str(path), "how many people live there?")
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == "about 2.1 million"
        messages = server.chat_requests()[-1]["messages"]
    assert [(m["role"], m["content"]) for m in messages[1:]] == [  # the answer as the model wrote it
        ("user", "capital of France?"), ("assistant", "Final Answer: Paris"), ("user", in_language("how many people live there?", "en"))]
    assert [r["prompt"] for r in lines(path)] == ["capital of France?", "how many people live there?"]


def test_resume_in_the_chat_and_a_missing_file(tmp_path):
    saved = save_conversation(tmp_path / "saved.jsonl", [{"role": "user", "content": "my name is Ada"},
                                                         {"role": "assistant", "content": "Hello Ada"}])
    with ScriptedServer(["Final Answer: You are Ada."], owned_by="other") as server:
        config = str(config_file(tmp_path, server.api_base))
        child = spawn(tmp_path, "-c", config, "--resume", str(saved))
        child.sendline("who am I?")
        child.expect_exact("You are Ada.")
        expect_prompt(child)
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
        assert [m["content"] for m in server.chat_requests()[0]["messages"][1:]] == [
            "my name is Ada", "Hello Ada", in_language("who am I?", "en")]  # the language note: the question only
        run = cli(tmp_path, "-c", config, "--resume", str(tmp_path / "nope.jsonl"), "hi")
    assert run.returncode == 2 and "no such transcript" in run.stderr and "Traceback" not in run.stderr
    assert lines(saved)[-1]["prompt"] == "who am I?"  # appended to the resumed file


# --- the module -------------------------------------------------------------------------------

def test_load_history_reads_every_format_and_skips_what_it_cannot(tmp_path):
    path = tmp_path / "mixed.jsonl"
    answered = RunResult(answer="A1", turns=1, tool_calls=[ToolCallRecord("Calculator", {"expression": "1"}, result="1")])
    transcript = Transcript(path)
    transcript.add("Q0", RunResult(answer="forgotten"))
    transcript.reset()
    transcript.add("Q1", answered)
    transcript.add("Q2", RunResult(stopped="error", error="down"))
    with path.open("a", encoding="utf-8") as f:
        f.write('{"role": "user", "content": "Q3"}\n{"role": "assistant", "content": "A3"}\n'
                '{"id": 7, "prompt": "Q4", "answer": "A4", "stopped": "answer"}\n{"prompt": "torn", "ans')
    assert load_history(path) == [
        {"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Q3"}, {"role": "assistant", "content": "A3"},
        {"role": "user", "content": "Q4"}, {"role": "assistant", "content": "A4"}]
    append_line(path, {"prompt": "Q5", "answer": "A5"})  # after a torn line: a line of its own
    assert load_history(path)[-1] == {"role": "assistant", "content": "A5"}
    (tmp_path / "notes.txt").write_text("just some text\n")
    with pytest.raises(TranscriptError, match="not a JSONL transcript"):
        load_history(tmp_path / "notes.txt")


def test_a_transcript_that_cannot_be_written_warns_once_and_turns_off(tmp_path):
    (tmp_path / "file").write_text("")
    warnings: list[str] = []
    transcript = Transcript(tmp_path / "file" / "t.jsonl", on_warning=warnings.append)
    transcript.add("q", RunResult(answer="a"))
    transcript.add("q", RunResult(answer="a"))
    assert len(warnings) == 1 and "transcript off" in warnings[0] and not transcript.enabled
    with pytest.raises(TranscriptError, match="cannot write"):
        save_conversation(tmp_path / "file" / "saved.jsonl", [])


def test_the_config_can_turn_the_transcript_off_or_move_it(tmp_path):
    with ScriptedServer(["Final Answer: a", "Final Answer: b"], owned_by="other") as server:
        off = config_file(tmp_path, server.api_base, transcript={"enabled": False})
        assert cli(tmp_path, "-c", str(off), "q").returncode == 0
        assert not (data_dir(tmp_path) / "transcripts").exists()
        moved = config_file(tmp_path, server.api_base, transcript={"dir": str(tmp_path / "logs")})
        assert cli(tmp_path, "-c", str(moved), "q").returncode == 0
    [path] = (tmp_path / "logs").glob("*.jsonl")
    assert lines(path)[0]["answer"] == "b"
