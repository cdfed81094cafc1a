"""Lengths of time as people say them ("两年", "one and a half years", "90 minutes") and the unit a
tool's parameter takes ("续费时长，单位：月", "duration in minutes"), so that a number said in
one unit grounds a parameter in another only converted: 1.5 years is 18 months, never 1.5.
"""
from __future__ import annotations

import re

from .numerals import EN_NUMBER, english_numbers

# Minutes per unit; a month is 30 days and a year 12 months, so that years and months convert
# exactly (a year is also 365 days: see factors()).
MINUTES = {"second": 1 / 60, "minute": 1, "hour": 60, "day": 1440, "week": 10080, "month": 43200, "year": 518400}

# Unit words after a number. Chinese 月 and 日 alone name dates (3月, 5日), so only 个月 and 天;
# a 年 followed by a month is a date's year (2025年3月).
_SAID_UNIT = {
    "second": r"seconds?|secs?\b|秒钟?", "minute": r"minutes?|mins?\b|分钟", "hour": r"hours?|hrs?\b|小时|钟头", "day": r"days?|天",
    "week": r"weeks?|个?星期|个?礼拜|周(?![一二三四五六日末])", "month": r"months?|个月",
    "year": r"years?|年(?!级|\s*[\d一二三四五六七八九十]{1,2}\s*月)",
}
_UNIT_RE = "|".join(f"(?P<{unit}>{words})" for unit, words in _SAID_UNIT.items())
_DURATION = re.compile(
    rf"(?P<half_of>(?<!个)半个?|half an?\s+|half a\s+)?"
    rf"(?:(?P<digits>\d+(?:\.\d+)?)\s*(?P<cn_half>个半)?\s*个?\s*"
    rf"|(?P<words>\ban?\b|{EN_NUMBER})(?P<en_half>\s+and\s+a\s+half)?\s+)?"
    rf"(?:{_UNIT_RE})(?P<post_half>\s+and\s+a\s+half)?", re.I)

# Unit words in a parameter's name or description; here 月, 年, 天 alone do name the unit ("单位：月").
_PARAM_UNIT = {
    "second": r"\bseconds?\b|\bsecs?\b|秒", "minute": r"minutes?|分钟", "hour": r"hours?|小时", "day": r"\bdays?\b|天数|单位[:：]?\s*[天日]|以[天日]为单位",
    "week": r"weeks?|周数", "month": r"months?|月数|个月|单位[:：]?\s*月|[(（]月[)）]|以月为单位",
    "year": r"years?|年数|单位[:：]?\s*年|[(（]年[)）]|以年为单位",
}


def said_durations(text: str) -> tuple[set[tuple[float, str]], str]:
    """The (number, unit) lengths of time in `text` (lower case, Chinese numerals as digits), and
    the text with them blanked out, where the numbers said without a unit remain."""
    found: set[tuple[float, str]] = set()

    def take(m: re.Match) -> str:
        unit = next(u for u in MINUTES if m.group(u))
        if m.group("digits"):
            value = float(m.group("digits"))
        elif m.group("words"):
            words = m.group("words").strip()
            numbers = [1.0] if words in ("a", "an") else english_numbers(words)
            if len(numbers) != 1:
                return m.group()  # "for the next days": no number
            value = numbers[0]
        elif m.group("half_of"):
            value = 0.0  # the half is added below: "半年", "half a year"
        else:
            return m.group()  # a unit alone ("every month")
        value += 0.5 if any(m.group(g) for g in ("cn_half", "en_half", "half_of", "post_half")) else 0
        found.add((value, unit))
        return " "

    rest = _DURATION.sub(take, text)
    return found, rest


def parameter_unit(name: str, spec: dict) -> str | None:
    """The one unit of time a parameter is given in, by its name and description; None when it
    names none, or several."""
    text = f"{name.replace('_', ' ')} {spec.get('description', '')}".lower()
    units = {unit for unit, words in _PARAM_UNIT.items() if re.search(words, text)}
    return units.pop() if len(units) == 1 else None


def factors(said: str, wanted: str) -> set[float]:
    """What one `said` unit is in `wanted` units: a year is 12 months, and 365 or 360 days."""
    out = {MINUTES[said] / MINUTES[wanted]}
    if said == "year" and wanted == "day":
        out.add(365.0)
    return out
