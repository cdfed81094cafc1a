"""Dates and times as people write them, relative ones resolved against today.

`dates_in` / `times_in` read what a text mentions (digits already include Chinese numerals, see
numerals.chinese_to_digits); `parse_when` reads a tool argument such as "2026-12-05T19:00".
Where a phrase is ambiguous ("Friday", "周五", "12/5", "7点") every reading is kept: the question
is only whether the user gave a value, not which one the model should pick.
"""
from __future__ import annotations

import re
from datetime import date, timedelta

_MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_RELATIVE = {"大后天": 3, "后天": 2, "明天": 1, "明日": 1, "明晚": 1, "明早": 1, "今天": 0, "今日": 0,
             "今晚": 0, "今早": 0, "昨天": -1, "前天": -2, "day after tomorrow": 2, "tomorrow": 1,
             "today": 0, "tonight": 0, "this evening": 0, "this morning": 0, "yesterday": -1}

_FULL = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})")
_CN_MONTH_DAY = re.compile(r"(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]")
_EN_MONTH_DAY = re.compile(rf"\b{_MONTH}\s*{_DAY}\b(?:,?\s*(\d{{4}}))?")  # also "Jun.20,2023"
_EN_YEAR_MONTH_DAY = re.compile(rf"\b(\d{{4}}),?\s+{_MONTH}\s*{_DAY}\b")  # "2023 April 4th"
_EN_DAY_MONTH = re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s*(\d{{4}}))?")
_SLASHED = re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b")
_IN_DAYS = re.compile(r"(\d+)\s*天\s*(?:后|以后|之后)|\bin\s+(\d+)\s+days?\b")
_CN_WEEKDAY = re.compile(r"(上上|上|这|本|下下|下)?\s*个?\s*(?:周|星期|礼拜)\s*([1-7日天])")
_EN_WEEKDAY = re.compile(r"\b(last|this|next|coming)?\s*(mon|tue|wed|thu|fri|sat|sun)[a-z]*\b")

# The half of the day said with a time: Chinese before it (晚上8点), English after it (8pm).
_CN_HALF = r"(?:(上午|早上|早晨|凌晨)|(下午|晚上|傍晚|夜里|今晚|明晚|中午))?\s*"
_EN_HALF = r"(?:\s*(?:(a\.?m\b\.?)|(p\.?m\b\.?)))?"
_CLOCK = re.compile(rf"{_CN_HALF}(\d{{1,2}})\s*[:：]\s*(\d{{2}}){_EN_HALF}")
_AM_PM = re.compile(r"(?<![\d:：])\b(\d{1,2})\s*(?:(a\.?m\b\.?)|(p\.?m\b\.?)|o'?clock)")
# The half of the day in words: "7 in the morning", "half past"-free "7:30 in the evening", "10 at night".
_DAY_PART = re.compile(r"(?<![\d:：/.-])\b(\d{1,2})(?:\s*[:：]\s*(\d{2}))?\s*(?:o'?clock\s*)?"
                       r"(?:in\s+the\s+(morning)|in\s+the\s+(afternoon|evening)|at\s+(night))\b")
# A range whose half of the day is said once, at its end: "from 2 to 3 pm", "9-11am".
_RANGE_START = re.compile(r"(?<![\d:：/.-])\b(\d{1,2})(?:\s*[:：]\s*(\d{2}))?\s*(?:-|–|to|until|till|and)\s*"
                          r"(\d{1,2})(?:\s*[:：]\s*\d{2})?\s*(?:(a\.?m\b\.?)|(p\.?m\b\.?))")
# minutes on the same line: "7点\n7点" (a text and its copy in digits) is not 7:07
_CN_CLOCK = re.compile(rf"{_CN_HALF}(\d{{1,2}})\s*[点點时][^\S\n]*(?:(半)|(\d{{1,2}})[^\S\n]*分?)?")

