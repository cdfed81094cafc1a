"""Batch mode: concurrent, one failure recorded while the rest succeed, resumable."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from localagent.batch import BatchError, Item, done_ids, read_prompts, run_batch
from localagent.engines.base import RunResult
from scripted_server import ScriptedServer
from test_cli import cli, config_file


class KeyedServer(ScriptedServer):
    """Replies by question, whatever the order the workers ask in: "fail" gets an HTTP 500, a question
    naming an instance gets a RenewInstance call, an observation gets a final answer, anything else
    "answer to <question>" after `delay` seconds. Counts the requests in flight at once."""

    def __init__(self, delay: float = 0.2):
        super().__init__(owned_by="other")
        self.delay = delay
        self.active = self.peak = 0
        self.counter = threading.Lock()

    def _next(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.requests.append(body)
        with self.counter:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            time.sleep(self.delay)
        finally:
            with self.counter:
                self.active -= 1
        last = body["messages"][-1]["content"].split("\n")[0]  # the question, without the language note
        if last.startswith("Observation:"):
            return {"content": f"Final Answer: done ({last[:60]})"}
        if "fail" in last:
            return {"status": 500, "message": "injected failure"}
        if "i-" in last:
            return {"content": 'Action: RenewInstance\nAction Input: {"instance_id": "i-abc123", "period": "3"}'}
        return {"content": f"Final Answer: answer to {last}"}

    def questions(self) -> list[str]:
        return [r["messages"][-1]["content"].split("\n")[0] for r in self.chat_requests()
                if not r["messages"][-1]["content"].startswith("Observation:")]


def results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_ten_prompts_four_at_a_time_one_failure_then_resume(tmp_path):
    lines = [json.dumps({"id": f"q{i}", "prompt": f"question {i}"}) for i in range(7)]
    lines.insert(3, json.dumps({"id": "bad", "prompt": "please fail"}))
    lines += ["plain question nine", "plain question ten"]  # ids: their line numbers
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "results.jsonl"
    with KeyedServer(delay=0.3) as server:
        config = str(config_file(tmp_path, server.api_base))
        run = cli(tmp_path, "-c", config, "--batch", str(prompts), "--out", str(out), "--concurrency", "4")
        assert run.returncode == 1, run.stderr  # some item failed
        assert run.stdout == ""
        assert "10 done, 1 error(s), 0 skipped" in run.stderr and "Traceback" not in run.stderr
        assert 2 <= server.peak <= 4  # concurrent, and bounded
        records = {r["id"]: r for r in results(out)}
        assert len(records) == 10 == len(results(out))
        assert set(records) == {*(f"q{i}" for i in range(7)), "bad", 9, 10}
        assert records["bad"]["stopped"] == "error" and "HTTP 500" in records["bad"]["error"]
        assert records["bad"]["prompt"] == "please fail"
        for i in range(7):
            record = records[f"q{i}"]
            assert record["stopped"] == "answer" and record["answer"] == f"answer to question {i}"
            assert set(record) == {"id", "prompt", "answer", "trace", "stopped", "turns", "tool_calls", "usage",
                                   "timings", "error", "partial"}
        assert records[9]["answer"] == "answer to plain question nine"

        # resume: two more prompts; they are asked, and the failed one again (it fails again)
        with prompts.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"id": "q7", "prompt": "question 7"}) + "\nplain question twelve\n")
        asked = len(server.chat_requests())
        run = cli(tmp_path, "-c", config, "--batch", str(prompts), "--out", str(out), "--concurrency", "4")
        assert run.returncode == 1, run.stderr  # still failing
        assert "3 done (1 asked again after failing before), 1 error(s), 9 skipped" in run.stderr
        assert sorted(server.questions()[asked:]) == ["plain question twelve", "please fail", "question 7"]
        assert sorted(map(str, [r["id"] for r in results(out)][10:])) == ["12", "bad", "q7"]

        # only the failure is left: it alone is asked
        asked = len(server.chat_requests())
        run = cli(tmp_path, "-c", config, "--batch", str(prompts), "--out", str(out))
        assert run.returncode == 1 and "1 done (1 asked again after failing before), 1 error(s), 11 skipped" in run.stderr
        assert server.questions()[asked:] == ["please fail"]


def test_side_effecting_tools_need_yes_in_batch_mode(tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text("renew i-abc123 for 3 months\n", encoding="utf-8")
    with KeyedServer(delay=0) as server:
        config = str(config_file(tmp_path, server.api_base))
        run = cli(tmp_path, "-c", config, "--batch", str(prompts), "--out", str(tmp_path / "no.jsonl"))
        assert run.returncode == 0, run.stderr
        [record] = results(tmp_path / "no.jsonl")
        assert record["tool_calls"][0]["error"].startswith("not executed") and "--yes" in record["tool_calls"][0]["error"]
        run = cli(tmp_path, "-c", config, "--batch", str(prompts), "--out", str(tmp_path / "yes.jsonl"), "--yes")
        assert run.returncode == 0, run.stderr
        [record] = results(tmp_path / "yes.jsonl")
        assert record["tool_calls"][0]["error"] is None and "Renewed" in record["tool_calls"][0]["result"]
    assert record["id"] == 1 and record["stopped"] == "answer"


def test_the_default_output_file_sits_beside_the_input(tmp_path):
    prompts = tmp_path / "qs.jsonl"
    prompts.write_text('{"prompt": "hello"}\n', encoding="utf-8")
    with KeyedServer(delay=0) as server:
        run = cli(tmp_path, "-c", str(config_file(tmp_path, server.api_base)), "--batch", str(prompts))
    assert run.returncode == 0, run.stderr
    assert results(tmp_path / "qs.results.jsonl")[0]["answer"] == "answer to hello"


@pytest.mark.parametrize("text, message", [
    ('{"id": 1, "prompt": "a"}\n{"id": 1, "prompt": "b"}\n', "id 1 already used on line 1"),
    ('{"id": 1, "question": "a"}\n', "line 1: expected"),
    ('{"id": 1, "prompt": \n', "line 1: invalid JSON"),
], ids=["duplicate", "no-prompt", "broken-json"])
def test_a_bad_batch_file_is_a_one_line_error(tmp_path, text, message):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(text, encoding="utf-8")
    with KeyedServer(delay=0) as server:
        run = cli(tmp_path, "-c", str(config_file(tmp_path, server.api_base)), "--batch", str(prompts))
        assert not server.chat_requests()
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1


# --- the module, without a server -------------------------------------------------------------

def test_read_prompts_accepts_json_and_plain_lines(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('\ufeff{"id": "a", "prompt": "one"}\n\nplain two\n"a JSON string"\n42\n{"prompt": "no id"}\n',
                    encoding="utf-8")
    assert read_prompts(path) == [Item("a", "one"), Item(3, "plain two"), Item(4, "a JSON string"),
                                  Item(5, "42"), Item(6, "no id")]
    with pytest.raises(BatchError, match="no such batch file"):
        read_prompts(tmp_path / "missing.jsonl")


def test_done_ids_skip_a_line_cut_short_and_results_start_on_a_new_line(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "a", "answer": "x"}\n{"id": 2, "answer": "y"}\n{"id": "c", "ans', encoding="utf-8")
    assert done_ids(out) == {'"a"', "2"}

    class Echo:
        def run(self, prompt: str) -> RunResult:
            if prompt == "boom":
                raise RuntimeError("engine bug")
            return RunResult(answer=prompt.upper(), turns=1)

    items = [Item("a", "skip me"), Item(2, "skip me too"), Item("c", "see"), Item("d", "boom")]
    summary = run_batch(items, out, Echo, concurrency=3)
    assert (summary.total, summary.skipped, summary.done, summary.errors) == (4, 2, 2, 1)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[2] == '{"id": "c", "ans'  # the torn line stays alone
    tail = {r["id"]: r for r in map(json.loads, lines[3:])}
    assert tail["c"]["answer"] == "SEE"
    assert tail["d"]["stopped"] == "error" and tail["d"]["error"] == "RuntimeError: engine bug"
