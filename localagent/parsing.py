"""Turning what a model wrote into tool calls, leniently.

Small local models write calls in many shapes; every one of these is recognised:
ReAct `Action:` / `Action Input:` lines (multi-line, fenced or JSON5 arguments, full-width
punctuation, trailing text), a fenced ```json {"name", "arguments"}``` block (what Qwen writes
through llama.cpp's `tools=`), `<tool_call>` tags, and a bare JSON object of that shape.
The ReAct steps are read by react.py, which owns that format; the JSON by lenient_json.py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from . import react
from .lenient_json import all_json, first_json, loads_lenient

_TOOL_CALL_TAG = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)
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


def parse_reply(text: str) -> ParsedReply:
    """Find the tool calls in a reply; without any, the reply (minus an `Answer:` label) is the answer."""
    if react.has_action(text):
        calls = [ParsedCall(name, args, error) for name, args, error in react.calls(text)]
        if calls:
            return ParsedReply(calls=calls, thought=react.clean_thought(text[:react.first_action_start(text)]))
    for pattern in (_TOOL_CALL_TAG, _FENCE):
        calls = []
        for m in pattern.finditer(text):
            for value in all_json(m.group(1)):
                calls += _calls_from_json(value)
        if calls:
            start = pattern.search(text).start()
            return ParsedReply(calls=calls, thought=react.clean_thought(text[:start]))
    stripped = text.strip()
    if stripped[:1] in "{[":
        found = first_json(stripped)
        if found is not None and (calls := _calls_from_json(found[0])):
            return ParsedReply(calls=calls)
    return ParsedReply(answer=react.clean_answer(text))