_VALUE_DATE = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?(?:[T\s]+(.*))?$", re.I)
_VALUE_NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})([-/.])(\d{1,2})\2(\d{4})\s*$")  # 12/05/2026: either order
_VALUE_TIME = re.compile(r"^\s*(\d{1,2})\s*(?:[:：]\s*(\d{2})(?:[:：]\d{2}(?:\.\d+)?)?)?\s*(am|pm|a\.m\.|p\.m\.)?"
                         r"\s*(?:z|[+-]\d{2}:?\d{2})?\s*$", re.I)


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def dates_in(text: str, today: date) -> set[date]:
    """Every date the text mentions; a day without a year is this year's or next year's."""
    return {d for _, days in date_mentions(text, today) for d in days}


def date_mentions(text: str, today: date) -> list[tuple[tuple[int, int], set[date]]]:
    """Where the text mentions a date, as (start, end) in the lower-cased text, and the dates each
    mention can mean."""
    text = text.lower()
    out: list[tuple[tuple[int, int], set[date | None]]] = []
    # a day without a year: this year's, next year's, or a year the text names ("2023 April 4th to April 8th")
    years = {today.year, today.year + 1} | {int(y) for y in re.findall(r"\b(?:19|20)\d\d\b", text)}
    for m in _FULL.finditer(text):
        out.append((m.span(), {_date(int(m[1]), int(m[2]), int(m[3]))}))
    for m in _CN_MONTH_DAY.finditer(text):
        out.append((m.span(), {_date(y, int(m[1]), int(m[2])) for y in years}))
    for pattern, month_at, day_at in ((_EN_MONTH_DAY, 1, 2), (_EN_DAY_MONTH, 2, 1)):
        for m in pattern.finditer(text):
            month, day = _MONTHS.index(m[month_at][:3]) + 1, int(m[day_at])
            out.append((m.span(), {_date(y, month, day) for y in ((int(m[3]),) if m[3] else years)}))
    for m in _EN_YEAR_MONTH_DAY.finditer(text):
        out.append((m.span(), {_date(int(m[1]), _MONTHS.index(m[2][:3]) + 1, int(m[3]))}))
    for m in _SLASHED.finditer(text):
        a, b = int(m[1]), int(m[2])
        ys = (int(m[3]) % 100 + 2000,) if m[3] else years
        out.append((m.span(), {_date(y, a, b) for y in ys} | {_date(y, b, a) for y in ys}))
    for phrase, offset in _RELATIVE.items():
        for m in re.finditer(re.escape(phrase), text):
            out.append((m.span(), {today + timedelta(days=offset)}))
    for m in _IN_DAYS.finditer(text):
        out.append((m.span(), {today + timedelta(days=int(m[1] or m[2]))}))
    monday = today - timedelta(days=today.weekday())
    for m in _CN_WEEKDAY.finditer(text):
        weekday = 7 if m[2] in "日天" else int(m[2])
        weeks = {"上上": [-2], "上": [-1], "这": [0], "本": [0], "下下": [2], "下": [1]}.get(m[1] or "", [0, 1])
        out.append((m.span(), {monday + timedelta(weeks=w, days=weekday - 1) for w in weeks}))
    for m in _EN_WEEKDAY.finditer(text):
        ahead = (_WEEKDAYS.index(m[2]) - today.weekday()) % 7
        offsets = {"last": [ahead - 7 if ahead else -7], "this": [ahead], "next": [ahead, ahead + 7],
                   "coming": [ahead, ahead + 7]}.get(m[1] or "", [ahead, ahead + 7])
        out.append((m.span(), {today + timedelta(days=d) for d in offsets}))
    return [(span, days - {None}) for span, days in out if days - {None}]


def times_in(text: str) -> set[tuple[int, int, bool]]:
    """Every clock time the text mentions, as (hour, minute, whether the hour is exact): an hour
    said with its half of the day ("8pm", "晚上8点": 20) or on a 24-hour clock ("19:30") is exact;
    "8点" or "8:10" leaves am/pm to the comparison."""
    return {clock for _, clock in time_mentions(text)}


