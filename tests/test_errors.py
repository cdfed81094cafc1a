"""Typed errors (issue 15): what went wrong is the exception's class, which carries the exit code;
nothing reads an error's text back. The client talks to real HTTP servers on 127.0.0.1."""
from __future__ import annotations

import socket

import pytest

from faulty_server import FaultyServer
from localagent.config import LLMConfig
from localagent.errors import (AgentError, BatchError, ConfigError, ContextOverflow, EndpointDown, EndpointError,
                               EndpointHTTPError, EndpointTimeout, IncompleteReply, ToolLoadError, TranscriptError)
from localagent.llm import LLMClient
from scripted_server import ScriptedServer

HI = [{"role": "user", "content": "hi"}]


def client(api_base: str, timeout: float = 5) -> LLMClient:
    return LLMClient(LLMConfig(model="scripted", api_base=api_base, timeout=timeout, max_retries=0), api_base)


@pytest.mark.parametrize("stream", [False, True])
def test_an_http_error_carries_its_status(stream):
    with ScriptedServer([{"status": 400, "message": "Failed to parse grammar"}]) as server:
        with pytest.raises(EndpointHTTPError) as caught:
            client(server.api_base).chat(HI, on_text=(lambda t: None) if stream else None)
    assert caught.value.status == 400 and not isinstance(caught.value, ContextOverflow)
    assert "HTTP 400: Failed to parse grammar" in str(caught.value) and caught.value.exit_code == 1


@pytest.mark.parametrize("said", ["the request exceeds the available context size, try increasing it",
                                  "This model's maximum context length is 4096 tokens"])
def test_a_prompt_that_does_not_fit_is_a_context_overflow(said):
    with ScriptedServer([{"status": 400, "message": said}]) as server:
        with pytest.raises(ContextOverflow) as caught:
            client(server.api_base).chat(HI)
    assert caught.value.status == 400


def test_nothing_listening_is_endpoint_down():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    llm = client(f"http://127.0.0.1:{port}/v1")
    with pytest.raises(EndpointDown):
        llm.chat(HI)
    with pytest.raises(EndpointDown):
        llm.probe()


def test_a_server_that_says_nothing_is_an_endpoint_timeout():
    def silent(handler, body):
        handler.server_stop.wait()

    with FaultyServer(silent) as server:
        with pytest.raises(EndpointTimeout):
            client(server.api_base, timeout=1).chat(HI)


def test_the_class_says_the_exit_code():
    assert {cls.exit_code for cls in (ConfigError, ToolLoadError, TranscriptError, BatchError)} == {2}
    assert {cls.exit_code for cls in (AgentError, EndpointError, EndpointDown, EndpointTimeout,
                                      EndpointHTTPError, ContextOverflow, IncompleteReply)} == {1}


def test_redacting_keeps_the_kind_and_its_facts():
    error = ContextOverflow("key sk-1 was refused", 400).redacted(lambda t: t.replace("sk-1", "***"))
    assert (type(error), error.status, str(error)) == (ContextOverflow, 400, "key *** was refused")
    cut = IncompleteReply("cut sk-1", partial="sk-1 so far").redacted(lambda t: t.replace("sk-1", "***"))
    assert (str(cut), cut.partial) == ("cut ***", "*** so far")


def test_only_a_context_overflow_makes_the_conversation_forget(tmp_path):
    from localagent.engines.factory import create_engine
    from localagent.memory import Conversation
    from localagent.config import Config
    from localagent.tools import Toolbox

    history = [{"role": "user", "content": "q0"}, {"role": "assistant", "content": "a0"}]
    with ScriptedServer([{"status": 400, "message": "bad request"}], owned_by="other") as server:
        config = Config(llm_config=LLMConfig(model="scripted", api_base=server.api_base, max_retries=0))
        chat = Conversation(create_engine(config, server.api_base, Toolbox([])), history)
        result = chat.ask("q1")
    assert (result.stopped, result.error_type, len(server.chat_requests())) == ("error", EndpointHTTPError, 1)
    assert chat.history == history and "error_type" not in result.to_json()
