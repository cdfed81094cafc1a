"""What the agent itself says to the user, in the user's language (Chinese or English).

When a call is refused because the user did not give a value, the agent asks for it itself: a
small model that reads an internal refusal tends to repeat it to the user, or to guess again.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable, Iterable, Literal

Language = Literal["zh", "en"]
# A value's name, its words in the tool's language and the user's language -> its name in the
# user's language, or None
Translate = Callable[[str, str, Language], "str | None"]

_HAN = re.compile(r"[\u3400-\u9fff]")
_LATIN_WORD = re.compile(r"\b[A-Za-z]{2,}\b")
# Where a parameter description stops naming the thing: "ECS实例ID (以 i- 开头)", "city, e.g. Paris"
_BRACKETED = re.compile(r"[(（]([^)）]+)[)）]")
_GLOSS_END = re.compile(r"\s*(?:[(（,，;；。]|\.\s|\be\.g\.|\bsuch as\b|例如|比如)")
# How a value is written, which names nothing: "YYYY-MM-DD", "start time HH:MM", "in ISO 8601"
_FORMAT = re.compile(r"\s*(?:\b(?:in|as)\s+)?(?<![A-Za-z])(?:YYYY|HH|hh:mm|ISO[ -]?8601)[^\s,，;；]*")


def language_of(text: str, default: Language = "en") -> Language:
    """zh when the text has Chinese characters, en when it has English words, else `default`
    (a reply that is only an id keeps the conversation's language)."""
    if _HAN.search(text):
        return "zh"
    return "en" if len(_LATIN_WORD.findall(text)) >= 2 else default


# An aside in brackets: the options a question lists ("size (中杯, 大杯 or 超大杯)"), a dry-run note.
# A quotation: a title or a name as the user or a tool wrote it ("the song "晴天"", 《Hamlet》).
_ASIDE = re.compile(r"\([^()]*\)|（[^（）]*）|\"[^\"]*\"|“[^”]*”|「[^」]*」|《[^》]*》")


def main_language(text: str, default: Language = "en") -> Language:
    """The language most of a text's prose is in, a Han character against an English word: its
    asides in brackets and its quotations left out (unless nothing else is left), which are in
    the tool's language, the user's or the agent's own; `default` for a text in neither (an id)."""
    prose = _ASIDE.sub(" ", text or "")
    if not re.search(r"[^\W\d_]", prose):
        prose = text or ""
    han, words = len(_HAN.findall(prose)), len(_LATIN_WORD.findall(prose))
    if not han:
        return language_of(prose, default)
    return "zh" if han >= words else "en"


def written_in(answer: str, language: Language) -> bool:
    """Whether an answer is in `language` (`main_language`): "I need to know the title of the song
    "晴天"…" is no answer in Chinese; an answer of only digits and symbols is in any."""
    if not re.search(r"[^\W\d_]", answer or ""):
        return bool((answer or "").strip())
    return main_language(answer, language) == language


def conversation_language(question: str, history: list[dict[str, Any]]) -> Language:
    """The user's language: the question's (`main_language`: "How do you say 谢谢 in English?" is
    English), else, for a question in neither (an id), the last one's."""
    earlier: Language = "en"
    for message in history:
        if message.get("role") == "user":
            earlier = main_language(str(message.get("content") or ""), earlier)
    return main_language(question, earlier)


def in_language(question: str, language: Language) -> str:
    """The question as the model reads it: with a note on the answer's language, which small models
    otherwise take from the instruction or from the tool results (English JSON) rather than the user."""
    note = "（请用中文回答）" if language == "zh" else "(Please answer in English.)"
    return f"{question}\n{note}"


def value_name(name: str, schema: dict[str, Any], language: Language | None = None) -> str:
    """A parameter in plain words: the start of its description (when it is in the user's
    language), else its name without underscores."""
    return gloss(schema, language) or words_of(name)


def gloss(schema: dict[str, Any], language: Language | None = None) -> str:
    """The words a parameter's description names it by, in `language` (any when None), or "". They
    are the description's start, less how the value is written: "出发日期 YYYY-MM-DD" is 出发日期,
    "YYYY-MM-DD" nothing. Where the start is in another language, a part in brackets may give them:
    "续费时长 (renewal period in months)". A part in brackets after a start in the user's language,
    or after a format alone, is a remark: "HH:MM (optional, first free slot if empty)"."""
    description = str(schema.get("description") or "").strip()
    start, *asides = [_FORMAT.sub("", _GLOSS_END.split(part, maxsplit=1)[0]).strip().rstrip(".:：")
                      for part in [description, *_BRACKETED.findall(description)]]
    if not start:
        return ""
    for words in [start, *asides]:
        if (not language or bool(_HAN.search(words)) == (language == "zh")) and 2 <= len(words) <= 40:
            return words[0].lower() + words[1:] if words[1:2].islower() else words
    return ""


def words_of(name: str) -> str:
    """A parameter's name as words: "start_time", "startTime" -> "start time"."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])|_+", " ", name).strip().lower()


def value_asked_for(name: str, schema: dict[str, Any], language: Language, translate: Translate | None = None) -> str:
    """A missing value as the agent asks for it: in plain words, with the options when the tool
    takes one of a few ("kind (电费, 水费 or 燃气费)"), so the user can answer with one of them.
    The user reads the words in their own language where the tool has none (`translate`): a Chinese
    user "源时区" for `source_timezone`, an English one "destination" for `to` (到达站). The options
    stay as the tool spells them, since the user answers with one."""
    words = gloss(schema, language)
    if not words and translate:
        other = gloss(schema, "en" if language == "zh" else "zh")
        if other or language == "zh":  # a name alone is English words already
            words = translate(name, other or words_of(name), language) or ""
    words = words or words_of(name)
    options = [str(o) for o in schema.get("enum", [])]
    if not 2 <= len(options) <= 8:
        return words
    listed = _join(options, language, "or")
    return f"{words}（{listed}）" if language == "zh" else f"{words} ({listed})"


def _join(items: list[str], lang: Language, last: str = "and") -> str:
    """Items as a list in a sentence, the last after "and" or "or" (in Chinese: 、 or 或)."""
    if len(items) == 1:
        return items[0]
    if lang == "zh":
        return "、".join(items[:-1]) + ("或" if last == "or" else "、") + items[-1]
    return ", ".join(items[:-1]) + f" {last} " + items[-1]


def ask_for(names: list[str], lang: Language) -> str:
    """The question that asks the user for the values a call needs."""
    if lang == "zh":
        return f"要继续，我还需要您告诉我：{_join(names, lang)}。请提供后我再为您处理。"
    return f"To do that I need {_join(names, lang)} from you. Could you tell me?"


def dry_run_note(lang: Language) -> str:
    """What a call returns in a dry run, as the model reads it: in the user's language, since a
    small model answers in the language of what it read last, often repeating it ("The tool did
    not run and returned no data." to "鲁迅是哪里人？"). In English, "the call was recorded" made
    the bundled 1.5B claim more results ("The email was sent", bench/README.md, "Dry runs")."""
    return ("试运行：调用已记录，工具没有真正执行，所以没有结果。" if lang == "zh"
            else "a dry run: the tool did not run and returned no data")


def dry_run_result(lang: Language) -> str:
    """What a call returns in a dry run: the note, as JSON like a tool's result."""
    return json.dumps({"dry_run": True, "note": dry_run_note(lang)}, ensure_ascii=False)


def dry_run_answer(calls: list[tuple[str, dict[str, Any]]], lang: Language) -> str:
    """The answer to a question whose calls only would have run (`--dry-run`): which calls, with
    which values, and that nothing ran. The agent's own words, not the model's: after a dry run the
    bundled 1.5B still wrote "The TV volume was set to 30." or "37.77777777777778℃" as if a tool had
    returned it (bench/README.md, "Dry runs")."""
    if lang == "zh":
        return f"试运行：没有真正执行任何工具。会执行的调用：{_calls(calls, lang)}。"
    return f"Dry run: no tool actually ran. It would have called {_calls(calls, lang)}."


def turn_limit_answer(turns: int, ran: list[tuple[str, dict[str, Any]]], last_result: str | None,
                      lang: Language) -> str:
    """What the user reads when the model was still calling tools at the turn limit: that the agent
    stopped, which calls ran and the last result a tool returned; not the last call's observation,
    which is often an internal error ("Error: not executed again: this call repeats call 1 …")."""
    if lang == "zh":
        parts = [f"我在 {turns} 轮后停了下来，还没有得到最终回答。", ran and f"已执行的调用：{_calls(ran, lang)}。",
                 last_result and f"最后的结果：{last_result}"]
        return "".join(p for p in parts if p)
    parts = [f"I stopped after {turns} turn{'s' if turns != 1 else ''} without a final answer.",
             ran and f"Calls that ran: {_calls(ran, lang)}.", last_result and f"The last result: {last_result}"]
    return " ".join(p for p in parts if p)


def _calls(calls: list[tuple[str, dict[str, Any]]], lang: Language) -> str:
    described = [f"{name}{_values(arguments, lang)}" for name, arguments in calls]
    return "；".join(described) if lang == "zh" else ", then ".join(described)


def _values(arguments: dict[str, Any], lang: Language) -> str:
    """A call's arguments in plain words, in brackets: "（device：speaker，level：40）"."""
    def plain(value: Any) -> str:
        if isinstance(value, dict):
            return ", ".join(f"{k}: {plain(v)}" for k, v in value.items())
        if isinstance(value, list):
            return ", ".join(map(plain, value))
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 80 else text[:79] + "…"

    if lang == "zh":
        return f"（{'，'.join(f'{k}：{plain(v)}' for k, v in arguments.items()) or '无参数'}）"
    return f" ({'; '.join(f'{k}: {plain(v)}' for k, v in arguments.items()) or 'no arguments'})"


def shows_a_call(answer: str, tool_names: Iterable[str]) -> bool:
    """Whether the answer writes out a call of one of the tools instead of answering:
    `get_closest_airport {"location": …}`, `psychology_color_representation({"color": …})`. A tool's
    name followed by words in brackets ("search (online)") is prose."""
    return any(re.search(rf"(?<![\w.]){re.escape(name)}\s*(?:\(\s*(?:[{{\"')]|\w+\s*=)|\{{\s*\")", answer)
               for name in tool_names)


def cannot_do(language: Language) -> str:
    """What the agent says instead of a model's answer that only repeats an internal error."""
    if language == "zh":
        return "抱歉，我现有的工具做不到这件事。"
    return "Sorry, I can't do that with the tools I have."