def time_mentions(text: str) -> list[tuple[tuple[int, int], tuple[int, int, bool]]]:
    """Where the text mentions a clock time, as (start, end) in the lower-cased text, and the time
    as `times_in` gives it."""
    text = text.lower()
    out = [(m.span(), _clock(int(m[3]), int(m[4]), m[1] or m[5], m[2] or m[6])) for m in _CLOCK.finditer(text)]
    out += [(m.span(), _clock(int(m[1]), 0, m[2], m[3])) for m in _AM_PM.finditer(text)]
    out += [(m.span(), _clock(int(m[1]), int(m[2] or 0), m[3], m[4] or (m[5] if 6 <= int(m[1]) <= 11 else None)))
            for m in _DAY_PART.finditer(text)]
    out += [((m.start(), m.start(3)), _range_start(int(m[1]), int(m[2] or 0), int(m[3]), bool(m[5])))
            for m in _RANGE_START.finditer(text)]
    out += [(m.span(), _clock(int(m[3]), 30 if m[4] else int(m[5] or 0), m[1], m[2])) for m in _CN_CLOCK.finditer(text)]
    for words, clock in ((r"\bnoon\b", (12, 0, True)), ("中午", (12, 0, True)), ("正午", (12, 0, True)),
                         (r"\bmidnight\b", (0, 0, True)), ("午夜", (0, 0, True))):  # not the noon of "afternoon"
        out += [(m.span(), clock) for m in re.finditer(words, text)]
    # "7:30" inside "7:30 in the evening" leaves no half of the day open
    return [(span, clock) for span, clock in out if clock[2] or not any(
        exact and other[0] < span[1] and span[0] < other[1] for other, (_, _, exact) in out)]


def _clock(hour: int, minute: int, am: str | None, pm: str | None) -> tuple[int, int, bool]:
    """(hour, minute, exact) on a 24-hour clock where the half of the day was said (12 at noon
    stays 12 pm, and 12 at night is left open)."""
    if pm and 1 <= hour <= 11:
        return hour + 12, minute, True
    if (am and 1 <= hour <= 11) or (pm and hour == 12 and pm in ("中午", "p.m", "p.m.", "pm")):
        return hour, minute, True
    return hour, minute, hour == 0 or 13 <= hour <= 23


def _range_start(hour: int, minute: int, end: int, pm: bool) -> tuple[int, int, bool]:
    """The start of a range whose end has its half of the day: the same half where it comes
    before the end on the 12-hour clock ("2 to 3 pm": 14:00), else the other ("11 to 1 pm": 11:00).
    An hour outside 1-12 is read as `_clock` reads it, whichever half is passed."""
    same = hour % 12 < end % 12
    return _clock(hour, minute, None if same == pm else "am", "pm" if same == pm else None)


def parse_time(text: str) -> tuple[int, int] | None:
    m = _VALUE_TIME.match(text)
    if not m or (m[2] is None and m[3] is None):  # a bare number is not a time
        return None
    hour = int(m[1]) + (12 if m[3] and m[3].lower().startswith("p") and int(m[1]) < 12 else 0)
    return (hour, int(m[2] or 0)) if hour < 24 else None


def parse_when(text: str) -> tuple[set[date], tuple[int, int] | None] | None:
    """The days a tool argument can mean (none for a time alone; two for "05-12-2022", read month
    first or day first) and its time of day; None if it is neither a date nor a time."""
    if m := _VALUE_DATE.match(text):
        day = _date(int(m[1]), int(m[2]), int(m[3]))
        when = parse_time(m[4]) if m[4] else None
        if day and (not m[4] or when):
            return {day}, when
        return None
    if m := _VALUE_NUMERIC_DATE.match(text):
        a, b, year = int(m[1]), int(m[3]), int(m[4])
        days = {d for d in (_date(year, a, b), _date(year, b, a)) if d}
        return (days, None) if days else None
    when = parse_time(text)
    return (set(), when) if when else None
