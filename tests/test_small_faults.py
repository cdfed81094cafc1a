"""The smaller cases of issue 12: an api_base that is not a URL, a huge streamed reply, SIGTERM,
an empty prompt."""
from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time

import pytest
from rich.console import Console

from localagent.config import load_config
from localagent.errors import ConfigError
from localagent.render import TerminalEvents
from faulty_server import FaultyServer
from scripted_server import ScriptedServer
from test_cli import ROOT, assert_one_line_error, cli, cli_env, config_file
from test_endpoint_faults import finishes_within


@pytest.mark.parametrize("api_base", ["localhost:8012/v1", "127.0.0.1:8012", "ftp://h/v1", "EMPTY"])
def test_an_api_base_that_is_not_an_http_url_is_a_config_error(tmp_path, api_base):
    path = tmp_path / "c.yaml"
    path.write_text(f"llm_config:\n  model: m\n  api_base: {api_base}\nserver:\n  autostart: true\n")
    with pytest.raises(ConfigError, match=r"llm_config.api_base: expected an http\(s\) URL"):
        load_config(path)
    run = cli(tmp_path, "-c", str(path), "--doctor")
    assert run.returncode == 1 and "http(s) URL" in run.stdout and "would start" not in run.stdout


def test_a_huge_streamed_reply_does_not_stall_the_live_view():
    console = Console(file=io.StringIO(), force_terminal=True, width=100, height=40)
    events = TerminalEvents(console=console)
    delta = ("lorem ipsum dolor sit amet " * 40)[:1000]

    def stream_10_mb():
        events.on_turn(1)
        for _ in range(10_000):
            events.on_text(delta)
        events.stop_live()

    finishes_within(60, stream_10_mb)


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_an_empty_prompt_is_refused_in_one_line(tmp_path, prompt):
    with ScriptedServer(["Final Answer: never"], owned_by="other") as server:
        run = cli(tmp_path, "-c", str(config_file(tmp_path, server.api_base)), prompt)
        assert not server.chat_requests()
    assert run.returncode == 2
    assert_one_line_error(run, "the prompt is empty")


def test_sigterm_ends_like_ctrl_c_and_the_exchange_is_recorded(tmp_path):
    transcript = tmp_path / "t.jsonl"
    def slow(handler, body):  # answers only when the test ends
        handler.server_stop.wait()

    with FaultyServer(slow) as server:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "agent_demo.py"), "-c", str(config_file(tmp_path, server.api_base)),
             "--transcript", str(transcript), "--json", "a slow question"],
            cwd=tmp_path, env=cli_env(tmp_path), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while not server.posts:
                assert time.monotonic() < deadline and process.poll() is None, "the question never reached the server"
                time.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 130, err
    assert json.loads(out)["stopped"] == "interrupted"
    record = json.loads(transcript.read_text())
    assert record["prompt"] == "a slow question" and record["stopped"] == "interrupted"


def test_sigterm_in_the_chat_records_the_answer_so_far_and_leaves(tmp_path):
    transcript = tmp_path / "t.jsonl"

    def slow(handler, body):
        handler.server_stop.wait()

    with FaultyServer(slow) as server:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "agent_demo.py"), "-c", str(config_file(tmp_path, server.api_base)),
             "--transcript", str(transcript)],
            cwd=tmp_path, env=cli_env(tmp_path), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        try:
            process.stdin.write("a slow question\n")
            process.stdin.flush()  # stdin stays open: the chat would wait for the next line
            deadline = time.monotonic() + 30
            while not server.posts:
                assert time.monotonic() < deadline and process.poll() is None, "the question never reached the server"
                time.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 130
    assert json.loads(transcript.read_text())["stopped"] == "interrupted"
