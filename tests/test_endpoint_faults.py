"""An endpoint that misbehaves (issue 12, items 1-4): nothing hangs, a broken reply is an error,
odd bodies are one endpoint message, the API key never comes back out. Real HTTP servers on
127.0.0.1 (tests/faulty_server.py); the client, engines and CLI are the real ones."""
from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable

import pytest

from faulty_server import (FaultyServer, answer, drop_after, echo_key, in_turn, not_json, send_json,
                           stall_after, stream_forever, trickle)
from localagent.engines.factory import create_engine
from localagent.cli import EXIT_CODES
from localagent.config import Config, LLMConfig
from localagent.engines.base import Events
from localagent.errors import EndpointError, IncompleteReply
from localagent.llm import LLMClient
from localagent.tools import Toolbox
from localagent.transcript import Transcript
from test_cli import assert_one_line_error, cli, config_file

KEY = "sk-test-5f1c0ffee0ddba11c0ffee"


def finishes_within(seconds: float, fn: Callable[[], Any]) -> Any:
    """fn's result (or its exception), failing the test if it is still running after `seconds`."""
    outcome: dict[str, Any] = {}

    def target():
        try:
            outcome["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            outcome["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def client(api_base: str, timeout: float = 1, retries: int = 0, api_key: str = "EMPTY") -> LLMClient:
    return LLMClient(LLMConfig(model="faulty", api_base=api_base, timeout=timeout, max_retries=retries,
                               api_key=api_key), api_base)


def streamed(llm: LLMClient, seen: list[str] | None = None):
    seen = seen if seen is not None else []
    return lambda: llm.chat([{"role": "user", "content": "hi"}], on_text=seen.append)


# --- 1. the timeout bounds the whole request ----------------------------------------------------

def test_a_stream_that_never_ends_stops_at_the_timeout():
    with FaultyServer(stream_forever) as server:
        started = time.monotonic()
        with pytest.raises(IncompleteReply) as caught:
            finishes_within(10, streamed(client(server.api_base, timeout=1)))
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert server.api_base in message and "did not finish within 1 s" in message
    assert "llm_config.timeout bounds the whole request" in message
    assert caught.value.partial.startswith("tick tick")  # what arrived is kept, marked partial


def test_a_body_trickled_a_byte_at_a_time_stops_at_the_timeout(tmp_path):
    """Not streamed (no terminal): each byte comes well within the read timeout, the whole never."""
    with FaultyServer(trickle) as server:
        config = config_file(tmp_path, server.api_base, llm_config={"timeout": 1, "max_retries": 0})
        run = cli(tmp_path, "-c", str(config), "--json", "hi", timeout=10)
    assert run.returncode == 1, run.stderr
    result = json.loads(run.stdout)
    assert result["stopped"] == "error"
    assert "did not finish within 1 s" in result["error"] and server.api_base in result["error"]


def test_a_server_that_sends_no_headers_is_a_plain_timeout():
    def silent(handler, body):
        handler.server_stop.wait()

    with FaultyServer(silent) as server:
        with pytest.raises(EndpointError, match=r"no answer from .* within 1 s \(llm_config.timeout\)"):
            finishes_within(10, lambda: client(server.api_base).chat([{"role": "user", "content": "hi"}]))


# --- 2. a cut-off stream is an error, its text kept as partial ---------------------------------

class Streaming(Events):
    streams = True  # as on a terminal: the engine streams


def engine_for(api_base: str, retries: int = 0):
    config = Config(llm_config=LLMConfig(model="faulty", api_base=api_base, timeout=5, max_retries=retries))
    return create_engine(config, api_base, Toolbox([]), events=Streaming())


def test_a_stream_cut_off_midway_is_an_error_with_the_partial_text():
    with FaultyServer(drop_after("Final Answer: the instance is re")) as server:
        result = engine_for(server.api_base, retries=1).run("describe it")
        posts = len(server.posts)
    assert result.stopped == "error" and result.answer == ""
    assert "cut off" in result.error and server.api_base in result.error
    assert result.partial == "Final Answer: the instance is re"
    assert result.to_json()["partial"] == "Final Answer: the instance is re"
    assert posts == 1  # text had been streamed: asking again would show it twice


def test_a_stream_cut_off_before_any_text_is_asked_again():
    with FaultyServer(in_turn(drop_after(""), answer("Final Answer: all good"))) as server:
        result = engine_for(server.api_base, retries=1).run("hi")
        posts = len(server.posts)
    assert result.stopped == "answer" and result.answer == "all good" and posts == 2


def test_a_cut_off_stream_exits_1_and_the_transcript_says_error(tmp_path):
    """The CLI streams only to a terminal; the same engine result decides the exit code and the record."""
    with FaultyServer(drop_after("Final Answer: half")) as server:
        result = engine_for(server.api_base).run("hi")
    Transcript(tmp_path / "t.jsonl").add("hi", result)
    record = json.loads((tmp_path / "t.jsonl").read_text())
    assert record["stopped"] == "error" and record["partial"] == "Final Answer: half" and record["answer"] == ""
    assert EXIT_CODES[result.stopped] == 1


# --- 3. odd bodies are endpoint messages ---------------------------------------------------------

@pytest.mark.parametrize("content_type", ["application/json", "text/html"])
def test_a_200_that_is_not_json_names_the_server_and_its_first_bytes(tmp_path, content_type):
    with FaultyServer(not_json(content_type)) as server:
        config = config_file(tmp_path, server.api_base)
        run = cli(tmp_path, "-c", str(config), "--json", "hi")
        plain = cli(tmp_path, "-c", str(config), "hi")
    assert run.returncode == 1
    error = json.loads(run.stdout)["error"]
    assert "unexpected" not in error and server.api_base in error and "not JSON" in error
    assert "502 Bad Gateway" in error
    assert plain.returncode == 1
    assert_one_line_error(plain, "502 Bad Gateway")


@pytest.mark.parametrize("stream", [False, True])
def test_a_200_that_is_json_but_no_completion_shows_what_it_was(stream):
    def error_object(handler, body):
        send_json(handler, 200, {"error": {"message": "model overloaded"}})

    with FaultyServer(error_object) as server:
        llm = client(server.api_base)
        ask = streamed(llm) if stream else (lambda: llm.chat([{"role": "user", "content": "hi"}]))
        with pytest.raises(EndpointError) as caught:
            finishes_within(10, ask)
    assert server.api_base in str(caught.value) and "model overloaded" in str(caught.value)


def test_a_streamed_200_that_is_not_json_names_the_server_and_its_first_bytes():
    with FaultyServer(not_json("text/event-stream")) as server:
        with pytest.raises(EndpointError) as caught:
            finishes_within(10, streamed(client(server.api_base)))
    assert server.api_base in str(caught.value) and "502 Bad Gateway" in str(caught.value)


def test_a_stream_that_stalls_midway_is_an_endpoint_message():
    with FaultyServer(stall_after("Final Answer: so far")) as server:
        with pytest.raises(IncompleteReply) as caught:
            finishes_within(10, streamed(client(server.api_base, timeout=1)))
    message = str(caught.value)
    assert server.api_base in message and "1 s" in message and "llm_config.timeout" in message
    assert "characters had arrived" in message and caught.value.partial == "Final Answer: so far"


# --- 4. the API key never comes back out --------------------------------------------------------

def test_a_401_that_echoes_the_key_does_not_leak_it(tmp_path):
    transcript = tmp_path / "t.jsonl"
    with FaultyServer(echo_key) as server:
        config = config_file(tmp_path, server.api_base, llm_config={"api_key": KEY})
        as_json = cli(tmp_path, "-c", str(config), "--json", "--transcript", str(transcript), "hi")
        plain = cli(tmp_path, "-c", str(config), "--transcript", str(transcript), "hi")
        assert server.posts  # the requests did reach it
    assert as_json.returncode == 1 and plain.returncode == 1
    assert "HTTP 401" in json.loads(as_json.stdout)["error"]
    assert_one_line_error(plain, "HTTP 401", "***")
    for text in (as_json.stdout, as_json.stderr, plain.stdout, plain.stderr, transcript.read_text()):
        assert KEY not in text
        assert KEY[5:20] not in text


def test_redaction_covers_streams_and_bodies_too():
    with FaultyServer(drop_after(f"my key is {KEY}")) as server:
        with pytest.raises(IncompleteReply) as caught:
            finishes_within(10, streamed(client(server.api_base, api_key=KEY)))
    assert KEY not in str(caught.value) and KEY not in caught.value.partial
    assert caught.value.partial == "my key is ***"
