"""The names of the values the agent asks for, put into Chinese by the model when a tool gives them
only in English.

The agent writes its question for a missing value itself (replies.py), naming the value by its
description or, failing that, by its name. Most tools, MCP servers above all, are described in
English only, so a Chinese user read "要继续，我还需要您告诉我：source timezone、target timezone。".
Asked for a short Chinese name of the parameter, with the start of its description, the bundled
1.5B writes 源时区 and 目标时区, 开始时间 for `start_time` ("HH:MM"), 日期 for `date` ("the day"; the
description alone gave 一天): bench/README.md, "Names asked for in the user's language". One short
request per name, made only when the agent asks.
"""
from __future__ import annotations

from typing import Any, Callable

from .errors import EndpointError
from .llm import Reply
from .replies import language_of, value_name, words_of
from .tools import Tool

Chat = Callable[..., Reply]  # LLMClient.chat, or an engine's timed wrapper of it
_QUOTES = "\"'“”‘’「」『』《》`"


def name_in_chinese(chat: Chat, name: str, words: str, flag_of: str = "") -> str | None:
    """A parameter's short name in Chinese as the model writes it, from its name and its English
    words (the start of its description); for an on/off parameter, with `flag_of`, the tool's name
    and description (a flag's name alone is ambiguous: `shuffle` of a music player is 随机播放, alone 洗牌);
    None when it writes no Chinese, too much, or the endpoint fails: the agent then names the value
    as the tool does, since a question partly in English beats no question."""
    shown = name if words == words_of(name) else f"{name}（{words}）"
    request = (f"工具 {flag_of}有一个开关参数：{shown}。把这个参数翻译成简短的中文名称，只写名称：" if flag_of
               else f"把下面这个参数翻译成简短的中文名称，只写名称：\n{shown}")
    try:
        reply = chat([{"role": "user", "content": request}], max_tokens=24, stop=["\n"])
    except EndpointError:
        return None
    chinese = reply.content.strip().strip(_QUOTES + "。. ")
    if reply.finish_reason == "length" or language_of(chinese) != "zh":
        return None
    return chinese


class FlagNames:
    """The Chinese names of flags (optional booleans) as the model writes them with their tool in
    view (`name_in_chinese` with `flag_of`), for the grounding of a flag a Chinese user switched
    on (`Question.flag_said`). Asked once per tool and flag, the same for every question; a name
    not written is asked again next time, since an endpoint that failed may answer then."""

    def __init__(self) -> None:
        self._names: dict[tuple[str, str], str] = {}

    def get(self, chat: Chat, tool: Tool, name: str, spec: dict[str, Any]) -> str | None:
        if (tool.name, name) not in self._names:
            chinese = name_in_chinese(chat, name, value_name(name, spec, "en"), flag_of=f"{tool.name}（{tool.description}）")
            if chinese is None:
                return None
            self._names[tool.name, name] = chinese
        return self._names[tool.name, name]
