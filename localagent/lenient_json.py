"""Reading the JSON small models write: JSON5 (single quotes, trailing commas, comments), full-width
punctuation, and JSON values found inside other text. The one lenient loader of the package."""
from __future__ import annotations

from typing import Any, Iterator

import json5

_FULL_WIDTH = str.maketrans({"：": ":", "，": ",", "｛": "{", "｝": "}", "“": '"', "”": '"',
                             "‘": "'", "’": "'", "【": "[", "】": "]", "（": "(", "）": ")"})
_QUOTE_CLOSE = {'"': '"', "'": "'", "“": "”"}


def loads_lenient(text: str) -> Any:
    """JSON, then JSON5, then JSON5 with full-width punctuation made ASCII; ValueError if none parses."""
    try:
        return json5.loads(text)
    except ValueError:
        return json5.loads(text.translate(_FULL_WIDTH))


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


def first_json(text: str) -> tuple[Any, int] | None:
    """The first JSON value in text that parses, with where it ends."""
    pos = 0
    while (span := json_span(text, pos)) is not None:
        try:
            return loads_lenient(text[span[0]:span[1]]), span[1]
        except ValueError:
            pos = span[0] + 1
    return None


def all_json(text: str) -> Iterator[Any]:
    """Every JSON value in text that parses, in order (a fenced block may hold several calls)."""
    pos = 0
    while (span := json_span(text, pos)) is not None:
        try:
            yield loads_lenient(text[span[0]:span[1]])
            pos = span[1]
        except ValueError:
            pos = span[0] + 1
