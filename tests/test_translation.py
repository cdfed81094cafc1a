"""The names of the values the agent asks for, put into the user's language by the model (translation.py), and
how the agent's question uses them (replies.py). The client talks to a real HTTP server on 127.0.0.1."""
from __future__ import annotations

import functools

import pytest

from localagent.config import LLMConfig
from localagent.llm import LLMClient
from localagent.replies import value_asked_for
from localagent.translation import ParameterNames, name_in
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
        assert name_in("zh", client(server).chat, "source_timezone", "source IANA timezone name") == chinese
    [request] = server.chat_requests()
    assert request["messages"] == [{"role": "user", "content": ASK + "source_timezone（source IANA timezone name）"}]
    assert request["max_tokens"] == 24 and request["stop"] == ["\n"]


def test_a_name_without_a_description_is_shown_as_it_is():
    with ScriptedServer(["开始时间"]) as server:
        assert name_in("zh", client(server).chat, "start_time", "start time") == "开始时间"
    assert server.chat_requests()[0]["messages"][0]["content"] == ASK + "start_time"


ASK_EN = "Translate into English; write only the translation:\n"


@pytest.mark.parametrize("reply, english", [
    ("Destination", "destination"),
    ("Destination (to)", "destination"),  # the name it was shown is not part of it
    ("The arrival station.", "arrival station"),
    ("How many minutes?", "how many minutes"),
    ("Arrival Station", "arrival station"),
    ("ECS Instance ID", "ECS instance ID"),
    ("到达站", None),  # no English: the name stays
    ("36", None),
    ('The short English name for "to" is "destination".', None),  # an explanation
    ({"content": "The station where the train arrives, which", "finish_reason": "length"}, None),
    ({"status": 500, "message": "out of memory"}, None),
])
def test_a_name_is_put_into_english_by_translating_the_chinese_words(reply, english):
    with ScriptedServer([reply]) as server:
        assert name_in("en", client(server).chat, "to", "到达站") == english
    [request] = server.chat_requests()
    assert request["messages"] == [{"role": "user", "content": ASK_EN + "到达站（to）"}]


def test_an_english_user_reads_the_name_in_english_and_a_chinese_one_in_chinese(tmp_path):
    """The name is asked in the user's language, once for each."""
    to = {"type": "string", "description": "到达站"}
    with ScriptedServer(["Destination", "目的地"]) as server:
        names = ParameterNames(tmp_path / "names.json")
        translate = functools.partial(names.get, client(server).chat)
        assert value_asked_for("to", to, "en", translate) == "destination"
        assert value_asked_for("to", to, "zh", translate) == "到达站"  # the tool's own words: no request
        assert value_asked_for("to", {"type": "string"}, "zh", translate) == "目的地"
        assert value_asked_for("to", {"type": "string"}, "en", translate) == "to"  # a name is English already
        assert value_asked_for("to", to, "en", translate) == "destination"
    assert len(server.chat_requests()) == 2


def test_a_name_is_asked_once_and_kept_for_the_next_command(tmp_path):
    """A name depends on the model and the parameter, not on the question: with a file (a server of
    ours), the next command's engine finds it there instead of asking again."""
    file = tmp_path / "names" / "server.json"
    with ScriptedServer(["源时区", "目标时区"]) as server:
        chat = client(server).chat
        names = ParameterNames(file)
        assert names.get(chat, "source_timezone", "source IANA timezone name") == "源时区"
        assert names.get(chat, "source_timezone", "source IANA timezone name") == "源时区"  # this engine: no request
        later = ParameterNames(file)  # the next command
        assert later.get(chat, "source_timezone", "source IANA timezone name") == "源时区"
        assert later.get(chat, "target_timezone", "target IANA timezone name") == "目标时区"
        # a flag's name is asked with its tool in view: another name than the parameter's alone
        assert ParameterNames(file).get(chat, "source_timezone", "source IANA timezone name", flag_of="x") is None
    assert len(server.chat_requests()) == 3  # the third found no reply: the endpoint failed, nothing kept
    assert len(ParameterNames(file)._read()) == 2 and not list(file.parent.glob("*.partial*"))


@pytest.mark.parametrize("reply", ["source timezone", {"status": 500, "message": "out of memory"}])
def test_a_name_not_written_is_asked_again_next_time(tmp_path, reply):
    with ScriptedServer([reply, "源时区"]) as server:
        names = ParameterNames(tmp_path / "names.json")
        assert names.get(client(server).chat, "source_timezone", "source IANA timezone name") is None
        assert names.get(client(server).chat, "source_timezone", "source IANA timezone name") == "源时区"


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"x": 3}', None])
def test_a_file_that_cannot_be_read_or_written_is_no_error(tmp_path, content):
    """A broken file is an empty cache; one that cannot be written (here its directory is a file)
    leaves the name with this engine."""
    file = tmp_path / "names.json"
    if content is None:
        (tmp_path / "blocked").write_text("")
        file = tmp_path / "blocked" / "names.json"
    else:
        file.write_text(content)
    with ScriptedServer(["源时区"]) as server:
        names = ParameterNames(file)
        assert names.get(client(server).chat, "source_timezone", "source IANA timezone name") == "源时区"
        assert names.get(client(server).chat, "source_timezone", "source IANA timezone name") == "源时区"
    assert len(server.chat_requests()) == 1
    if content is not None:  # rewritten whole: the broken content is gone
        assert ParameterNames(file)._read() == names._known


KIND = {"type": "string", "enum": ["electricity", "water", "gas"], "description": "Which bill to pay"}


def test_a_chinese_user_reads_the_names_in_chinese_and_the_options_as_the_tool_spells_them():
    asked: list[tuple[str, str]] = []

    def to_chinese(name: str, words: str, language: str) -> str:
        asked.append((name, words))
        return "账单类型"

    assert value_asked_for("kind", KIND, "zh", to_chinese) == "账单类型（electricity、water或gas）"
    assert value_asked_for("kind", KIND, "en", to_chinese) == "which bill to pay (electricity, water or gas)"
    assert value_asked_for("kind", {**KIND, "description": "缴费类型"}, "zh", to_chinese) == "缴费类型（electricity、water或gas）"
    assert asked == [("kind", "which bill to pay")]  # once: not for English users nor for Chinese words


def test_without_a_translation_the_tool_s_own_words_stay():
    assert value_asked_for("source_timezone", {"type": "string"}, "zh", lambda name, words, language: None) == "source timezone"
