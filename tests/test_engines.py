"""Both engines (native and roleplay) against a real scripted OpenAI-compatible HTTP server.

Engines are built the way the CLI builds them (localagent.engines.factory.create_engine from a Config) and
talk to tests/scripted_server.py over HTTP; nothing in the engines or the openai client is mocked.

A variant is (engine, server kind, mode):
- native/llamacpp/react: the ReAct scratchpad continued by assistant prefill; the server stops the
  free text at `Action Input:` and the arguments come from a second, constrained request;
- native/other/react: no prefill; observations come back as user messages;
- native/llamacpp/fc and roleplay/*/fc: OpenAI function calling (tools=, tool messages);
- roleplay/other/react: modelscope-agent's RolePlay, which appends the call and its observation to
  the user message (the server kind does not matter to it).
"""
from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localagent.engines.factory import create_engine
from localagent.memory import Conversation
from localagent.config import AgentConfig, Config, LLMConfig
from localagent.engines.base import Events, Exchange, RunResult, ToolCallRecord
from localagent.replies import dry_run_answer, dry_run_result, in_language
from localagent.engines.execution import history_evidence
from localagent.react import observation_text
from localagent.tools import Toolbox, from_openai_json
from scripted_server import ScriptedServer

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = "i-rj90a7e840y5cde"
QUESTION = f"请帮我续费一台ECS实例，实例id是：{INSTANCE}，续费时长22个月"
RENEW_ARGS = {"instance_id": INSTANCE, "period": 22}  # an int: the tool's schema says string
RENEWED = f"已完成ECS实例ID为{INSTANCE}的续费，续费时长22月"
ANSWER = f"已为实例{INSTANCE}续费22个月。"
TOOL_NAMES = "RenewInstance, DescribeInstance, Deploy, Explode"

TEST_TOOLS = '''
import pathlib

LOG = pathlib.Path({log!r})


def Deploy(instance_id: str, version: str) -> str:
    """Deploy a version to an instance (a side effect: appends a line to a log file).

    instance_id: the instance
    version: the version to deploy
    """
    with LOG.open("a", encoding="utf-8") as f:
        f.write(f"{{instance_id}} {{version}}\\n")
    return f"deployed {{version}} to {{instance_id}}"


Deploy.side_effect = True


def Explode(reason: str) -> str:
    """A tool with a bug: it always raises.

    reason: any text
    """
    raise RuntimeError(f"disk on fire ({{reason}})")
'''


@dataclass(frozen=True)
class Variant:
    engine: str  # native | roleplay
    server: str  # the ScriptedServer's owned_by: llamacpp (prefill + constraints) | other
    mode: str  # react | fc

    @property
    def prefill(self) -> bool:
        return self.engine == "native" and self.server == "llamacpp" and self.mode == "react"

    def call(self, name: str, args: Any) -> Any:
        """What the model writes to call one tool."""
        if self.mode == "fc":
            return {"tool_calls": [{"name": name, "arguments": args}]}
        text = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
        return f"Thought: I need {name}\nAction: {name}\nAction Input: {text}"

    def answer(self, text: str) -> str:
        return text if self.mode == "fc" else f"Thought: done\nFinal Answer: {text}"


NATIVE_LLAMACPP = Variant("native", "llamacpp", "react")
NATIVE_OTHER = Variant("native", "other", "react")
NATIVE_FC = Variant("native", "llamacpp", "fc")
ROLEPLAY = Variant("roleplay", "other", "react")
ROLEPLAY_FC = Variant("roleplay", "other", "fc")
ALL = [NATIVE_LLAMACPP, NATIVE_OTHER, NATIVE_FC, ROLEPLAY, ROLEPLAY_FC]


def ids(v: Variant) -> str:
    return f"{v.engine}-{v.server}-{v.mode}" if v.engine == "native" else f"{v.engine}-{v.mode}"


def variants(items: list[Variant]):
    return pytest.mark.parametrize("v", items, ids=ids, indirect=True)


@pytest.fixture
def v(request):
    variant: Variant = request.param
    if variant.engine == "roleplay":
        request.getfixturevalue("modelscope_loaded")  # the slow import, once per session
    return variant


@pytest.fixture
def deploy_log(tmp_path) -> Path:
    return tmp_path / "deploy.log"


@pytest.fixture
def toolbox(tmp_path, deploy_log) -> Toolbox:
    test_tools = tmp_path / "engine_test_tools.py"
    test_tools.write_text(TEST_TOOLS.format(log=str(deploy_log)), encoding="utf-8")
    return Toolbox.load([str(ROOT / "tools" / "renew_instance.py"), str(ROOT / "tools" / "describe_instance.py"),
                         str(test_tools)])


class Recorder(Events):
    def __init__(self, streams: bool = False):
        self.streams = streams
        self.deltas: list[str] = []
        self.turns: list[int] = []
        self.started: list[str] = []
        self.ended: list[str] = []

    def on_turn(self, turn):
        self.turns.append(turn)

    def on_text(self, delta):
        self.deltas.append(delta)

    def on_tool_start(self, record):
        self.started.append(record.name)

    def on_tool_end(self, record):
        self.ended.append(record.name)


def make_engine(v: Variant, api_base: str, toolbox: Toolbox, *, max_turns: int = 3, timeout: float = 10,
                max_retries: int = 0, constrained: str = "auto", events: Events | None = None, **kw):
    config = Config(
        llm_config=LLMConfig(model="scripted", api_base=api_base, api_key="sk-test", timeout=timeout,
                             max_retries=max_retries, is_function_call=v.mode == "fc"),
        agent=AgentConfig(engine=v.engine, max_turns=max_turns, constrained=constrained))
    return create_engine(config, api_base, toolbox, events=events or Recorder(), **kw)


def run(v: Variant, script: list, toolbox: Toolbox, question: str = QUESTION, **kw) -> tuple[RunResult, list[dict]]:
    """Runs one question; returns the result and the free (not argument-constrained) chat requests."""
    with ScriptedServer(script, owned_by=v.server) as server:
        result = make_engine(v, server.api_base, toolbox, **kw).run(question)
    assert isinstance(result, RunResult)
    return result, free_requests(server)


def free_requests(server: ScriptedServer) -> list[dict]:
    """The requests in which the model chooses what to do; the native engine's argument requests
    (a `grammar` in the body, or a reply continued from `Action Input:` after the relevance check)
    are the second half of one turn, and its relevance checks read one token's probabilities, after
    the model has put the request in its own words for some."""
    return [r for r in server.chat_requests() if "grammar" not in r and "top_logprobs" not in r
            and not r["messages"][-1]["content"].rstrip().endswith(("Action Input:", "The user wants to"))]


def observations(v: Variant, request: dict) -> str:
    """The text through which a request carries the tool results back, checking its shape per variant."""
    messages = request["messages"]
    last = messages[-1]
    if v.mode == "fc":
        tool_messages = [m for m in messages if m["role"] == "tool"]
        assert tool_messages, messages
        calls = {c["id"] for m in messages if m["role"] == "assistant" for c in m.get("tool_calls") or []}
        assert all(m.get("tool_call_id") in calls for m in tool_messages)  # each answers a call that was made
        return "\n".join(m["content"] for m in tool_messages)
    if v.engine == "roleplay":  # RolePlay 0.7.2 appends the call and its observation to the user message
        assert last["role"] == "user" and "Observation: <result>" in last["content"]
        return last["content"]
    if v.prefill:  # one assistant message: the scratchpad, continued by the server
        assert last["role"] == "assistant" and "Observation: " in last["content"]
        return last["content"]
    assert last["role"] == "user" and messages[-2]["role"] == "assistant"  # no prefill: a user turn
    return last["content"]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- a correct call, then an answer --------------------------------------------------------------

@variants(ALL)
def test_tool_call_then_answer(v, toolbox):
    events = Recorder()
    result, free = run(v, [v.call("RenewInstance", RENEW_ARGS), v.answer(ANSWER)], toolbox, events=events)
    assert (result.stopped, result.answer, result.turns, result.error) == ("answer", ANSWER, 2, None)
    [record] = result.tool_calls
    assert record.name == "RenewInstance" and record.arguments == {"instance_id": INSTANCE, "period": "22"}
    assert record.error is None and RENEWED in record.result and "'status': 'Renewed'" in record.result
    assert events.turns == [1, 2] and events.started == events.ended == ["RenewInstance"]
    assert result.usage.prompt_tokens >= 20 and result.timings.total_s >= result.timings.llm_s > 0

    assert len(free) == 2
    assert QUESTION in free[0]["messages"][-1]["content"]
    assert RENEWED not in json.dumps(free[0], ensure_ascii=False)
    assert observation_text(record) in observations(v, free[1])  # the tool result reaches the model
    if v.mode == "fc":
        assert [t["function"]["name"] for t in free[0]["tools"]] == TOOL_NAMES.split(", ")
    else:
        assert "RenewInstance" in free[0]["messages"][0]["content"] and "tools" not in free[0]


# --- memory: a follow-up sees how the earlier question was answered --------------------------------

@variants(ALL)
def test_memory_keeps_the_tool_steps_so_a_follow_up_calls_the_tool_again(v, toolbox):
    """A model shown only bare answers in its history "answers" a follow-up such as "renew it for 3
    more months" by claiming it was done (measured on the bundled 1.5B); shown its earlier Action
    and Observation, it calls the tool. Function calling keeps the bare answer."""
    follow_up, again = "再给它续3个月", {"instance_id": INSTANCE, "period": "3"}
    script = [v.call("RenewInstance", RENEW_ARGS), v.answer(ANSWER), v.call("RenewInstance", again), v.answer("好的。")]
    with ScriptedServer(script, owned_by=v.server) as server:
        chat = Conversation(make_engine(v, server.api_base, toolbox))
        first = chat.ask(QUESTION)
        second = chat.ask(follow_up)
        free = free_requests(server)
    assert (first.stopped, second.stopped, second.answer) == ("answer", "answer", "好的。")
    assert [c.arguments for c in second.tool_calls] == [again] and second.tool_calls[0].error is None
    history = free[2]["messages"][1:3]
    assert history[0] == {"role": "user", "content": QUESTION} and history[1]["role"] == "assistant"
    remembered = history[1]["content"]
    if v.mode == "fc":
        assert remembered == ANSWER and first.trace == ""
    else:
        assert remembered == first.trace
        assert remembered.index("Action: RenewInstance") < remembered.index(RENEWED) < remembered.index(ANSWER)
    assert chat.history[-2:] == [{"role": "user", "content": follow_up},
                                 {"role": "assistant", "content": second.trace or "好的。"}]


