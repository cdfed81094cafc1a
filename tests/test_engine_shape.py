"""One shape for the engines (issue 15): both are built alike, keep their per-question
bookkeeping in one Question, end alike at the turn limit, and the endpoint is probed once."""
from __future__ import annotations

import inspect

import pytest

from localagent.engines.factory import create_engine, engine_named
from localagent.config import AgentConfig, Config, LLMConfig
from localagent.engines.base import Engine, Events
from localagent.tools import Tool, Toolbox
from scripted_server import ScriptedServer

ECHO = Tool("Echo", "Say it back.", {"type": "object", "properties": {"text": {"type": "string"}},
                                     "required": ["text"]}, run=lambda args: args["text"])


def config(api_base: str, engine: str, max_turns: int = 2) -> Config:
    return Config(llm_config=LLMConfig(model="scripted", api_base=api_base, max_retries=0),
                  agent=AgentConfig(engine=engine, max_turns=max_turns, grounding=False))


@pytest.mark.parametrize("engine", ["native", "roleplay"])
def test_both_engines_are_built_with_the_engine_protocols_constructor(engine, modelscope_loaded):
    def shape(cls) -> list:
        return [(p.name, p.kind, p.default, p.annotation) for p in inspect.signature(cls.__init__).parameters.values()]

    assert shape(engine_named(engine)) == shape(Engine)
    for name in ("run", "system_prompt"):
        assert callable(getattr(engine_named(engine), name))


@pytest.mark.parametrize("engine", ["native", "roleplay"])
def test_both_engines_end_alike_at_the_turn_limit(engine, modelscope_loaded):
    call = 'Action: Echo\nAction Input: {"text": "once more"}'
    turns: list[int] = []

    class Turns(Events):
        def on_turn(self, turn: int) -> None:
            turns.append(turn)

    with ScriptedServer([call, call, call], owned_by="other") as server:
        result = create_engine(config(server.api_base, engine), server.api_base, Toolbox([ECHO]),
                               events=Turns()).run("echo it")
    assert (result.stopped, result.turns, turns) == ("max_turns", 2, [1, 2])
    # the calls that ran, not the last call's internal refusal ("Error: not executed again: …")
    assert result.answer == ("I stopped after 2 turns without a final answer. Calls that ran: Echo (text: once more). "
                             "The last result: once more")


def test_the_endpoint_is_probed_once_per_process_whatever_the_engines():
    with ScriptedServer(["a", "b"], owned_by="other") as server:
        first = create_engine(config(server.api_base, "native"), server.api_base, Toolbox([ECHO]))
        second = create_engine(config(server.api_base, "native"), server.api_base, Toolbox([ECHO]))
        assert [first.run("q1").answer, second.run("q2").answer] == ["a", "b"]
        gets = [g for g in server.gets if g.endswith("/models")]
    assert len(gets) == 1, server.gets
