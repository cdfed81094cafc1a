"""Numbers as people write them: Chinese numerals (二十二, 两) and English words (twenty-two)."""
from __future__ import annotations

import re

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10_000, "亿": 100_000_000}
# Digits with Chinese units: "213万", "1.5亿", "2万5千"
_MIXED = re.compile(r"\d+(?:\.\d+)?[百千万亿](?:\d+(?:\.\d+)?[十百千万亿]?)*")
_MIXED_TOKEN = re.compile(r"\d+(?:\.\d+)?|[十百千万亿]")
_CN_RUN = re.compile(f"[{''.join(_CN_DIGITS)}{''.join(_CN_UNITS)}]+")

_EN_ONES = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split())}
_EN_ONES |= {w: i for i, w in enumerate(
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth".split()) if i}
_EN_ONES |= {"single": 1, "couple": 2, "pair": 2}
_EN_TENS = {w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
_EN_TENS |= {w[:-1] + "ieth": v for w, v in _EN_TENS.items()}
EN_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 10**9, "trillion": 10**12}
_EN_TOKEN = re.compile(r"[a-z]+", re.I)
# A count in words, as a pattern: "twenty-two", "one hundred and five", "a dozen"; no ordinals.
_EN_CARDINALS = [w for w in [*_EN_ONES, *_EN_TENS, *EN_SCALES, "dozen"]
                 if not w.endswith("th") and w not in ("first", "second", "third")]
EN_NUMBER = (lambda w: rf"\b(?:{w})(?:(?:[\s-]+|\s+and\s+)(?:{w}))*\b")(
    "|".join(sorted(_EN_CARDINALS, key=len, reverse=True)))


def chinese_value(run: str) -> int:
    """二十二 -> 22, 一百零五 -> 105, 两万 -> 20000; unit-less digit runs read digit by digit
    (二零二六 -> 2026)."""
    if not any(ch in _CN_UNITS for ch in run):
        return int("".join(str(_CN_DIGITS[ch]) for ch in run))
    return int(_with_units([_CN_DIGITS.get(ch, ch) for ch in run]))


def _with_units(tokens: list[float | str]) -> float:
    """Numbers and Chinese units in order: [2, "万", 5, "千"] -> 25000."""
    total = section = digit = 0.0
    for token in tokens:
        if not isinstance(token, str):
            digit = token
        elif _CN_UNITS[token] >= 10_000:  # 万 alone is one 万, as 十 alone is one ten
            total = ((total + section + digit) or 1) * _CN_UNITS[token]
            section = digit = 0
        else:
            section += (digit or 1) * _CN_UNITS[token]  # 十二: a leading 十 is one ten
            digit = 0
    return total + section + digit


def chinese_to_digits(text: str) -> str:
    """The text with every run of Chinese numerals written in digits, also where digits carry
    Chinese units: "213万" is 2130000, "1.5万" 15000, "2万5千" 25000."""
    def mixed(m: re.Match) -> str:
        value = _with_units([t if t in _CN_UNITS else float(t) for t in _MIXED_TOKEN.findall(m.group())])
        return str(int(value)) if value == int(value) else str(value)

    text = _MIXED.sub(mixed, text)
    return _CN_RUN.sub(lambda m: str(chinese_value(m.group())), text)


def english_numbers(text: str) -> list[float]:
    """Every number written in English words: "twenty-two" -> 22, "a dozen" -> 12, "third" -> 3."""
    numbers: list[float] = []
    total, current = 0, None  # current: the part below the last thousand/million, None: no number

    def flush() -> None:
        nonlocal total, current
        if current is not None:
            numbers.append(float(total + current))
        total, current = 0, None

    for token in _EN_TOKEN.findall(text.lower()):
        if token in _EN_ONES or token in _EN_TENS:
            value = _EN_ONES.get(token, _EN_TENS.get(token))
            joins = current is not None and (current % 100 == 0 or (current % 100 >= 20 and current % 10 == 0
                                                                     and value < 10))
            if not joins:
                flush()
            current = (current or 0) + value if joins else value
        elif token in EN_SCALES or token == "dozen":
            scale = 12 if token == "dozen" else EN_SCALES[token]
            if scale >= 1000:
                total, current = total + (current or 1) * scale, 0
            else:
                current = (current or 1) * scale
        elif token == "and" and current is not None:
            continue  # one hundred and five
        else:
            flush()
    flush()
    return numbers
