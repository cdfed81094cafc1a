"""The roleplay engine (modelscope-agent's RolePlay with fixes) against a real scripted HTTP server."""
import json
import logging
import os
import socket
import sys
from pathlib import Path

import pytest

from localagent.config import AgentConfig, LLMConfig
from localagent.endpoint import Endpoint
from localagent.engines.base import Events
from localagent.tools import Toolbox
from scripted_server import ScriptedServer


ROOT = Path(__file__).resolve().parent.parent
API_KEY = "sk-localagent-test-KEY-9f3c1e7d"
INSTANCE = "i-rj90a7e840y5cde"
QUESTION = f"帮我把ECS实例 {INSTANCE} 续费22个月"
CALL = f'Action: RenewInstance\nAction Input: {{"instance_id": "{INSTANCE}", "period": "22"}}'
ANSWER = f"已为实例{INSTANCE}续费22个月。"


@pytest.fixture(scope="session")
def import_dir(tmp_path_factory):
    """Import modelscope_agent once, from an empty cwd, with the cache dir in a temp dir."""
    already = "modelscope_agent" in sys.modules
    cwd = tmp_path_factory.mktemp("import_cwd")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        mp.chdir(cwd)
        from localagent.engines import roleplay

        roleplay._modelscope()
    return None if already else cwd


@pytest.fixture
def toolbox():
    return Toolbox.load([str(ROOT / "tools" / "renew_instance.py")])


class Recorder(Events):
    def __init__(self, streams=True):
        self.streams, self.text, self.started, self.ended, self.turns = streams, "", [], [], []

    def on_turn(self, turn):
        self.turns.append(turn)

    def on_text(self, delta):
        self.text += delta

    def on_tool_start(self, record):
        self.started.append(record.name)

    def on_tool_end(self, record):
        self.ended.append(record)


def make_engine(api_base, toolbox, *, events=None, fc=False, max_turns=3, timeout=10.0, max_retries=1, **kw):
    from localagent.engines.roleplay import RolePlayEngine

    llm = LLMConfig(model="scripted", api_key=API_KEY, timeout=timeout, max_retries=max_retries,
                    is_function_call=fc)
    return RolePlayEngine(Endpoint(llm, api_base), toolbox, AgentConfig(engine="roleplay", max_turns=max_turns),
                          events=events or Recorder(), **kw)


def test_react_tool_call_then_answer(import_dir, toolbox):
    events = Recorder()
    with ScriptedServer([CALL + "\nObservation: made up", ANSWER]) as server:
        result = make_engine(server.api_base, toolbox, events=events).run(QUESTION)
    assert (result.stopped, result.answer, result.error, result.turns) == ("answer", ANSWER, None, 2)
    [record] = result.tool_calls
    assert record.name == "RenewInstance" and record.arguments == {"instance_id": INSTANCE, "period": "22"}
    assert record.error is None and "Renewed" in record.result
    assert events.started == ["RenewInstance"] and events.ended == [record] and events.turns == [1, 2]
    assert events.text == CALL + "\n" + ANSWER  # the deltas of both replies, as streamed
    assert result.usage.prompt_tokens == 20 and result.usage.completion_tokens > 0
    assert result.timings.total_s >= result.timings.llm_s > 0 and result.timings.tools_s > 0

    first, second = server.chat_requests()
    assert "RenewInstance" in first["messages"][0]["content"]  # RolePlay's ReAct system prompt
    assert "Observation:" in first["stop"] and first["stream"] is True
    assert "callbacks" not in first and "uuid_str" not in first
    assert (first["temperature"], first["max_tokens"]) == (0.0, 512)
    # 0.7.2 appends the call and its observation to the last user message
    last = second["messages"][-1]
    assert last["role"] == "user" and QUESTION in last["content"]
    assert f"Observation: <result>{record.result}</result>" in last["content"]


def test_answer_label_and_history_non_streaming(import_dir, toolbox):
    events = Recorder(streams=False)
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"}]
    with ScriptedServer(["Thought: no tool needed\nAnswer: 你好！"]) as server:
        result = make_engine(server.api_base, toolbox, events=events).run("再说一次你好", history=history)
    assert (result.stopped, result.answer, result.tool_calls) == ("answer", "你好！", [])
    assert events.text == ""  # not streaming: nothing to on_text
    [request] = server.chat_requests()
    assert request.get("stream") is True  # read as a stream all the same: a loop is stopped where it shows
    assert [m["role"] for m in request["messages"]] == ["system", "user", "assistant", "user"]


@pytest.mark.parametrize("streams", [True, False])
def test_function_calling(import_dir, toolbox, streams):
    script = [{"tool_calls": [{"name": "RenewInstance", "arguments": {"instance_id": INSTANCE, "period": 22}}]},
              ANSWER]
    with ScriptedServer(script) as server:
        result = make_engine(server.api_base, toolbox, events=Recorder(streams), fc=True).run(QUESTION)
    assert (result.stopped, result.answer, result.turns) == ("answer", ANSWER, 2)
    assert result.usage.prompt_tokens == 20
    assert result.tool_calls[0].arguments == {"instance_id": INSTANCE, "period": "22"}
    first, second = server.chat_requests()
    assert first["tools"][0]["function"]["name"] == "RenewInstance"
    assert "Action:" not in first["messages"][0]["content"]  # no ReAct prompt with function calling
    call_msg, tool_msg = second["messages"][-2:]
    assert call_msg["role"] == "assistant" and call_msg["tool_calls"][0]["id"] == "call_0"
    assert tool_msg == {"role": "tool", "tool_call_id": "call_0", "content": result.tool_calls[0].result}