@variants(ALL)
def test_memory_keeps_a_call_held_for_a_missing_value_so_the_users_answer_completes_it(v, toolbox, deploy_log):
    """The agent asked for the instance; the user's answer is all the next question says. Memory
    holds the call as it was held back, the made-up id left empty, so the model calls the tool with
    the answer instead of answering it. Function calling keeps the agent's question alone."""
    made_up, real = "i-bp1made0up0id", "i-bp1given0id"
    restated = [" deploy v2 to an instance"] if v == NATIVE_LLAMACPP else []  # asked before asking the user
    script = [v.call("Deploy", {"instance_id": made_up, "version": "v2"}), *restated,
              v.call("Deploy", {"instance_id": real, "version": "v2"}), v.answer("已部署。")]
    with ScriptedServer(script, owned_by=v.server) as server:
        chat = Conversation(make_engine(v, server.api_base, toolbox))
        first = chat.ask("Please deploy v2 to my instance")
        second = chat.ask(real)
        free = free_requests(server)
    asked = "To do that I need the instance from you. Could you tell me?"
    assert (first.answer, [c.missing for c in first.tool_calls]) == (asked, [["instance_id"]])
    assert [c.status for c in second.tool_calls] == ["ran"] and deploy_log.read_text() == f"{real} v2\n"
    remembered = [m for m in free[1]["messages"] if m["role"] == "assistant"][0]["content"]
    assert made_up not in remembered
    if v.mode == "fc":
        assert remembered == asked and first.trace == ""
    else:
        assert remembered == first.trace == ('Action: Deploy\nAction Input: {"instance_id": null, "version": "v2"}\n'
                                             f'Observation: {{"missing": ["instance_id"]}}\nFinal Answer: {asked}')


@pytest.mark.parametrize("held", [True, False])
def test_native_calls_the_held_tool_where_the_model_repeats_the_users_answer(toolbox, deploy_log, held):
    """The user answered the agent's question with the value alone, and the model repeated it as
    its answer: the tool whose call was held back is called, its arguments written by the model.
    Without a call held back, a repeated message is an answer as any other."""
    v, real = NATIVE_LLAMACPP, "i-bp1given0id"
    history = [Exchange("Please deploy v2 to my instance", "",
                        [ToolCallRecord("Deploy", {"instance_id": "i-x", "version": "v2"}, "refused",
                                        refusal="missing", missing=["instance_id"])] if held else [])]
    script = [v.answer(real), f' {{"instance_id": "{real}", "version": "v2"}}', v.answer("已部署。")]
    with ScriptedServer(script, owned_by=v.server) as server:
        result = make_engine(v, server.api_base, toolbox).run(real, history=history)
    if held:
        assert [(c.name, c.status) for c in result.tool_calls] == [("Deploy", "ran")]
        assert deploy_log.read_text() == f"{real} v2\n" and result.turns == 2
    else:
        assert (result.tool_calls, result.answer) == ([], real)


@variants(ALL)
def test_memory_keeps_what_the_user_read_where_the_agent_replaced_the_models_words(v, toolbox, deploy_log):
    """After a dry run the user read the agent's account, not the model's "已部署。": the next
    question's history holds that account, so the model does not go on from a result it made up."""
    deploy = {"instance_id": INSTANCE, "version": "v2"}
    script = [v.call("Deploy", deploy), v.answer("已部署。"), v.answer("好的。")]
    with ScriptedServer(script, owned_by=v.server) as server:
        chat = Conversation(make_engine(v, server.api_base, toolbox, dry_run=True))
        first = chat.ask(f"部署 v2 到 {INSTANCE}")
        chat.ask("谢谢")
        free = free_requests(server)
    shown = f"试运行：没有真正执行任何工具。会执行的调用：Deploy（instance_id：{INSTANCE}，version：v2）。"
    assert first.answer == shown and not deploy_log.exists()
    remembered = free[2]["messages"][2]["content"]
    assert "已部署" not in remembered
    if v.mode == "fc":
        assert remembered == shown
    else:  # the steps, the observation, and the answer the user read
        assert remembered == first.trace and remembered.endswith(f"Final Answer: {shown}")
        assert remembered.index("Action: Deploy") < remembered.index("Observation:") < remembered.index(shown)


@variants([NATIVE_LLAMACPP, NATIVE_OTHER, ROLEPLAY])
def test_an_id_an_earlier_tool_returned_counts_as_given(v, toolbox, deploy_log):
    history = [{"role": "user", "content": "我的实例是哪台？"},
               {"role": "assistant", "content": "Action: ListInstances\nAction Input: {}\n"
                                                "Observation: [{'id': 'i-bp1listed0id'}]\nFinal Answer: 是这台。"}]
    with ScriptedServer([v.call("Deploy", {"instance_id": "i-bp1listed0id", "version": "v2"}), v.answer("已部署。")],
                        owned_by=v.server) as server:
        result = make_engine(v, server.api_base, toolbox).run("把 v2 部署到它上面", history=history)
    assert result.tool_calls[0].error is None and deploy_log.read_text() == "i-bp1listed0id v2\n"


@variants([NATIVE_LLAMACPP, NATIVE_OTHER, ROLEPLAY])
def test_an_id_the_model_invented_earlier_stays_refused(v, toolbox, deploy_log):
    """The earlier refusal is in memory (Action Input and the agent's question): that must not make
    the invented id count as given when the model tries it again."""
    made_up = "i-bp1made0up0id"
    history = [{"role": "user", "content": "请把 v2 部署到我的实例上"},
               {"role": "assistant", "content": f'Action: Deploy\nAction Input: {{"instance_id": "{made_up}", '
                                                f'"version": "v2"}}\nFinal Answer: 是 {made_up} 吗？'}]
    with ScriptedServer([v.call("Deploy", {"instance_id": made_up, "version": "v2"}), v.answer("不该问到这里。")],
                        owned_by=v.server) as server:
        result = make_engine(v, server.api_base, toolbox).run("对，就是生产环境那台", history=history)
    [record] = result.tool_calls
    assert (record.status, record.missing) == ("refused", ["instance_id"]) and not deploy_log.exists()
    assert result.answer == "要继续，我还需要您告诉我：instance id。请提供后我再为您处理。"


def test_history_evidence_is_what_users_said_and_tools_returned():
    history = [
        {"role": "user", "content": "Error: my app is down, look at i-user0said"},
        {"role": "assistant", "content": "Thought: x\nAction: A\nAction Input: {\"id\": \"i-model0wrote\"}\n"
                                         "Observation: first result\nline two\nObservation: Error: not executed: i-model0wrote\n"
                                         "Final Answer: see i-model0answer"},
        {"role": "assistant", "content": "Action: B\nAction Input: {}\nObservation: <result>roleplay result</result>\nAnswer: ok"},
        {"role": "tool", "tool_call_id": "c1", "content": "fc result"},
        {"role": "tool", "tool_call_id": "c2", "content": "Error: refused"},
    ]
    assert history_evidence(history) == ["Error: my app is down, look at i-user0said", "first result\nline two",
                                         "roleplay result", "fc result"]


def test_memory_forgets_the_oldest_exchanges_first(toolbox):
    v = NATIVE_OTHER
    with ScriptedServer([v.answer(f"a{i}") for i in range(4)], owned_by=v.server) as server:
        chat = Conversation(make_engine(v, server.api_base, toolbox), max_exchanges=2)
        for i in range(4):
            chat.ask(f"q{i}")
        last = server.chat_requests()[-1]["messages"]
    assert [m["content"] for m in last[1:]] == ["q1", "Thought: done\nFinal Answer: a1", "q2",
                                                "Thought: done\nFinal Answer: a2", in_language("q3", "en")]
    assert [m["content"] for m in chat.history[::2]] == ["q2", "q3"]


@variants([NATIVE_LLAMACPP, ROLEPLAY])
def test_a_prompt_over_the_context_forgets_the_oldest_exchanges(v, toolbox):
    too_long = {"status": 400, "message": "the request exceeds the available context size, try increasing it"}
    history = [{"role": "user", "content": f"q{i}"} if i % 2 == 0 else {"role": "assistant", "content": f"a{i}"}
               for i in range(4)]
    # The native engine asks once more without token probabilities, in case those were what the server rejected.
    tries = 2 if v.engine == "native" else 1
    with ScriptedServer([too_long] * 2 * tries + [v.answer("fits now")], owned_by=v.server) as server:
        chat = Conversation(make_engine(v, server.api_base, toolbox), history)
        result = chat.ask("q4")
        sent = [[m["content"] for m in r["messages"][1:]] for r in server.chat_requests()]
    assert (result.stopped, result.answer) == ("answer", "fits now")
    assert [s[:-1] for s in sent][::tries] == [["q0", "a1", "q2", "a3"], ["q2", "a3"], []]
    assert [m["content"] for m in chat.history][:1] == ["q4"] and chat.forgotten == 2


def test_a_context_error_after_a_tool_ran_is_not_asked_again(toolbox, deploy_log):
    v = NATIVE_OTHER
    too_long = {"status": 400, "message": "the request exceeds the available context size"}
    with ScriptedServer([v.call("Deploy", {"instance_id": INSTANCE, "version": "v2"}), too_long],
                        owned_by=v.server) as server:
        chat = Conversation(make_engine(v, server.api_base, toolbox), [{"role": "user", "content": "hi"},
                                                                       {"role": "assistant", "content": "hello"}])
        result = chat.ask(f"把 v2 部署到 {INSTANCE}")
    assert result.stopped == "error" and "context size" in result.error
    assert deploy_log.read_text() == f"{INSTANCE} v2\n" and len(server.chat_requests()) == 2
    assert len(chat.history) == 2  # nothing forgotten, nothing added


def test_native_keeps_free_arguments_that_fit_the_schema(toolbox):
    """llama.cpp: a call whose free arguments are valid is run as written (no grammar request);
    the next turn continues the same assistant message (the scratchpad)."""
    v = NATIVE_LLAMACPP
    with ScriptedServer([v.call("RenewInstance", RENEW_ARGS), v.answer(ANSWER)], owned_by=v.server) as server:
        result = make_engine(v, server.api_base, toolbox).run(QUESTION)
    assert result.stopped == "answer" and result.answer == ANSWER
    first, check, arguments, second = server.chat_requests()
    assert "grammar" not in first and "grammar" not in second and "grammar" not in arguments
    # The reply stops where the arguments go, the relevance check is asked at the start of the
    # reply, and the reply goes on from there: the server's cache still holds it.
    assert "Action Input:" in first["stop"]
    assert check["messages"][-1]["content"].startswith("Thought: RenewInstance does: ")
    assert arguments["messages"][-1]["content"] == "Thought: I need RenewInstance\nAction: RenewInstance\nAction Input:"
    scratchpad = second["messages"][-1]["content"]
    assert second["messages"][:-1] == first["messages"]  # the prompt only grows at its end
    assert scratchpad.startswith("Thought: I need RenewInstance\nAction: RenewInstance\nAction Input: {")
    assert scratchpad.endswith(f"Observation: {result.tool_calls[0].result}\n")


