"""The names of the values the agent asks for, put into the user's language by the model when a
tool gives them only in the other one.

The agent writes its question for a missing value itself (replies.py), naming the value by its
description or, failing that, by its name. Most tools, MCP servers above all, are described in
English only, so a Chinese user read "要继续，我还需要您告诉我：source timezone、target timezone。".
Asked for a short Chinese name of the parameter, with the start of its description, the bundled
1.5B writes 源时区 and 目标时区, 开始时间 for `start_time` ("HH:MM"), 日期 for `date` ("the day"; the
description alone gave 一天). A tool described in Chinese gave an English user "To do that I need
to from you." for `to` (到达站); translated, 到达站 is "Destination". bench/README.md, "Names asked
for in the user's language". One short request per name, made only when the agent asks.

A name depends on the model and the parameter, not on the question: `ParameterNames` asks for it
once and, with a server of ours, whose model its key tells, keeps it on disk for the next command,
where it would cost a request with a prompt of its own (0.7 to 1.4 s here).
"""
from __future__ import annotations

import contextlib
import json
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

from .errors import EndpointError
from .llm import Reply
from .replaced import replaced
from .replies import Language, language_of, value_name, words_of
from .tools import Tool
from .weights import cache_dir

Chat = Callable[..., Reply]  # LLMClient.chat, or an engine's timed wrapper of it
_QUOTES = "\"'“”‘’「」『』《》`"
_LATIN = re.compile(r"[A-Za-z]{2}")
_WORDS = 6  # an English name longer than this is an explanation ('The short English name for "cinema" is …')
_TRAILING_ASIDE = re.compile(r"\s*(?:\([^()]*\)|（[^（）]*）)\s*$")


def name_in(language: Language, chat: Chat, name: str, words: str, flag_of: str = "") -> str | None:
    """A parameter's short name in `language` as the model writes it, from its name and its words
    in the other language (the start of its description); None when it writes none in that language,
    too much, or the endpoint fails: the agent then names the value as the tool does, since a
    question partly in the tool's language beats no question.
    - Into Chinese, from the name and the English words; for an on/off parameter, with `flag_of`,
      the tool's name and description (a flag's name alone is ambiguous: `shuffle` of a music player
      is 随机播放, alone 洗牌).
    - Into English, the Chinese words translated, the name after them: asked for a name, the
      bundled 1.5B wrote the parameter's name back (`count` for 张数, `slot` for 取件时段) and
      "Delivery Address" for 取件地址; asked for a translation, "Number of items", "Pick-up time",
      "Pick-up address", "Destination" for `to` (到达站); bench/README.md, "Names asked for in the
      user's language"."""
    shown = name if words == words_of(name) else f"{name}（{words}）"
    if language == "en":
        request = f"Translate into English; write only the translation:\n{words}（{name}）"
    elif flag_of:
        request = f"工具 {flag_of}有一个开关参数：{shown}。把这个参数翻译成简短的中文名称，只写名称："
    else:
        request = f"把下面这个参数翻译成简短的中文名称，只写名称：\n{shown}"
    try:
        reply = chat([{"role": "user", "content": request}], max_tokens=24, stop=["\n"])
    except EndpointError:
        return None
    written = _TRAILING_ASIDE.sub("", reply.content).strip().strip(_QUOTES + "。.?？ ")
    if language == "en":  # "The name of the cinema (cinema)", "Arrival Station": in a sentence, "name of the cinema"
        written = re.sub(r"\b[A-Z][a-z]+\b", lambda word: word[0].lower(), re.sub(r"^the\s+", "", written, flags=re.I))
    chinese = language_of(written) == "zh"  # any Han character
    in_language = chinese if language == "zh" else not chinese and _LATIN.search(written)
    if reply.finish_reason == "length" or not in_language or len(written.split()) > _WORDS:
        return None
    return written


def names_file(server_key: str) -> Path:
    """Where the names a server's model gave are kept (`ParameterNames`)."""
    return cache_dir() / "names" / f"{server_key}.json"


class ParameterNames:
    """Parameters' names in the user's language as the model writes them (`name_in`), asked once
    per parameter and kept for the engine's life; with a `file`, also for later commands. A name not
    written is asked again next time, since an endpoint that failed may answer then. The file is
    a cache: one that cannot be read is an empty one, one that cannot be written is left as it is."""

    def __init__(self, file: Path | None = None) -> None:
        self.file = file

    def get(self, chat: Chat, name: str, words: str, language: Language = "zh", flag_of: str = "") -> str | None:
        """The name for a value the agent asks for (`replies.Translate`, with `chat` bound) or,
        with `flag_of`, for a flag."""
        key = json.dumps([language, name, words, flag_of], ensure_ascii=False)
        known = self._known
        if key not in known:
            written = name_in(language, chat, name, words, flag_of)
            if written is None:
                return None
            known[key] = written
            self._keep(key, written)
        return known[key]

    def flag(self, chat: Chat, tool: Tool, name: str, spec: dict[str, Any]) -> str | None:
        """A flag's name with its tool in view, for the grounding of a flag a Chinese user switched
        on (`Question.flag_said`)."""
        return self.get(chat, name, value_name(name, spec, "en"), flag_of=f"{tool.name}（{tool.description}）")

    @cached_property
    def _known(self) -> dict[str, str]:
        """The names asked so far, starting from the file's (read on the first name asked)."""
        return self._read()

    def _read(self) -> dict[str, str]:
        try:
            names = json.loads(self.file.read_text(encoding="utf-8")) if self.file else {}
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in names.items() if isinstance(v, str)} if isinstance(names, dict) else {}

    def _keep(self, key: str, written: str) -> None:
        """Written whole and then renamed, over what another command may have added meanwhile."""
        if self.file is None:
            return
        names = {**self._read(), key: written}
        with contextlib.suppress(OSError):  # a full disk or a read-only cache: the name is kept for this engine only
            self.file.parent.mkdir(parents=True, exist_ok=True)
            with replaced(self.file) as file:
                file.write(json.dumps(names, ensure_ascii=False))