def test_approval_refusal_and_unknown_tool_are_observations(import_dir, toolbox):
    script = ["Action: Reboot\nAction Input: {}", CALL, "Answer: ok"]
    with ScriptedServer(script) as server:
        engine = make_engine(server.api_base, toolbox, approve=lambda tool, args: "the user declined")
        result = engine.run(QUESTION)
    assert result.stopped == "answer" and [r.error for r in result.tool_calls] == [
        "unknown tool 'Reboot'; the tools are: RenewInstance", "the user declined"]
    assert "Error: the user declined" in server.chat_requests()[-1]["messages"][-1]["content"]


def test_max_turns_stops_cleanly(import_dir, toolbox):
    with ScriptedServer([CALL] * 3) as server:  # a 4th request would get an HTTP 500
        result = make_engine(server.api_base, toolbox, max_turns=3).run(QUESTION)
        assert len(server.chat_requests()) == 3
    assert (result.stopped, result.turns, result.error) == ("max_turns", 3, None)
    assert result.answer.startswith("我在 3 轮后停了下来，还没有得到最终回答。已执行的调用：")
    assert len(result.tool_calls) == 3 and "not executed again" in result.tool_calls[1].error


@pytest.mark.parametrize("streams", [True, False])
def test_http_500_is_retried_max_retries_times(import_dir, toolbox, streams):
    with ScriptedServer([{"status": 500, "message": "model crashed"}] * 5) as server:
        result = make_engine(server.api_base, toolbox, events=Recorder(streams), max_retries=1).run(QUESTION)
        assert len(server.chat_requests()) == 2  # 1 + max_retries, not 3 x 3 x 3
    assert result.stopped == "error" and result.error == "the LLM endpoint answered HTTP 500: model crashed"


def test_timeout(import_dir, toolbox):
    with ScriptedServer([{"content": ANSWER, "delay": 2}]) as server:
        server.httpd.handle_error = lambda *args: None  # its late reply finds the connection closed
        result = make_engine(server.api_base, toolbox, timeout=1, max_retries=0).run(QUESTION)
    assert result.stopped == "error"
    assert result.error == f"no answer from {server.api_base} within 1 s (llm_config.timeout)"
    assert result.timings.total_s < 1.9


def test_server_down(import_dir, toolbox):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = make_engine(f"http://127.0.0.1:{port}/v1", toolbox, max_retries=0).run(QUESTION)
    assert result.stopped == "error" and "\n" not in result.error
    assert result.error == (f"cannot reach the LLM endpoint http://127.0.0.1:{port}/v1 "
                            "(connection refused: is the server running?)")


def test_cwd_stays_clean_and_key_is_never_shown(import_dir, toolbox, tmp_path, monkeypatch, capfd, caplog):
    if import_dir is not None:  # this session imported modelscope_agent from an empty dir
        assert list(import_dir.iterdir()) == []
    monkeypatch.chdir(tmp_path)
    ms_logger, records = logging.getLogger("modelscope-agent"), []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: records.append(record.getMessage())
    level = ms_logger.level
    ms_logger.setLevel(logging.DEBUG)  # even its INFO logs must not hold the key
    ms_logger.addHandler(handler)
    try:
        with caplog.at_level(logging.DEBUG), ScriptedServer([CALL, ANSWER, {"status": 500}]) as server:
            engine = make_engine(server.api_base, toolbox, max_retries=0)
            ok = engine.run(QUESTION)
            failed = engine.run(QUESTION)
    finally:
        ms_logger.removeHandler(handler)
        ms_logger.setLevel(level)
    assert ok.stopped == "answer" and failed.stopped == "error"
    assert records  # the package did log (at INFO), just not the key
    out, err = capfd.readouterr()
    shown = "\n".join([out, err, caplog.text, *records, json.dumps([ok.to_json(), failed.to_json()])])
    assert API_KEY not in shown
    assert list(tmp_path.iterdir()) == []
    assert os.environ["LOG_ENABLE_FILE"] == "off"


@pytest.mark.parametrize("fc", [False, True], ids=["react", "fc"])
def test_a_stream_cut_off_midway_is_an_error_with_the_partial_text(import_dir, toolbox, fc):
    from faulty_server import FaultyServer, drop_after, stream_forever

    with FaultyServer(drop_after("Answer: the instance is re")) as server:
        result = make_engine(server.api_base, toolbox, fc=fc).run(QUESTION)
    assert result.stopped == "error" and "cut off" in result.error and server.api_base in result.error
    assert result.partial == "Answer: the instance is re" and result.answer == ""
    with FaultyServer(stream_forever) as server:
        result = make_engine(server.api_base, toolbox, fc=fc, timeout=1).run(QUESTION)
    assert result.stopped == "error" and "did not finish within 1 s" in result.error
    assert result.partial.startswith("tick")