def test_native_does_not_run_a_tool_that_does_not_do_what_was_asked(toolbox):
    """The model reaches for a tool that does not serve the question; asked outright, it says no,
    and again after putting the request in its own words. The call does not run and is not asked
    about: with no tool left, the model answers itself, continuing its own check (one assistant
    message: the prompt only grows at its end)."""
    v = NATIVE_LLAMACPP
    one_tool = toolbox.only(["RenewInstance"])
    with ScriptedServer([v.call("RenewInstance", RENEW_ARGS), " know the capital of France.", "巴黎是法国的首都。"],
                        owned_by=v.server, choices=['"no"', '"no"']) as server:
        result = make_engine(v, server.api_base, one_tool).run("法国的首都是哪里？" + INSTANCE)
    assert (result.stopped, result.answer) == ("answer", "巴黎是法国的首都。")
    [record] = result.tool_calls
    assert (record.status, record.refusal, record.missing) == ("refused", "unrelated", [])
    first, check, restate, recheck, final = server.chat_requests()
    assert check["messages"][-1]["content"].endswith('Is that what the user asked for? Answer: "')
    assert (check["max_tokens"], check["logprobs"], check["top_logprobs"]) == (1, True, 20) and "grammar" not in check
    assert restate["messages"][-1]["content"] == "Thought: The user wants to" and "grammar" not in restate
    assert recheck["messages"][-1]["content"] == ("Thought: The user wants to know the capital of France. "
                                                  "RenewInstance does: " + one_tool.get("RenewInstance").description
                                                  + ' Is that what the user wants? Answer: "')
    assert final["messages"][-1]["content"] == recheck["messages"][-1]["content"][:-1] + "no\nFinal Answer: "
    assert "grammar" not in final


@pytest.mark.parametrize("after_check", [
    'RenewInstance({"instance_id": "i-1", "period": 1})',  # a call written out instead of an answer
    "",  # nothing
])
def test_native_asks_again_without_tools_when_the_answer_is_no_answer(toolbox, after_check):
    """After its tool was refused as unrelated, the model's answer writes out that call, or is
    empty: the question is asked again with no tools in view, and that answer is the user's."""
    v = NATIVE_LLAMACPP
    one_tool = toolbox.only(["RenewInstance"])
    with ScriptedServer([v.call("RenewInstance", RENEW_ARGS), " know the capital of France.", after_check,
                         "巴黎是法国的首都。"], owned_by=v.server, choices=['"no"', '"no"']) as server:
        result = make_engine(v, server.api_base, one_tool).run("法国的首都是哪里？")
    assert (result.stopped, result.answer) == ("answer", "巴黎是法国的首都。")
    assert [(r.status, r.refusal) for r in result.tool_calls] == [("refused", "unrelated")]
    *_, final, plain = server.chat_requests()
    assert final["messages"][-1]["content"].endswith("no\nFinal Answer: ")
    assert [m["role"] for m in plain["messages"]] == ["system", "user"]
    assert "RenewInstance" not in plain["messages"][0]["content"] and "grammar" not in plain
    assert plain["messages"][1] == final["messages"][1]  # the user's question, as the model first read it


@pytest.mark.parametrize("again, read", [("巴黎是法国的首都。", "巴黎是法国的首都。"),
                                         ("The capital is Paris.", "Paris is the capital of France.")])
def test_native_asks_again_without_tools_for_an_answer_in_another_language(toolbox, again, read):
    """A Chinese question the model answers in English, no tool having run: asked again with no
    tools in view; that answer is kept where it is in Chinese, else the first one is."""
    v = NATIVE_LLAMACPP
    with ScriptedServer([v.answer("Paris is the capital of France."), again], owned_by=v.server) as server:
        result = make_engine(v, server.api_base, toolbox).run("法国的首都是哪里？")
    assert (result.stopped, result.answer, result.tool_calls) == ("answer", read, [])
    first, plain = server.chat_requests()
    assert [m["role"] for m in plain["messages"]] == ["system", "user"] and "RenewInstance" not in plain["messages"][0]["content"]

    with ScriptedServer([v.answer("Paris is the capital of France.")], owned_by=v.server) as server:
        result = make_engine(v, server.api_base, toolbox).run("What is the capital of France?")
    assert result.answer == "Paris is the capital of France." and len(server.chat_requests()) == 1


def test_native_asks_again_for_an_english_answer_that_only_quotes_chinese(toolbox):
    """A quotation in Chinese does not make an English answer one in Chinese (bundled 1.5B, for
    "《晴天》是谁唱的？", next to a library's search tool)."""
    v = NATIVE_LLAMACPP
    quoting = 'I need to know the title of the song "晴天" to search the library catalogue.'
    with ScriptedServer([v.answer(quoting), "《晴天》是周杰伦唱的。"], owned_by=v.server) as server:
        result = make_engine(v, server.api_base, toolbox).run("《晴天》是谁唱的？")
    assert (result.answer, len(server.chat_requests())) == ("《晴天》是周杰伦唱的。", 2)


@pytest.mark.parametrize("answered", ['RenewInstance({"instance_id": "i-1", "period": 1})', ""])
def test_native_says_it_cannot_when_asked_again_it_still_gives_no_answer(toolbox, answered):
    v = NATIVE_LLAMACPP
    with ScriptedServer([v.call("RenewInstance", RENEW_ARGS), " know the capital of France.", answered, answered],
                        owned_by=v.server, choices=['"no"', '"no"']) as server:
        result = make_engine(v, server.api_base, toolbox.only(["RenewInstance"])).run("法国的首都是哪里？")
    assert result.answer == "抱歉，我现有的工具做不到这件事。"


def test_a_call_written_out_after_a_tool_ran_is_left_to_the_model(toolbox, deploy_log):
    """Only where no tool ran is an answer asked for again: a tool's result is not thrown away."""
    v = NATIVE_LLAMACPP
    written = 'Deploy({"instance_id": "i-1", "version": "v3"})'
    with ScriptedServer([{"content": v.call("Deploy", {"instance_id": INSTANCE, "version": "v2"}), "certainty": 0.99},
                         v.answer(written)], owned_by=v.server) as server:
        result = make_engine(v, server.api_base, toolbox).run(f"deploy v2 to {INSTANCE}")
    assert [r.status for r in result.tool_calls] == ["ran"] and result.answer == written
    assert all("Deploy" in r["messages"][0]["content"] for r in server.chat_requests())  # not asked without tools


HEATER = {"type": "function", "function": {
    "name": "set_heater", "description": "Set the target temperature for a room.",
    "parameters": {"type": "object", "required": ["room", "temperature"], "properties": {
        "room": {"type": "string", "description": "which room", "enum": ["living room", "bedroom", "kids room"]},
        "temperature": {"type": "number"},
        "mode": {"type": "string", "enum": ["heat", "cool"]}}}}}


ROOM = {"room": "kids room", "temperature": 24}


QUOTE = 'Thought: set_heater takes room (which room). The user\'s own words for it, or "not said": '
LISTED = ('Thought: set_heater takes room (which room), one of living room, bedroom, kids room, or "not said" '
          'if the user did not say. The user said "儿童房", so the user asked for room: ')


@pytest.mark.parametrize("call, quoted, said, status, arguments", [
    # a required option: the user's words for it first, then which option, with the options in view
    (ROOM, ['"儿童房"'], ["the kids room. The user also"], "dry_run", ROOM),
    (ROOM, ['"not said"'], [], "refused", ROOM),  # the user never named one: the model's own pick
    (ROOM, ['"the big room"'], [], "refused", ROOM),  # words the user did not say (a grammar ignored)
    (ROOM, ['"儿童房"'], ['"not said"'], "refused", ROOM),  # with the options in view: not said
    # the option the user's words name, as the model reads them under a grammar
    (ROOM, ['"儿童房"', '"kids room"'], ["bedroom"], "dry_run", ROOM),
    (ROOM, ['"儿童房"', '"living room"'], ["bedroom"], "refused", ROOM),
    # an optional option nobody named is left to the tool's default, not asked for
    ({**ROOM, "mode": "heat"}, ['"儿童房"'], ["kids room", "not said"], "dry_run", ROOM),
    ({**ROOM, "mode": "heat"}, ['"儿童房"'], ["kids room", "as it was", 'not said"'], "dry_run", ROOM),
    # an optional option's own words, quoted in free text, must be what the user said; words they did
    # not say are asked for again, chosen from what they said
    ({**ROOM, "mode": "heat"}, ['"儿童房"', '"not said"'], ["kids room", "as it was", 'keep it warm"'], "dry_run", ROOM),
    ({**ROOM, "mode": "heat"}, ['"儿童房"', '"温度"', '"heat"'], ["kids room", "as it was", 'keep it warm"'],
     "dry_run", {**ROOM, "mode": "heat"}),
    # the first option, named by the listed reply alone, is the model's default: the user's own
    # words decide; another option it names counts
    ({**ROOM, "mode": "heat"}, ['"儿童房"'], ["kids room", "heat", 'not said"'], "dry_run", ROOM),
    ({**ROOM, "mode": "cool"}, ['"儿童房"'], ["kids room", "cool"], "dry_run", {**ROOM, "mode": "cool"}),
    # a listed reply that names several options has picked none
    ({**ROOM, "mode": "heat"}, ['"儿童房"'], ["kids room", "heat/cool", 'not said"'], "dry_run", ROOM),
    ({**ROOM, "mode": "cool"}, ['"儿童房"', '"cool"'], ["kids room", "as it was", '二十四度"'], "dry_run",
     {**ROOM, "mode": "cool"}),
])
def test_native_asks_the_model_which_option_the_user_named(tmp_path, call, quoted, said, status, arguments):
    """An option named in another language, in words no dictionary glosses ("儿童房" for "kids room"):
    the model is asked for the user's own words for it, chosen from what they said (a required
    option only), and which option the user asked for, in a few free tokens, and then, when that
    names another, which option the user's words name."""
    path = tmp_path / "tools.json"
    path.write_text(json.dumps([HEATER]), encoding="utf-8")
    v = NATIVE_LLAMACPP
    with ScriptedServer([v.call("set_heater", call), *said, v.answer("好的")], owned_by=v.server,
                        choices=['"yes"', *quoted]) as server:
        result = make_engine(v, server.api_base, Toolbox(from_openai_json(path))).run("把儿童房温度调到二十四度")
    [record] = result.tool_calls
    assert (record.status, record.arguments) == (status, arguments)
    if status == "refused":
        assert (record.missing, result.answer) == (["room"], "要继续，我还需要您告诉我：room（living room、bedroom或kids room）。请提供后我再为您处理。")
    first, _relevance, _arguments, quote, *asked = server.chat_requests()
    assert quote["messages"][:-1] == first["messages"] and quote["messages"][-1]["content"] == QUOTE
    said_phrases = json.loads(quote["grammar"].split("%json", 1)[1])["enum"]
    assert said_phrases[0] == "not said" and {"儿童房", "二十四度"} <= set(said_phrases)
    if quoted[0] != '"儿童房"':
        assert all("The user asked for" not in r["messages"][-1]["content"] for r in asked)
        return
    assert asked[0]["messages"][-1]["content"] == LISTED and "grammar" not in asked[0]
    if said == ["bedroom"]:  # the option the user's words name, read under a grammar
        mapping = next(r for r in asked if "grammar" in r)
        assert mapping["messages"][-1]["content"].startswith(QUOTE + '"儿童房". Of ')


