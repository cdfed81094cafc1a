"""Memory as records (issue 15): earlier exchanges keep their tool calls, grounding takes what
earlier tools returned from those records (in function-calling mode too, where there is no ReAct
trace to read back), and the prompt's history is rendered from them as before."""
from __future__ import annotations

import pytest

from localagent.config import AgentConfig, Config, LLMConfig
from localagent.engines.base import Exchange, RunResult, ToolCallRecord
from localagent.engines.execution import history_evidence
from localagent.engines.factory import create_engine
from localagent.memory import Conversation, exchanges_of
from localagent.tools import Tool, Toolbox
from localagent.transcript import Transcript, load_exchanges
from scripted_server import ScriptedServer

LISTED = "i-bp1listed0id"
LIST = Tool("ListInstances", "List my instances.", {"type": "object", "properties": {}},
            run=lambda args: f'[{{"id": "{LISTED}"}}]')
DEPLOY = Tool("Deploy", "Deploy a version to an instance.", {
    "type": "object", "properties": {"instance_id": {"type": "string"}, "version": {"type": "string"}},
    "required": ["instance_id", "version"]}, run=lambda args: f"deployed {args['version']}")
DEPLOY_CALL = {"tool_calls": [{"name": "Deploy", "arguments": {"instance_id": LISTED, "version": "v2"}}]}


def fc_engine(api_base: str):
    config = Config(llm_config=LLMConfig(model="scripted", api_base=api_base, max_retries=0, is_function_call=True),
                    agent=AgentConfig(max_turns=3))
    return create_engine(config, api_base, Toolbox([LIST, DEPLOY]))


def test_an_id_an_earlier_tool_returned_counts_as_given_in_function_calling_mode():
    script = [{"tool_calls": [{"name": "ListInstances", "arguments": {}}]}, "是这台。", DEPLOY_CALL, "已部署。"]
    with ScriptedServer(script, owned_by="other") as server:
        chat = Conversation(fc_engine(server.api_base))
        first = chat.ask("我的实例是哪台？")
        second = chat.ask("把 v2 部署到它上面")
        sent = server.chat_requests()[2]["messages"]
    assert first.trace == "" and [r.status for r in second.tool_calls] == ["ran"]
    # the prompt's history is rendered as before: the question and the bare answer
    assert [m["content"] for m in sent[1:3]] == ["我的实例是哪台？", "是这台。"]
    assert chat.exchanges[0].tool_calls[0].result == f'[{{"id": "{LISTED}"}}]'


def test_a_resumed_transcript_keeps_what_its_tools_returned(tmp_path):
    path = tmp_path / "t.jsonl"
    listed = ToolCallRecord("ListInstances", {}, result=f'[{{"id": "{LISTED}"}}]')
    Transcript(path).add("我的实例是哪台？", RunResult(answer="是这台。", tool_calls=[listed]))
    [exchange] = load_exchanges(path)
    assert exchange == Exchange("我的实例是哪台？", "是这台。", [listed])
    with ScriptedServer([DEPLOY_CALL, "已部署。"], owned_by="other") as server:
        result = Conversation(fc_engine(server.api_base), load_exchanges(path)).ask("把 v2 部署到它上面")
    assert [r.status for r in result.tool_calls] == ["ran"]


def test_evidence_comes_from_records_not_from_the_text():
    refused = ToolCallRecord("Deploy", {"instance_id": "i-made0up"}, status="refused", error="not executed")
    ran = ToolCallRecord("ListInstances", {}, result="i-real0one")
    text = "Action: Deploy\nAction Input: {}\nObservation: i-only0in0text\nFinal Answer: ok"
    assert history_evidence([Exchange("q", text, [refused, ran])]) == ["q", "i-real0one"]
    # an exchange known only as text (a /save file) has its observations read back
    assert history_evidence(exchanges_of([{"role": "user", "content": "q"},
                                          {"role": "assistant", "content": text}])) == ["q", "i-only0in0text"]


@pytest.mark.parametrize("max_exchanges", [0, 1])
def test_memory_renders_and_forgets_whole_exchanges(max_exchanges):
    with ScriptedServer(["a1", "a2"], owned_by="other") as server:
        chat = Conversation(fc_engine(server.api_base), [{"role": "user", "content": "q0"},
                                                         {"role": "assistant", "content": "a0"}], max_exchanges)
        chat.ask("q1")
        chat.ask("q2")
    contents = [m["content"] for m in chat.history]
    assert contents == (["q0", "a0", "q1", "a1", "q2", "a2"] if not max_exchanges else ["q2", "a2"])
