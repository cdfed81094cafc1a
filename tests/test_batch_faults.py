"""Batch mode under faults (issue 12, items 10-13): failed items are asked again, two batches
cannot share an output, a full disk is said plainly, and the engine is built (and the endpoint
probed) once, whatever the concurrency. The real CLI against a server on 127.0.0.1."""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from test_batch import KeyedServer, results
from test_cli import ROOT, assert_one_line_error, cli, cli_env, config_file


class FlakyServer(KeyedServer):
    """Like KeyedServer, but "please fail" fails only the first time it is asked."""

    def __init__(self, delay: float = 0):
        super().__init__(delay)
        self.failed_once = False

    def _next(self, body: dict[str, Any]) -> dict[str, Any]:
        last = body["messages"][-1]["content"]
        if "fail" in last and self.failed_once:
            body["messages"][-1]["content"] = last.replace("fail", "succeed")
        reply = super()._next(body)
        self.failed_once = self.failed_once or "fail" in last
        return reply


def prompts_file(tmp_path: Path, prompts: list[str]) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "prompt": p}) + "\n" for i, p in enumerate(prompts)),
                    encoding="utf-8")
    return path


def test_a_rerun_asks_the_failed_items_again_and_their_new_line_supersedes(tmp_path):
    prompts = prompts_file(tmp_path, ["one", "please fail", "three"])
    out = tmp_path / "out.jsonl"
    with FlakyServer() as server:
        config = str(config_file(tmp_path, server.api_base))
        first = cli(tmp_path, "-c", config, "--batch", str(prompts), "--out", str(out))
        second = cli(tmp_path, "-c", config, "--batch", str(prompts), "--out", str(out))
        third = cli(tmp_path, "-c", config, "--batch", str(prompts), "--out", str(out))
    assert first.returncode == 1 and "3 done, 1 error(s), 0 skipped" in first.stderr
    assert second.returncode == 0, second.stderr
    assert "1 done (1 asked again after failing before), 0 error(s), 2 skipped" in second.stderr
    lines = results(out)
    assert [r["id"] for r in lines].count("q1") == 2
    latest = {r["id"]: r for r in lines}  # a later line supersedes an earlier one
    assert latest["q1"]["stopped"] == "answer" and latest["q1"]["answer"] == "answer to please succeed"
    assert third.returncode == 0 and "0 done, 0 error(s), 3 skipped" in third.stderr


def _locked_by_someone(path: Path) -> bool:
    if not path.exists():
        return False
    with path.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def test_a_second_batch_on_the_same_output_refuses_to_start(tmp_path):
    prompts = prompts_file(tmp_path, ["one", "two", "three"])
    out = tmp_path / "out.jsonl"
    with KeyedServer(delay=1.0) as server:
        config = str(config_file(tmp_path, server.api_base))
        first = subprocess.Popen([sys.executable, str(ROOT / "agent_demo.py"), "-c", config, "--batch",
                                  str(prompts), "--out", str(out), "--concurrency", "1"],
                                 cwd=tmp_path, env=cli_env(tmp_path), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while not _locked_by_someone(out):
                assert time.monotonic() < deadline and first.poll() is None, "the first batch never locked its output"
                time.sleep(0.05)
            second = cli(tmp_path, "-c", config, "--batch", str(prompts), "--out", str(out))
            _, first_err = first.communicate(timeout=60)
        finally:
            if first.poll() is None:
                first.kill()
    assert second.returncode == 2
    assert_one_line_error(second, str(out), "in use by another batch")
    assert first.returncode == 0, first_err
    assert sorted(r["id"] for r in results(out)) == ["q0", "q1", "q2"]  # each once
    assert len(server.questions()) == 3


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_disk_is_said_plainly(tmp_path):
    prompts = prompts_file(tmp_path, ["one", "two"])
    with KeyedServer(delay=0) as server:
        run = cli(tmp_path, "-c", str(config_file(tmp_path, server.api_base)), "--batch", str(prompts),
                  "--out", "/dev/full", "--concurrency", "1", timeout=30)
        asked = len(server.questions())
    assert run.returncode == 1
    assert_one_line_error(run, "/dev/full", "the disk is full", "0 result(s) of this run were saved")
    assert asked == 1  # once nothing can be saved, nothing more is asked


def test_the_engine_is_built_and_the_endpoint_probed_once_whatever_the_concurrency(tmp_path):
    prompts = prompts_file(tmp_path, [f"question {i}" for i in range(16)])
    with KeyedServer(delay=0.1) as server:
        run = cli(tmp_path, "-c", str(config_file(tmp_path, server.api_base)), "--batch", str(prompts),
                  "--out", str(tmp_path / "out.jsonl"), "--concurrency", "16")
        gets = list(server.gets)
    assert run.returncode == 0, run.stderr
    assert "16 done, 0 error(s)" in run.stderr and server.peak > 1
    # one probe of the endpoint per process (it also tells the server kind), not one per worker
    assert len([g for g in gets if g.endswith("/models")]) == 1, gets