@pytest.mark.parametrize("quote", ['"heater"', '"temperature to 24"'])
def test_native_takes_no_option_from_words_that_name_only_the_rest_of_the_call(tmp_path, quote):
    """Made to quote a phrase of the question, a small model quotes the tool's name or another
    argument's words ("account" for the kind of a bill): those name no option, so none runs."""
    path = tmp_path / "tools.json"
    path.write_text(json.dumps([HEATER]), encoding="utf-8")
    v = NATIVE_LLAMACPP
    with ScriptedServer([v.call("set_heater", ROOM), v.answer("OK")], owned_by=v.server,
                        choices=['"yes"', quote]) as server:
        result = make_engine(v, server.api_base, Toolbox(from_openai_json(path))).run("Set the heater temperature to 24.")
    [record] = result.tool_calls
    assert (record.status, record.missing) == ("refused", ["room"])
    assert any(r["messages"][-1]["content"] == QUOTE for r in server.chat_requests())
    assert not [r for r in server.chat_requests() if "asked for room" in r["messages"][-1]["content"]]


def test_native_runs_a_tool_the_model_says_serves_once_it_restates_the_request(toolbox):
    """Also when the tool is described in the question's language (both Chinese here): a first
    "no" is not final for any tool."""
    v = NATIVE_LLAMACPP
    with ScriptedServer([v.call("RenewInstance", RENEW_ARGS), " renew an instance", v.answer(ANSWER)],
                        owned_by=v.server, choices=['"no"', '"yes"']) as server:
        result = make_engine(v, server.api_base, toolbox).run(QUESTION)
    assert [(r.name, r.status) for r in result.tool_calls] == [("RenewInstance", "ran")] and result.answer == ANSWER


@pytest.mark.parametrize("first, again, ran", [
    ({"Yes": 0.55, "No": 0.45}, None, True),  # the likelier answer when first asked
    ({"yes": 0.2, "Yes": 0.25, "YES": 0.1, "No": 0.45}, None, True),  # a yes in any case counts
    ({"Yes": 0.3, "No": 0.7}, {"Yes": 0.8, "No": 0.2}, True),
    ({"Yes": 0.3, "No": 0.7}, {"Yes": 0.6, "No": 0.4}, False),  # asked again, a yes must be clearer
    ({"Yes": 0.3, "No": 0.7}, {"Sure": 0.9, "No": 0.1}, False),  # only yes and no are read
])
def test_native_reads_how_likely_the_model_says_yes(toolbox, first, again, ran):
    v = NATIVE_LLAMACPP
    script = [v.call("RenewInstance", RENEW_ARGS), *([" renew an instance"] if again else []), v.answer(ANSWER)]
    if not ran:
        script[-1] = "我做不到。"
    with ScriptedServer(script, owned_by=v.server, choices=[first, *([again] if again else [])]) as server:
        result = make_engine(v, server.api_base, toolbox).run(QUESTION)
    assert [r.status for r in result.tool_calls] == ["ran" if ran else "refused"]
    assert len([r for r in server.chat_requests() if "top_logprobs" in r]) == (2 if again else 1)
    # asked before the arguments are written: an unrelated tool never gets them
    continued = [r for r in server.chat_requests() if r["messages"][-1]["content"].endswith("Action Input:")]
    assert len(continued) == (1 if ran else 0)


@pytest.mark.parametrize("streams", [False, True])
@pytest.mark.parametrize("certainty, checked", [(0.95, False), (0.85, True)])
def test_native_leaves_out_the_relevance_check_for_a_call_the_model_was_sure_of(toolbox, certainty, checked, streams):
    """The reply's own tokens say how sure the model was of it; a call it wrote with near
    certainty is not asked about, one it was less sure of is."""
    v = NATIVE_LLAMACPP
    with ScriptedServer([{"content": v.call("RenewInstance", RENEW_ARGS), "certainty": certainty},
                         v.answer(ANSWER)], owned_by=v.server) as server:
        result = make_engine(v, server.api_base, toolbox, events=Recorder(streams=streams)).run(QUESTION)
    assert [(r.name, r.status) for r in result.tool_calls] == [("RenewInstance", "ran")] and result.answer == ANSWER
    first = server.chat_requests()[0]
    assert first["logprobs"] is True and "top_logprobs" not in first and "Action Input:" in first["stop"]
    assert len([r for r in server.chat_requests() if "top_logprobs" in r]) == (1 if checked else 0)


@pytest.mark.parametrize("restated, asks", [('"yes"', True), ('"no"', False)])
def test_native_asks_for_missing_values_only_for_a_tool_the_model_still_wants(toolbox, restated, asks):
    """Before the user is asked for the values a call lacked, the model puts the request in its own
    words and is asked whether the tool does that: a tool it was sure of (no check) but that does
    not serve ("What's 15% of 240?") gets no question about an instance id; the model answers."""
    v = NATIVE_LLAMACPP
    one_tool = toolbox.only(["RenewInstance"])
    with ScriptedServer([{"content": v.call("RenewInstance", RENEW_ARGS), "certainty": 0.95},
                         " know what 15% of 240 is", "36"], owned_by=v.server, choices=[restated]) as server:
        result = make_engine(v, server.api_base, one_tool).run("What's 15% of 240?")
    [record] = result.tool_calls
    checks = [r for r in server.chat_requests() if "top_logprobs" in r]
    assert [c["messages"][-1]["content"] for c in checks] == [
        "Thought: The user wants to know what 15% of 240 is. RenewInstance does: "
        + one_tool.get("RenewInstance").description + ' Is that what the user wants? Answer: "']
    if asks:
        assert (record.refusal, record.missing) == ("missing", ["instance_id", "period"])
        assert result.answer.startswith("To do that I need") and "instance" in result.answer
    else:
        assert (record.status, record.refusal, record.missing) == ("refused", "unrelated", [])
        assert result.answer == "36"
        final = server.chat_requests()[-1]["messages"][-1]["content"]
        assert final == checks[0]["messages"][-1]["content"][:-1] + "no\nFinal Answer: "


def test_native_does_not_ask_twice_whether_a_tool_serves(toolbox):
    """A tool the model said serves once it restated the request is not asked about again before
    the user is asked for a missing value."""
    v = NATIVE_LLAMACPP
    with ScriptedServer([v.call("RenewInstance", RENEW_ARGS), " renew an instance"], owned_by=v.server,
                        choices=['"no"', '"yes"']) as server:
        result = make_engine(v, server.api_base, toolbox.only(["RenewInstance"])).run("帮我续费一台ECS实例")
    assert [(r.status, r.refusal) for r in result.tool_calls] == [("refused", "missing")]
    assert len([r for r in server.chat_requests() if "top_logprobs" in r]) == 2


@pytest.mark.parametrize("logprobs", [False, "reject"])
@pytest.mark.parametrize("choices, ran", [(['"yes"'], True), (['"no"', '"yes"'], True), (['"no"', '"no"'], False)])
def test_native_asks_under_a_grammar_a_server_that_sends_no_probabilities(toolbox, choices, ran, logprobs):
    """A server that ignores `logprobs`, or rejects it, gets the yes/no question under a grammar;
    one that rejected it is not asked for probabilities again."""
    v = NATIVE_LLAMACPP
    script = [v.call("RenewInstance", RENEW_ARGS), *([" renew an instance"] if len(choices) > 1 else []),
              v.answer(ANSWER) if ran else "我做不到。"]
    with ScriptedServer(script, owned_by=v.server, choices=choices, logprobs=logprobs) as server:
        result = make_engine(v, server.api_base, toolbox).run(QUESTION)
    assert [r.status for r in result.tool_calls] == ["ran" if ran else "refused"] and result.error is None
    asked = [r for r in server.chat_requests() if "grammar" in r]
    assert len(asked) == len(choices) and all(r["messages"][-1]["content"].endswith("Answer: ") for r in asked)
    probed = [r for r in server.chat_requests() if "top_logprobs" in r]
    assert len(probed) == (0 if logprobs == "reject" else len(choices))
    if logprobs == "reject":  # the reply's own request was the one rejected
        assert len([r for r in server.chat_requests() if "logprobs" in r]) == 1


