"""The names of the values the agent asks for, put into Chinese by the model (translation.py), and
how the agent's question uses them (replies.py). The client talks to a real HTTP server on 127.0.0.1."""
from __future__ import annotations

import pytest

from localagent.config import LLMConfig
from localagent.llm import LLMClient
from localagent.replies import value_asked_for
from localagent.translation import name_in_chinese
from scripted_server import ScriptedServer

ASK = "把下面这个参数翻译成简短的中文名称，只写名称：\n"


def client(server: ScriptedServer) -> LLMClient:
    return LLMClient(LLMConfig(model="scripted", api_base=server.api_base, timeout=5, max_retries=0), server.api_base)


@pytest.mark.parametrize("reply, chinese", [
    ("源时区", "源时区"),
    ("“源时区”。", "源时区"),  # quotes and a full stop are not part of the name
    ("IANA时区名称", "IANA时区名称"),
    ("source timezone", None),  # no Chinese: the tool's own words stay
    ({"content": "源时区是指一个事件发生时所在的时区，通常用于", "finish_reason": "length"}, None),  # an explanation, cut off
    ({"status": 500, "message": "out of memory"}, None),  # the question must still go out
])
def test_a_name_is_put_into_chinese_by_the_model(reply, chinese):
    with ScriptedServer([reply]) as server:
        assert name_in_chinese(client(server).chat, "source_timezone", "source IANA timezone name") == chinese
    [request] = server.chat_requests()
    assert request["messages"] == [{"role": "user", "content": ASK + "source_timezone（source IANA timezone name）"}]
    assert request["max_tokens"] == 24 and request["stop"] == ["\n"]


def test_a_name_without_a_description_is_shown_as_it_is():
    with ScriptedServer(["开始时间"]) as server:
        assert name_in_chinese(client(server).chat, "start_time", "start time") == "开始时间"
    assert server.chat_requests()[0]["messages"][0]["content"] == ASK + "start_time"


KIND = {"type": "string", "enum": ["electricity", "water", "gas"], "description": "Which bill to pay"}


def test_a_chinese_user_reads_the_names_in_chinese_and_the_options_as_the_tool_spells_them():
    asked: list[tuple[str, str]] = []

    def to_chinese(name: str, words: str) -> str:
        asked.append((name, words))
        return "账单类型"

    assert value_asked_for("kind", KIND, "zh", to_chinese) == "账单类型（electricity、water或gas）"
    assert value_asked_for("kind", KIND, "en", to_chinese) == "which bill to pay (electricity, water or gas)"
    assert value_asked_for("kind", {**KIND, "description": "缴费类型"}, "zh", to_chinese) == "缴费类型（electricity、water或gas）"
    assert asked == [("kind", "which bill to pay")]  # once: not for English users nor for Chinese words


def test_without_a_translation_the_tool_s_own_words_stay():
    assert value_asked_for("source_timezone", {"type": "string"}, "zh", lambda name, words: None) == "source timezone"
