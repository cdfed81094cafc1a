"""Turning what a model wrote into tool calls, leniently.

Small local models write calls in many shapes; every one of these is recognised:
ReAct `Action:` / `Action Input:` lines (multi-line, fenced or JSON5 arguments, full-width
punctuation, trailing text), a fenced ```json {"name", "arguments"}``` block (what Qwen writes
through llama.cpp's `tools=`), `<tool_call>` tags, and a bare JSON object of that shape.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import json5

_FULL_WIDTH = str.maketrans({"：": ":", "，": ",", "｛": "{", "｝": "}", "“": '"', "”": '"',
                             "‘": "'", "’": "'", "【": "[", "】": "]", "（": "(", "）": ")"})
_ACTION = re.compile(r"^[ \t*]*Action[ \t*]*[:：][ \t*]*(?P<name>[^\n]*)", re.M | re.I)
_ACTION_INPUT = re.compile(r"Action[ \t]*Input[ \t*]*[:：][ \t]*", re.I)
_NEXT_STEP = re.compile(r"^[ \t*]*(?:Observation|Thought|Final[ \t]+Answer)[ \t*]*[:：]", re.M | re.I)
_NO_TOOL = {"none", "n/a", "na", "null", "no", "no tool", "无", "不需要"}  # "Action: None" + Final Answer
_ANSWER = re.compile(r"^[ \t*]*(?:Final[ \t]+)?Answer[ \t*]*[:：]", re.M | re.I)
_TOOL_CALL_TAG = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)
_QUOTE_CLOSE = {'"': '"', "'": "'", "“": "”"}
_FENCE = re.compile(r"```(?:json|json5|JSON)?\s*\n?(.*?)```", re.S)


@dataclass
class ParsedCall:
    name: str
    arguments: Any  # a dict when it parsed, else the raw text (reported back to the model)
    error: str | None = None
    id: str | None = None  # the server's tool_call id, in function-calling mode


@dataclass
class ParsedReply:
    calls: list[ParsedCall] = field(default_factory=list)
    answer: str = ""  # the text meant for the user, when there are no calls
    thought: str = ""  # text before the first call


def json_span(text: str, start: int = 0) -> tuple[int, int] | None:
    """The [begin, end) of the first balanced {...} or [...] at or after start, strings respected."""
    begin = next((i for i in range(start, len(text)) if text[i] in "{[｛"), None)
    if begin is None:
        return None
    depth, quote, escaped = 0, None, False
    for i in range(begin, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in _QUOTE_CLOSE:
            quote = _QUOTE_CLOSE[ch]
        elif ch in "{[｛":
            depth += 1
        elif ch in "}]｝":
            depth -= 1
            if depth == 0:
                return begin, i + 1
    return None


def loads_lenient(text: str) -> Any:
    """JSON, then JSON5, then JSON5 with full-width punctuation made ASCII."""
    try:
        return json5.loads(text)
    except ValueError:
        return json5.loads(text.translate(_FULL_WIDTH))


def _first_json(text: str) -> tuple[Any, int] | None:
    """The first JSON value in text that parses, with where it ends."""
    pos = 0
    while (span := json_span(text, pos)) is not None:
        try:
            return loads_lenient(text[span[0]:span[1]]), span[1]
        except ValueError:
            pos = span[0] + 1
    return None


def _all_json(text: str):
    """Every JSON value in text that parses, in order (a fenced block may hold several calls)."""
    pos = 0
    while (span := json_span(text, pos)) is not None:
        try:
            yield loads_lenient(text[span[0]:span[1]])
            pos = span[1]
        except ValueError:
            pos = span[0] + 1


def _calls_from_json(value: Any) -> list[ParsedCall]:
    """{"name", "arguments"} objects (or a list of them), as in Qwen / Hermes tool calls."""
    items = value if isinstance(value, list) else [value]
    calls = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("function"), dict):
            item = item["function"]
        if not (isinstance(item, dict) and isinstance(item.get("name"), str)):
            return []
        args = item.get("arguments", item.get("parameters", {}))
        if isinstance(args, str):
            try:
                args = loads_lenient(args)
            except ValueError:
                pass
        calls.append(ParsedCall(item["name"].strip(), args))
    return calls


def _react_calls(text: str) -> list[ParsedCall]:
    calls = []
    matches = list(_ACTION.finditer(text))
    for n, m in enumerate(matches):
        name = m.group("name").strip().strip("`'\"[]").strip()
        end = matches[n + 1].start() if n + 1 < len(matches) else len(text)
        block = text[m.end():end]
        inp = _ACTION_INPUT.search(block)
        if not name or name.lower() in _NO_TOOL:
            continue
        if inp is None:
            calls.append(ParsedCall(name, {}, error="no Action Input after the Action line"))
            continue
        rest = block[inp.end():]
        if step := _NEXT_STEP.search(rest):  # not the JSON of an Observation the model made up
            rest = rest[:step.start()]
        found = _first_json(rest)
        if found is not None:
            calls.append(ParsedCall(name, found[0]))
        else:
            raw = rest.strip().split("\n")[0]
            calls.append(ParsedCall(name, raw, error=f"Action Input is not a JSON object: {raw[:80]!r}"))
    return calls


def parse_reply(text: str) -> ParsedReply:
    """Find the tool calls in a reply; without any, the reply (minus an `Answer:` label) is the answer."""
    first_action = _ACTION.search(text)
    if first_action:
        calls = _react_calls(text)
        if calls:
            return ParsedReply(calls=calls, thought=_clean_thought(text[:first_action.start()]))
    for pattern in (_TOOL_CALL_TAG, _FENCE):
        calls = []
        for m in pattern.finditer(text):
            for value in _all_json(m.group(1)):
                calls += _calls_from_json(value)
        if calls:
            start = pattern.search(text).start()
            return ParsedReply(calls=calls, thought=_clean_thought(text[:start]))
    stripped = text.strip()
    if stripped[:1] in "{[":
        found = _first_json(stripped)
        if found is not None and (calls := _calls_from_json(found[0])):
            return ParsedReply(calls=calls)
    return ParsedReply(answer=clean_answer(text))


def last_action_start(text: str) -> int:
    """Where the last `Action:` line begins (len(text) when there is none)."""
    matches = list(_ACTION.finditer(text))
    return matches[-1].start() if matches else len(text)


def clean_answer(text: str) -> str:
    m = _ANSWER.search(text)
    answer = text[m.end():] if m else text
    return answer.strip()


def _clean_thought(text: str) -> str:
    return re.sub(r"^\s*Thought\s*[:：]\s*", "", text.strip(), flags=re.I)