def test_native_picks_another_tool_after_one_that_does_not_serve(toolbox, deploy_log):
    """Another tool is left: the model reads its check and may choose it; a tool judged once is not
    asked about again. One the model insists on is not run: it then picks, under a grammar, from
    the tools not judged yet or none; none ends the question in an answer."""
    v = NATIVE_LLAMACPP
    deploy = {"instance_id": INSTANCE, "version": "v2"}
    with ScriptedServer([v.call("RenewInstance", RENEW_ARGS), " deploy v2", v.call("Deploy", deploy),
                         v.answer("部署好了")], owned_by=v.server, choices=['"no"', '"no"', '"yes"']) as server:
        result = make_engine(v, server.api_base, toolbox).run(f"把 v2 部署到 {INSTANCE}")
    assert [(r.name, r.status) for r in result.tool_calls] == [("RenewInstance", "refused"), ("Deploy", "ran")]
    assert result.answer == "部署好了" and deploy_log.exists()
    second_turn = [r for r in free_requests(server) if "Observation" in str(r.get("stop"))][1]["messages"][-1]["content"]
    assert second_turn.startswith("Thought: The user wants to deploy v2. RenewInstance does: ")
    assert second_turn.endswith("Answer: no\n")

    insisting = [v.call("RenewInstance", RENEW_ARGS), " deploy v2", v.call("RenewInstance", RENEW_ARGS)]
    with ScriptedServer([*insisting, "我做不到。"], owned_by=v.server, choices=['"no"', '"no"', '"none"']) as server:
        result = make_engine(v, server.api_base, toolbox).run(f"把 v2 部署到 {INSTANCE}")
    assert [r.status for r in result.tool_calls] == ["refused", "refused"] and result.answer == "我做不到。"
    assert len([r for r in server.chat_requests() if "top_logprobs" in r]) == 2  # one check (two questions) per tool
    [choice] = [r for r in server.chat_requests() if "grammar" in r and "top_logprobs" not in r]
    assert choice["messages"][-1]["content"].endswith("Answer: no\nAction: ")
    assert '"enum": ["DescribeInstance", "Deploy", "Explode", "none"]' in choice["grammar"]  # not the one judged

    with ScriptedServer([*insisting, " " + json.dumps(deploy), v.answer("部署好了")], owned_by=v.server,
                        choices=['"no"', '"no"', '"Deploy"', '"yes"']) as server:
        result = make_engine(v, server.api_base, toolbox).run(f"把 v2 部署到 {INSTANCE}")
    assert [(r.name, r.status) for r in result.tool_calls] == [
        ("RenewInstance", "refused"), ("RenewInstance", "refused"), ("Deploy", "ran")]
    assert (result.answer, result.stopped, result.turns) == ("部署好了", "answer", 3)  # the insisted reply: no turn
    checks = [r["messages"][-1]["content"] for r in server.chat_requests() if "top_logprobs" in r]
    assert len(checks) == 3 and checks[-1].endswith(toolbox.get("Deploy").description + ' Is that what the user asked for? Answer: "')
    arguments = [r for r in server.chat_requests() if r["messages"][-1]["content"].endswith("Action: Deploy\nAction Input:")]
    assert len(arguments) == 1  # the chosen tool's arguments, written after its check


def test_native_rewrites_invalid_arguments_under_the_schema(toolbox):
    """Free arguments that do not fit (here: `period` missing) are written again under the tool's
    JSON schema, continuing the same assistant message from `Action Input:`."""
    v = NATIVE_LLAMACPP
    broken = {"content": v.call("RenewInstance", {"instance_id": "i-rj90a7e840y5cde"}),
              "constrained": json.dumps(RENEW_ARGS)}
    with ScriptedServer([broken, v.answer(ANSWER)], owned_by=v.server) as server:
        result = make_engine(v, server.api_base, toolbox).run(QUESTION)
    assert result.stopped == "answer" and result.answer == ANSWER
    assert result.tool_calls[0].arguments == {"instance_id": "i-rj90a7e840y5cde", "period": "22"}
    first, _check, _free, constrained, second = server.chat_requests()
    assert constrained["messages"][-1] == {"role": "assistant",
                                           "content": "Thought: I need RenewInstance\nAction: RenewInstance\nAction Input: "}
    schema = json.loads(constrained["grammar"].split("%json ", 1)[1])
    assert schema["required"] == ["instance_id", "period"] and schema["additionalProperties"] is False
    assert second["messages"][-1]["content"].startswith(
        "Thought: I need RenewInstance\nAction: RenewInstance\nAction Input: " + json.dumps(RENEW_ARGS))


def test_native_falls_back_to_free_arguments_when_the_server_rejects_the_grammar(toolbox):
    """A llama.cpp built without llguidance answers HTTP 400 to the grammar: the engine goes on
    unconstrained (free continuation of `Action Input:`) instead of failing the question."""
    v = NATIVE_LLAMACPP
    broken = {"content": v.call("RenewInstance", "{instance_id: i-rj90a7e840y5cde"),
              "constrained": json.dumps(RENEW_ARGS)}
    with ScriptedServer([broken, v.answer(ANSWER)], owned_by=v.server, reject_grammar=True) as server:
        engine = make_engine(v, server.api_base, toolbox)
        result = engine.run(QUESTION)
    assert result.stopped == "answer" and result.answer == ANSWER
    assert [c.name for c in result.tool_calls] == ["RenewInstance"] and result.tool_calls[0].error is None
    rejected, free = server.chat_requests()[3:5]
    assert "grammar" in rejected and "grammar" not in free
    assert free["messages"][-1]["content"].endswith("Action Input: ")
    assert engine.constraint is None  # later questions do not try again


def test_native_prefill_empty_reply_asks_for_the_tool_choice(toolbox):
    """A small model that jumps straight to an imagined Observation writes nothing free: the engine
    asks for the tool name under an enum grammar, then for its arguments."""
    v = NATIVE_LLAMACPP
    script = ["Observation: made up", json.dumps(RENEW_ARGS), v.answer(ANSWER)]
    with ScriptedServer(script, owned_by=v.server, choices=['"RenewInstance"']) as server:
        result = make_engine(v, server.api_base, toolbox).run(QUESTION)
    assert (result.stopped, result.answer, result.turns) == ("answer", ANSWER, 2)
    [record] = result.tool_calls
    assert record.error is None and RENEWED in record.result
    _, choice, arguments, _check, _ = server.chat_requests()
    assert choice["messages"][-1] == {"role": "assistant", "content": "Action: "}
    assert '"enum": ["RenewInstance", "DescribeInstance", "Deploy", "Explode", "none"]' in choice["grammar"]
    assert arguments["messages"][-1]["content"] == "Action: RenewInstance\nAction Input: "


def test_native_prefill_tool_choice_that_is_not_json_does_not_raise(toolbox):
    # A server that ignores the grammar may answer the tool-choice request with any text.
    v = NATIVE_LLAMACPP
    with ScriptedServer(["", "你好！"], owned_by=v.server, choices=["I think no tool"]) as server:
        result = make_engine(v, server.api_base, toolbox).run(QUESTION)
    assert (result.stopped, result.answer, result.error, result.tool_calls) == ("answer", "你好！", None, [])


# --- max turns -----------------------------------------------------------------------------------

@variants(ALL)
def test_max_turns_when_the_model_keeps_calling(v, toolbox):
    script = [v.call("DescribeInstance", {"instance_id": INSTANCE})] * 3  # a 4th free request gets HTTP 500
    result, free = run(v, script, toolbox, max_turns=3)
    assert len(free) == 3
    assert (result.stopped, result.turns, result.error) == ("max_turns", 3, None)
    # in the user's language (QUESTION is Chinese), naming what ran and the last real result: no
    # internal error of the repeats
    assert len(result.tool_calls) == 3 and result.tool_calls[0].error is None
    assert result.answer == (f"我在 3 轮后停了下来，还没有得到最终回答。已执行的调用：DescribeInstance（instance_id：{INSTANCE}）。"
                             f"最后的结果：{result.tool_calls[0].result}")
    assert all(r.error.startswith("not executed again") for r in result.tool_calls[1:])


# --- multi-line arguments ------------------------------------------------------------------------

MULTILINE = f'{{\n  "instance_id": "{INSTANCE}",\n  "period": "22"\n}}'


@variants([NATIVE_LLAMACPP, NATIVE_OTHER, NATIVE_FC, ROLEPLAY_FC])
def test_multiline_json_arguments(v, toolbox):
    result, free = run(v, [v.call("RenewInstance", MULTILINE), v.answer(ANSWER)], toolbox)
    assert (result.stopped, result.answer, result.turns) == ("answer", ANSWER, 2)
    [record] = result.tool_calls
    assert record.error is None and record.arguments == {"instance_id": INSTANCE, "period": "22"}
    assert RENEWED in observations(v, free[1])


# --- errors the model can repair -----------------------------------------------------------------

@variants(ALL)
def test_unknown_tool_is_reported_with_the_valid_tools(v, toolbox):
    result, free = run(v, [v.call("RebootInstance", {"instance_id": INSTANCE}), v.answer("抱歉，我不能重启实例。")],
                       toolbox)
    assert (result.stopped, result.answer, result.turns) == ("answer", "抱歉，我不能重启实例。", 2)
    [record] = result.tool_calls
    assert record.error == f"unknown tool 'RebootInstance'; the tools are: {TOOL_NAMES}" and record.result is None
    assert f"Error: {record.error}" in observations(v, free[1])


@variants(ALL)
def test_missing_required_argument_then_repaired_call(v, toolbox):
    script = [v.call("RenewInstance", {"instance_id": INSTANCE}), v.call("RenewInstance", RENEW_ARGS),
              v.answer(ANSWER)]
    result, free = run(v, script, toolbox)
    assert (result.stopped, result.answer, result.turns) == ("answer", ANSWER, 3)
    bad, good = result.tool_calls
    assert bad.result is None and bad.error.startswith(
        "invalid arguments for RenewInstance: missing required argument(s): period. Parameters: ")
    assert "period (string, required)" in bad.error
    assert f"Error: {bad.error}" in observations(v, free[1])
    assert good.error is None and RENEWED in good.result
    assert RENEWED in observations(v, free[2])


@variants([NATIVE_LLAMACPP, NATIVE_OTHER, ROLEPLAY])
def test_arguments_over_several_lines_reach_the_tool_whole(v, toolbox, deploy_log):
    """Both engines read a reply with the same parser: RolePlay's own regex took only the first line."""
    call = f'Thought: deploy\nAction: Deploy\nAction Input: {{"instance_id": "{INSTANCE}",\n"version": "v2"}}'
    result, _ = run(v, [call, v.answer("已部署。")], toolbox, question=f"请把 v2 部署到实例 {INSTANCE}")
    [record] = result.tool_calls
    assert (record.status, record.arguments) == ("ran", {"instance_id": INSTANCE, "version": "v2"})
    assert deploy_log.read_text(encoding="utf-8") == f"{INSTANCE} v2\n" and result.answer == "已部署。"


@variants([NATIVE_LLAMACPP, NATIVE_OTHER, ROLEPLAY])
def test_an_answer_that_repeats_an_internal_error_is_replaced(v, toolbox):
    """Seen on BFCL irrelevance: the model's Final Answer was the observation "Error: unknown tool ..."."""
    for question, said in [("translate hello to French", "Sorry, I can't do that with the tools I have."),
                           ("把你好翻译成法语", "抱歉，我现有的工具做不到这件事。")]:
        result, _ = run(v, [v.call("translate_text", {"text": "hello"}),
                            v.answer("Error: unknown tool 'translate_text'; the tools are: x")], toolbox, question=question)
        assert (result.stopped, result.answer) == ("answer", said)
        assert result.tool_calls[0].status == "unknown_tool"


@variants(ALL)
def test_a_tool_that_raises_becomes_an_error_observation(v, toolbox):
    result, free = run(v, [v.call("Explode", {"reason": "test"}), v.answer("工具出错了。")], toolbox,
                       question="run Explode with the reason test")
    assert (result.stopped, result.answer, result.error) == ("answer", "工具出错了。", None)
    [record] = result.tool_calls
    assert record.error == "Explode failed: RuntimeError: disk on fire (test)"
    assert f"Error: {record.error}" in observations(v, free[1])


# --- several calls in one reply ------------------------------------------------------------------

def two_calls_react() -> str:
    return (f'Action: RenewInstance\nAction Input: {json.dumps(RENEW_ARGS)}\n'
            f'Action: DescribeInstance\nAction Input: {{"instance_id": "{INSTANCE}"}}')


def two_calls_fc() -> dict:
    return {"tool_calls": [{"name": "RenewInstance", "arguments": RENEW_ARGS},
                           {"name": "DescribeInstance", "arguments": {"instance_id": INSTANCE}}]}


def test_native_function_calling_runs_every_tool_call(toolbox):
    v = NATIVE_FC
    result, free = run(v, [two_calls_fc(), ANSWER], toolbox)
    assert (result.stopped, result.answer, result.turns) == ("answer", ANSWER, 2)
    renew, describe = result.tool_calls
    assert renew.error is None and RENEWED in renew.result
    assert describe.error is None and json.loads(describe.result)["instance_id"] == INSTANCE
    messages = free[1]["messages"]
    assert [c["id"] for c in messages[-3]["tool_calls"]] == ["call_0", "call_1"]
    assert messages[-2:] == [{"role": "tool", "tool_call_id": "call_0", "content": renew.result},
                             {"role": "tool", "tool_call_id": "call_1", "content": describe.result}]


@pytest.mark.parametrize("server,constrained", [("other", "auto"), ("llamacpp", "off")])
def test_native_react_unconstrained_runs_every_action_block(toolbox, server, constrained):
    # Constrained (llama.cpp, auto) the free text stops at the first `Action Input:`, so a reply
    # can only hold one call there: one call per turn by construction, nothing is dropped.
    v = Variant("native", server, "react")
    result, free = run(v, [two_calls_react(), v.answer(ANSWER)], toolbox, constrained=constrained)
    assert (result.stopped, result.answer, result.turns) == ("answer", ANSWER, 2)
    renew, describe = result.tool_calls
    assert renew.error is None and describe.error is None
    observed = free[1]["messages"][-1]["content"]
    assert f"Observation: {renew.result}\nObservation: {describe.result}" in observed


@variants([ROLEPLAY, ROLEPLAY_FC])
def test_roleplay_several_calls_in_one_reply(v, toolbox):
    # RolePlay 0.7.2 runs one call per reply (_call_tool takes tool_list[0]); a second call must
    # still either run or be reported to the model, never vanish.
    script = [two_calls_fc() if v.mode == "fc" else two_calls_react(), v.answer(ANSWER)]
    result, free = run(v, script, toolbox)
    assert (result.stopped, result.answer) == ("answer", ANSWER)
    renew, describe = result.tool_calls
    assert (renew.name, renew.error, describe.name, describe.error) == ("RenewInstance", None, "DescribeInstance", None)
    text = observations(v, free[1])
    assert observation_text(renew) in text and observation_text(describe) in text
    if v.mode == "fc":  # the assistant message with both calls, then one tool message per call
        messages = free[1]["messages"]
        assert [c["id"] for c in messages[-3]["tool_calls"]] == ["call_0", "call_1"]
        assert messages[-2:] == [{"role": "tool", "tool_call_id": "call_0", "content": renew.result},
                                 {"role": "tool", "tool_call_id": "call_1", "content": describe.result}]


@variants(ALL)
def test_a_dry_run_at_the_turn_limit_says_what_would_have_run(v, toolbox):
    script = [v.call("DescribeInstance", {"instance_id": INSTANCE})] * 2
    result, _ = run(v, script, toolbox, question=f"Describe {INSTANCE}", max_turns=2, dry_run=True)
    assert (result.stopped, result.turns) == ("max_turns", 2)
    assert result.answer == f"Dry run: no tool actually ran. It would have called DescribeInstance (instance_id: {INSTANCE})."


def test_roleplay_own_turn_limit_is_max_turns(modelscope_loaded, toolbox):
    # Contract difference: RolePlay 0.7.2 stops by itself after 10 LLM calls, so with
    # agent.max_turns above 10 the roleplay engine stops at 10 (the native engine would go on).
    v = ROLEPLAY
    result, free = run(v, [v.call("DescribeInstance", {"instance_id": INSTANCE})] * 10, toolbox, max_turns=20)
    assert len(free) == 10
    assert (result.stopped, result.turns, result.error, len(result.tool_calls)) == ("max_turns", 10, None, 10)
    assert result.answer.startswith(f"我在 10 轮后停了下来，还没有得到最终回答。已执行的调用：DescribeInstance（instance_id：{INSTANCE}）。"
                                    f"最后的结果：{{") and "Error" not in result.answer


# --- the safety checks ---------------------------------------------------------------------------

@variants(ALL)
def test_loop_guard_runs_the_same_call_once(v, toolbox, deploy_log):
    call = v.call("Deploy", {"instance_id": INSTANCE, "version": "v2"})
    result, free = run(v, [call, call, v.answer("已部署。")], toolbox, question=f"请把 v2 部署到实例 {INSTANCE}")
    assert (result.stopped, result.answer, result.turns) == ("answer", "已部署。", 3)
    assert deploy_log.read_text(encoding="utf-8") == f"{INSTANCE} v2\n"  # executed once
    first, again = result.tool_calls
    assert first.error is None and first.result == f"deployed v2 to {INSTANCE}"
    assert (again.status, again.repeats) == ("repeated", 1)
    assert again.error == ("not executed again: this call repeats call 1 of this question, whose result was: "
                           f"deployed v2 to {INSTANCE}")
    assert f"Error: {again.error}" in observations(v, free[2])


@variants([NATIVE_LLAMACPP, NATIVE_OTHER])
def test_loop_guard_sees_through_case_spaces_and_the_tools_spelling(v, toolbox, deploy_log):
    """With --yes the same side effect ran three times for i-abc, I-ABC and "i-abc "."""
    calls = [v.call("Deploy", {"instance_id": INSTANCE, "version": "v2"}),
             v.call("deploy", {"instance_id": INSTANCE.upper(), "version": "V2"}),
             v.call("Deploy", {"instance_id": f"{INSTANCE} ", "version": " v2"})]
    result, _ = run(v, [*calls, v.answer("已部署。")], toolbox, question=f"请把 v2 部署到实例 {INSTANCE}",
                    max_turns=4)
    assert deploy_log.read_text(encoding="utf-8") == f"{INSTANCE} v2\n"  # ran once
    assert [(c.status, c.repeats) for c in result.tool_calls] == [("ran", None), ("repeated", 1), ("repeated", 1)]


@variants(ALL)
def test_grounding_refuses_an_id_the_user_never_gave(v, toolbox, deploy_log):
    """The agent asks for the value itself, in the user's language, naming it in plain words: the
    model never reads the refusal, so the user never reads internal text. A tool that names the
    value only in English ("The instance to deploy to") gets its name translated for a Chinese user,
    in a request of its own that sees nothing of the conversation."""
    made_up = "i-bp1made0up0id"
    for question, translated, asked in [
            ("请把 v2 部署到我的实例上", ["“目标实例”"], "要继续，我还需要您告诉我：目标实例。请提供后我再为您处理。"),
            ("Please deploy v2 to my instance", [], "To do that I need the instance from you. Could you tell me?")]:
        restated = [" deploy v2 to an instance"] if v.prefill else []  # asked before asking
        result, free = run(v, [v.call("Deploy", {"instance_id": made_up, "version": "v2"}), *restated, *translated],
                           toolbox, question=question)
        assert (result.stopped, result.answer) == ("answer", asked)
        # no other request: the question ends with the agent's own
        assert [r["messages"] for r in free[1:]] == [[{"role": "user", "content": "把下面这个参数翻译成简短的中文名称，只写名称：\ninstance_id（the instance）"}]
                                                    for _ in translated]
        [record] = result.tool_calls
        assert (record.status, record.missing, record.result) == ("refused", ["instance_id"], None)
        assert not deploy_log.exists()


@variants([NATIVE_LLAMACPP, ROLEPLAY])
def test_grounding_ignores_case_and_refuses_a_changed_value(v, toolbox, deploy_log):
    """A value the user gave in other case runs; the same call with a value changed does not."""
    question = f"请把 V2 部署到实例 {INSTANCE.upper()}，两台就行"
    result, _ = run(v, [v.call("Deploy", {"instance_id": INSTANCE, "version": "v2"}), v.answer("好了。")],
                    toolbox, question=question)
    assert result.tool_calls[0].status == "ran" and deploy_log.read_text() == f"{INSTANCE} v2\n"
    result, _ = run(v, [v.call("Deploy", {"instance_id": INSTANCE, "version": "v3"}), v.answer("unused")],
                    toolbox, question=question)
    assert (result.tool_calls[0].status, result.tool_calls[0].missing) == ("refused", ["version"])


@variants(ALL)
def test_a_length_of_time_is_converted_into_the_tools_unit(v, toolbox):
    """"One and a half years" for a period in months: the model writes 1.5; the agent runs 18."""
    result, _ = run(v, [v.call("RenewInstance", {"instance_id": INSTANCE, "period": "1.5"}), v.answer("好了。")],
                    toolbox, question=f"Renew {INSTANCE} for one and a half years")
    [record] = result.tool_calls
    assert (record.status, record.arguments) == ("ran", {"instance_id": INSTANCE, "period": "18"})
    assert "续费时长18月" in record.result


def test_a_converted_length_the_tool_does_not_take_is_asked_for(tmp_path):
    """90 minutes is not one of the tool's lengths: no crash, no call; the agent asks."""
    path = tmp_path / "tools.json"
    path.write_text(json.dumps([{"type": "function", "function": {
        "name": "book_court", "description": "Book a tennis court.", "parameters": {
            "type": "object", "required": ["minutes"],
            "properties": {"minutes": {"type": "integer", "description": "duration in minutes", "enum": [30, 60]}}}}}]),
        encoding="utf-8")
    v = NATIVE_OTHER  # no checks that ask the model: grounding alone
    result, _ = run(v, [v.call("book_court", {"minutes": 30}), v.answer("unused")],
                    Toolbox(from_openai_json(path)), question="帮我订网球场，打一个半小时")
    [record] = result.tool_calls
    assert (result.stopped, record.status, record.missing) == ("answer", "refused", ["minutes"])


def test_a_clock_time_whose_minutes_the_model_lost_is_written_as_the_user_said_it(tmp_path):
    """晚上八点十分: the model writes 20:00; the agent writes 20:10 instead of asking for the time."""
    path = tmp_path / "tools.json"
    path.write_text(json.dumps([{"type": "function", "function": {
        "name": "buy_tickets", "description": "Buy movie tickets.", "parameters": {
            "type": "object", "required": ["movie", "showtime"],
            "properties": {"movie": {"type": "string"}, "showtime": {"type": "string", "description": "HH:MM"}}}}}]),
        encoding="utf-8")
    v = NATIVE_OTHER  # no checks that ask the model: grounding alone
    result, _ = run(v, [v.call("buy_tickets", {"movie": "流浪地球3", "showtime": "20:00"}), v.answer("好了。")],
                    Toolbox(from_openai_json(path)), question="买一张《流浪地球3》，晚上八点十分那场")
    [record] = result.tool_calls
    assert (record.status, record.arguments) == ("dry_run", {"movie": "流浪地球3", "showtime": "20:10"})  # a tool with no code
    # the half of the day the user said: never the morning's 08:00 for 晚上八点
    result, _ = run(v, [v.call("buy_tickets", {"movie": "流浪地球3", "showtime": "08:00"}), v.answer("好了。")],
                    Toolbox(from_openai_json(path)), question="买一张《流浪地球3》，晚上八点那场")
    assert result.tool_calls[0].arguments == {"movie": "流浪地球3", "showtime": "20:00"}
    # two times at that hour: which one is not the agent's to pick
    result, _ = run(v, [v.call("buy_tickets", {"movie": "流浪地球3", "showtime": "20:00"}), v.answer("unused")],
                    Toolbox(from_openai_json(path)), question="买一张《流浪地球3》，八点十分或者八点四十那场")
    [record] = result.tool_calls
    assert (record.status, record.missing) == ("refused", ["showtime"])


def test_a_flag_nobody_switched_on_is_left_to_the_tool(tmp_path, modelscope_loaded):
    """For "打两份，要彩色的" the model also writes duplex: true; the call runs without it. A flag the
    tool describes in English only is looked for by the Chinese name the model gives it with the
    tool in view, in a request of its own, asked once per engine: 随机播放 is `shuffle`, and "播放"
    alone asks for nothing. Both engines, on any server."""
    flag = {"type": "boolean"}
    path = tmp_path / "tools.json"
    path.write_text(json.dumps([
        {"type": "function", "function": {"name": "send_print_job", "description": "发送文件到办公室打印机", "parameters": {
            "type": "object", "required": ["file"], "properties": {
                "file": {"type": "string"}, "copies": {"type": "integer"},
                "color": {**flag, "description": "彩色打印"}, "duplex": {**flag, "description": "双面打印"}}}}},
        {"type": "function", "function": {"name": "play_music", "description": "Play a playlist.", "parameters": {
            "type": "object", "required": ["query"], "properties": {"query": {"type": "string"}, "shuffle": flag}}}}]),
        encoding="utf-8")
    tools = Toolbox(from_openai_json(path))
    named = [{"role": "user", "content": "工具 play_music（Play a playlist.）有一个开关参数：shuffle。把这个参数翻译成简短的中文名称，只写名称："}]
    for v in [NATIVE_OTHER, NATIVE_FC, ROLEPLAY, ROLEPLAY_FC]:
        printed = {"file": "合同.docx", "copies": 2, "color": True}
        result, free = run(v, [v.call("send_print_job", {**printed, "duplex": True}), v.answer("好了。")], tools,
                           question="把合同.docx发到前台打印机，打两份，要彩色的")
        assert result.tool_calls[0].arguments == printed and len(free) == 2  # the words alone tell
        for question, chinese, arguments in [("随机播放歌单「跑步必听」", "随机播放", {"query": "跑步必听", "shuffle": True}),
                                             ("播放歌单「跑步必听」", "洗牌", {"query": "跑步必听"})]:
            result, free = run(v, [v.call("play_music", {"query": "跑步必听", "shuffle": True}), chinese,
                                   v.answer("好了。")], tools, question=question)
            assert result.tool_calls[0].arguments == arguments and free[1]["messages"] == named
        # asked once: the next question has the name already
        shuffled = {"query": "周末", "shuffle": True}
        with ScriptedServer([v.call("play_music", {"query": "跑步必听", "shuffle": True}), "随机播放", v.answer("好了。"),
                             v.call("play_music", shuffled), v.answer("好了。")], owned_by=v.server) as server:
            engine = make_engine(v, server.api_base, tools)
            engine.run("随机播放歌单「跑步必听」")
            assert engine.run("随机播放歌单「周末」").tool_calls[0].arguments == shuffled
        assert [r["messages"] for r in server.chat_requests()].count(named) == 1


PRINTER = {"type": "function", "function": {"name": "send_print_job", "description": "发送文件到办公室打印机", "parameters": {
    "type": "object", "required": ["file"], "properties": {
        "file": {"type": "string"}, "color": {"type": "boolean", "description": "彩色打印"}}}}}
LEFT_OFF_QUOTE = 'Thought: send_print_job takes color (彩色打印). The user\'s own words for it, or "not said": "'


@pytest.mark.parametrize("question, quote, arguments", [
    ("Print report.pdf, black and white.", 'black and white"', {"file": "report.pdf", "color": False}),
    ("Print report.pdf.", 'not said"', {"file": "report.pdf"}),  # nobody said it: the tool's default
    ("Print report.pdf.", 'in black ink"', {"file": "report.pdf"}),  # words not said are not asked for again
])
def test_native_keeps_a_flag_left_off_where_the_user_has_words_for_it(tmp_path, question, quote, arguments):
    """`color: false` shares no word with "black and white": the model is asked for the user's own
    words for the flag, in free text, and they must be words the user said."""
    path = tmp_path / "tools.json"
    path.write_text(json.dumps([PRINTER]), encoding="utf-8")
    v = NATIVE_LLAMACPP
    with ScriptedServer([v.call("send_print_job", {"file": "report.pdf", "color": False}), quote, v.answer("OK")],
                        owned_by=v.server, choices=['"yes"']) as server:
        result = make_engine(v, server.api_base, Toolbox(from_openai_json(path))).run(question)
    [record] = result.tool_calls
    assert (record.status, record.arguments) == ("dry_run", arguments)  # a tool with no code
    asked = [r for r in server.chat_requests() if r["messages"][-1]["content"] == LEFT_OFF_QUOTE]
    assert len(asked) == 1 and "grammar" not in asked[0]


@variants([NATIVE_OTHER, ROLEPLAY, ROLEPLAY_FC])
def test_a_flag_left_off_is_kept_where_the_model_cannot_be_asked_for_the_users_words(v, tmp_path):
    """Those questions continue the conversation's prompt, which only the native engine on llama.cpp
    or vLLM can: elsewhere a flag left off stays as the model wrote it."""
    path = tmp_path / "tools.json"
    path.write_text(json.dumps([PRINTER]), encoding="utf-8")
    result, free = run(v, [v.call("send_print_job", {"file": "report.pdf", "color": False}), v.answer("OK")],
                       Toolbox(from_openai_json(path)), question="Print report.pdf.")
    assert result.tool_calls[0].arguments == {"file": "report.pdf", "color": False} and len(free) == 2


@variants(ALL)
def test_approval_refusal(v, toolbox, deploy_log):
    asked = []

    def approve(tool, arguments):
        asked.append((tool.name, arguments))
        return "the user declined"

    script = [v.call("DescribeInstance", {"instance_id": INSTANCE}),
              v.call("Deploy", {"instance_id": INSTANCE, "version": "v2"}), v.answer("好的，未部署。")]
    result, free = run(v, script, toolbox, question=f"查看并部署 v2 到 {INSTANCE}", approve=approve)
    assert (result.stopped, result.answer) == ("answer", "好的，未部署。")
    assert asked == [("Deploy", {"instance_id": INSTANCE, "version": "v2"})]  # read-only tools are not asked
    describe, deploy = result.tool_calls
    assert describe.error is None
    assert deploy.error == "the user declined" and deploy.result is None and not deploy_log.exists()
    assert "Error: the user declined" in observations(v, free[2])


@variants(ALL)
def test_dry_run_runs_no_side_effect(v, toolbox, deploy_log):
    def approve(tool, arguments):
        raise AssertionError("a dry run asks nobody")

    result, free = run(v, [v.call("Deploy", {"instance_id": INSTANCE, "version": "v2"}), v.answer("已部署。")],
                       toolbox, question=f"部署 v2 到 {INSTANCE}", approve=approve, dry_run=True)
    # the model's "已部署。" has no result behind it: the user reads what would have run instead
    assert (result.stopped, result.answer) == (
        "answer", f"试运行：没有真正执行任何工具。会执行的调用：Deploy（instance_id：{INSTANCE}，version：v2）。")
    [record] = result.tool_calls
    # what the model reads is in the user's language: it answers in the language it read last
    assert (record.status, record.error, record.result) == ("dry_run", None, dry_run_result("zh"))
    assert "没有真正执行" in record.result and not deploy_log.exists()
    assert dry_run_result("zh") in observations(v, free[1])


@variants(ALL)
def test_a_dry_run_answer_names_every_call_that_would_have_run(v, toolbox, deploy_log):
    script = [v.call("DescribeInstance", {"instance_id": INSTANCE}),
              v.call("Deploy", {"instance_id": INSTANCE, "version": "v2"}),
              v.answer("The instance is running and v2 has been deployed.")]
    result, _ = run(v, script, toolbox, question=f"Check {INSTANCE} and deploy v2 to it", dry_run=True)
    assert [r.status for r in result.tool_calls] == ["dry_run", "dry_run"] and not deploy_log.exists()
    assert result.answer == (f"Dry run: no tool actually ran. It would have called DescribeInstance "
                             f"(instance_id: {INSTANCE}), then Deploy (instance_id: {INSTANCE}; version: v2).")


def test_a_dry_run_answer_reads_as_prose_in_the_users_language():
    from bench.scoring import answer_language_ok, internal_text

    nested = {"to": ["a@x.cn", "b@x.cn"], "meta": {"urgent": True}, "body": "长" * 100}
    zh = dry_run_answer([("send", nested), ("ping", {})], "zh")
    assert zh == (f"试运行：没有真正执行任何工具。会执行的调用：send（to：a@x.cn, b@x.cn，meta：urgent: true，"
                  f"body：{'长' * 79}…）；ping（无参数）。")
    en = dry_run_answer([("send", nested)], "en")
    assert en.startswith("Dry run: no tool actually ran. It would have called send (to: a@x.cn, b@x.cn; ")
    # no argument JSON, and the prose is in the user's language
    assert not internal_text(zh) and not internal_text(en)
    assert answer_language_ok(zh, "zh") and answer_language_ok(en, "en")


# --- the endpoint fails --------------------------------------------------------------------------

@variants([NATIVE_OTHER, NATIVE_FC, ROLEPLAY, ROLEPLAY_FC])
def test_server_down(v, toolbox):
    api_base = f"http://127.0.0.1:{closed_port()}/v1"
    result = make_engine(v, api_base, toolbox).run(QUESTION)
    assert result.stopped == "error" and result.tool_calls == [] and result.answer == ""
    assert "\n" not in result.error  # one line
    assert result.error == f"cannot reach the LLM endpoint {api_base} (connection refused: is the server running?)"


# One retry costs openai's ~0.5 s back-off, so the retried case runs once per client (native's
# LLMClient; roleplay's two request paths, chat and chat_with_functions).
@pytest.mark.parametrize("v,max_retries", [(x, 0) for x in ALL] + [(x, 1) for x in (NATIVE_LLAMACPP, ROLEPLAY, ROLEPLAY_FC)],
                         ids=[f"{ids(x)}-retries{r}" for x, r in [(x, 0) for x in ALL] +
                              [(x, 1) for x in (NATIVE_LLAMACPP, ROLEPLAY, ROLEPLAY_FC)]], indirect=["v"])
def test_http_500_is_retried_max_retries_times(v, toolbox, max_retries):
    with ScriptedServer([{"status": 500, "message": "model crashed"}] * 5, owned_by=v.server) as server:
        result = make_engine(v, server.api_base, toolbox, max_retries=max_retries).run(QUESTION)
        assert len(server.chat_requests()) == 1 + max_retries
    assert (result.stopped, result.turns) == ("error", 1)
    assert result.error == "the LLM endpoint answered HTTP 500: model crashed"


@variants([NATIVE_LLAMACPP, ROLEPLAY])
def test_slow_server_times_out(v, toolbox):
    import openai.resources  # noqa: F401  the first request imports it (~1 s on a loaded machine): not what is timed

    # the reply comes after 5 s: a run that ends well before has stopped at the 1 s timeout
    with ScriptedServer([{"content": ANSWER, "delay": 5}], owned_by=v.server) as server:
        server.httpd.handle_error = lambda *args: None  # its late reply finds the connection closed
        result = make_engine(v, server.api_base, toolbox, timeout=1, events=Recorder(streams=True)).run(QUESTION)
    assert result.stopped == "error" and result.timings.total_s < 4
    assert result.error == f"no answer from {server.api_base} within 1 s (llm_config.timeout)"


# --- garbage from the model ----------------------------------------------------------------------

GARBAGE = {
    "empty": "",
    "noise": "ﾟ･✿ヾ╲(｡◕‿◕｡)╱✿･ﾟ }}]] {{ \x07 null",
    "truncated-json": f'Action: RenewInstance\nAction Input: {{"instance_id": "{INSTANCE}", "period": ',
    "array-args": "Action: RenewInstance\nAction Input: [1, 2, 3]",
    "no-name": 'Action:\nAction Input: {"a": 1}',
    "bad-tool-json": '```json\n{"name": 42, "arguments": ]\n```',
    "tool-call-tag": '<tool_call>{"name": "RenewInstance", "arguments": "{oops"}</tool_call>',
}


# Every garbage text through the ReAct parsers; in function-calling mode the text is content, which
# the native engine still scans for calls (fenced JSON, <tool_call>) and RolePlay takes as the answer.
# One engine and server per variant (a question each), to keep this fast.
@variants(ALL)
def test_garbage_output_never_raises(v, toolbox):
    texts = GARBAGE if v.mode == "react" else {k: GARBAGE[k] for k in ("truncated-json", "bad-tool-json", "tool-call-tag")}
    with ScriptedServer([], owned_by=v.server) as server:
        engine = make_engine(v, server.api_base, toolbox)
        for name, text in texts.items():
            server.script[:] = [text] * 12  # enough for any number of requests
            result = engine.run(QUESTION)
            assert isinstance(result, RunResult), name
            assert result.error is None, (name, result.error)
            assert result.stopped in ("answer", "max_turns") and 1 <= result.turns <= 3, name
            assert isinstance(result.answer, str), name
            assert all(r.error and r.result is None for r in result.tool_calls), name  # nothing ran on garbage


@variants([NATIVE_FC, ROLEPLAY_FC])
def test_garbage_function_call_arguments(v, toolbox):
    script = [{"tool_calls": [{"name": "RenewInstance", "arguments": '{"instance_id": "i-rj9'}]}, ANSWER]
    result, free = run(v, script, toolbox)
    assert (result.stopped, result.answer, result.error) == ("answer", ANSWER, None)
    [record] = result.tool_calls
    assert record.result is None and record.error.startswith("invalid arguments for RenewInstance: ")
    assert f"Error: {record.error}" in observations(v, free[1])


# --- streaming -----------------------------------------------------------------------------------

@variants(ALL)
def test_streaming_sends_text_deltas(v, toolbox):
    events = Recorder(streams=True)
    call, answer = v.call("RenewInstance", RENEW_ARGS), v.answer(ANSWER)
    result, free = run(v, [call, answer], toolbox, events=events)
    assert (result.stopped, result.answer) == ("answer", ANSWER)
    assert all(r["stream"] is True for r in free)
    if v.mode == "fc":
        streamed = answer  # the call itself comes as tool_call deltas, not text
    else:  # valid free arguments are streamed with the call (only invalid ones are rewritten)
        streamed = call + answer
    assert "".join(events.deltas) == streamed
    assert len(events.deltas) > 3  # several deltas, not one block at the end


@variants(ALL)
def test_a_dry_runs_made_up_answer_is_not_streamed_either(v, toolbox):
    events = Recorder(streams=True)
    call = v.call("RenewInstance", RENEW_ARGS)
    result, _ = run(v, [call, v.answer("已续费22个月。")], toolbox, events=events, dry_run=True)
    assert result.answer.startswith("试运行：") and "已续费" not in result.answer
    # the call is shown as the model writes it; the words after the dry-run note are not
    assert "".join(events.deltas) == ("" if v.mode == "fc" else call)


# --- a reply that falls into a loop --------------------------------------------------------------

ROUND = "It was the first time that citizens had the right to take part in the government. "
FOUNDED = "The Athenian Assembly was founded in 508 BCE. "


@variants(ALL)
@pytest.mark.parametrize("streams", [True, False], ids=["shown", "not-shown"])
def test_an_answer_that_falls_into_a_loop_is_stopped_there_and_cut_after_its_first_round(v, toolbox, streams):
    """The bundled 1.5B wrote a sentence like ROUND until max_tokens (BFCL irrelevance_171: 22 s).
    The stream is closed where the loop shows, shown on a terminal or not."""
    looping = FOUNDED + ROUND * 60
    with ScriptedServer([{"content": v.answer(looping), "pace": 0.002}], owned_by=v.server) as server:
        result = make_engine(v, server.api_base, toolbox, events=Recorder(streams=streams)).run(
            "Who made the laws in ancient Athens?")
        [sent] = server.wait_hung_up(1)
    assert (result.stopped, result.answer) == ("answer", FOUNDED + ROUND.strip())
    assert sent < len(looping) // 4  # the client closed the stream after a few rounds
    assert ROUND * 2 not in result.trace  # memory keeps the answer as the user read it
    assert result.usage.uncounted_requests == 1  # the stopped stream sent no usage: not counted as 0


@variants(ALL)
def test_an_answer_that_counts_on_and_on_is_stopped_and_kept_to_its_last_whole_round(v, toolbox):
    """BFCL irrelevance_149 counted `"Pantone 270", "Pantone 271", …` until max_tokens."""
    counting = FOUNDED + "".join(f"In {n} BCE the Assembly met again. " for n in range(500, 100, -1))
    with ScriptedServer([{"content": v.answer(counting), "pace": 0.002}], owned_by=v.server) as server:
        result = make_engine(v, server.api_base, toolbox).run("Who made the laws in ancient Athens?")
        [sent] = server.wait_hung_up(1)
    assert counting.startswith(result.answer) and result.answer.endswith("met again.")
    assert 16 <= result.answer.count("the Assembly met again") < 40 and sent < len(counting) // 4


# BFCL irrelevance_129 wrote `{"traits": [0.3, 0.2, 0.4, 0.1, 0.2, 0.3, 0.1, 0.2, 0.3, …` to max_tokens;
# irrelevance_149 counted `"Pantone 270", "Pantone 271", …` to max_tokens, three times.
LOOPING_ARGUMENTS = {"repeating": "1, 2, 3, " * 200,
                     "counting": ", ".join(f'"month {n}"' for n in range(1, 400))}


@variants(ALL)
@pytest.mark.parametrize("loop", LOOPING_ARGUMENTS)
def test_arguments_that_fall_into_a_loop_are_stopped_and_the_call_does_not_run(v, toolbox, deploy_log, loop):
    looping = '{"instance_id": "' + INSTANCE + '", "period": [' + LOOPING_ARGUMENTS[loop]
    call = v.call("RenewInstance", looping)
    call = {**call, "pace": 0.002} if v.mode == "fc" else {"content": call, "pace": 0.002, "constrained": looping}
    script = [call, v.answer("参数有误，没有续费。")]
    with ScriptedServer(script, owned_by=v.server) as server:
        result = make_engine(v, server.api_base, toolbox).run(QUESTION)
        # native: the free arguments, then the arguments asked for again under the schema
        hung_up = server.wait_hung_up(2 if v.prefill else 1)
    assert result.answer == "参数有误，没有续费。"
    assert not deploy_log.exists() and all(r.status != "ok" for r in result.tool_calls)
    assert hung_up and all(sent < len(looping) // 4 for sent in hung_up)
    assert result.usage.uncounted_requests == len(hung_up)
