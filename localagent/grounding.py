"""Was each value of a tool call given? Provenance of argument values in what the user said and
what tools returned, so that a call never runs with values the model made up.

A value counts as given when it is found in that evidence after normalisation: case, width and
spacing; numbers written as digits, Chinese numerals or English words; dates and times in their
usual spellings, relative ones ("明天", "next Friday") resolved against today; enum values by
their own words, by a name the parameter's description gives them ("CNY (人民币)"), by a common
name (人民币 → CNY) or by a dictionary's translation (客厅 → living room). Free text counts as given when each of its words is.
An optional flag switched on counts as given where the user's words touch it (`flag_touched`).

This works on tools as users write them, with no annotations. `x-grounded: false` on a parameter
switches the check off for values the model may rightly derive; `x-grounded: true` (or a tool's
`grounded_params`) keeps it on where it would otherwise be skipped (a flag left off, a required
one): the user must have said true or false.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cache, cached_property
from typing import Any, Callable, Iterable

from . import glossary
from .durations import MINUTES, factors, parameter_unit, said_durations
from .numerals import EN_SCALES, chinese_to_digits, english_numbers
from .replies import words_of

_CJK = r"\u3400-\u9fff"
_SPACE_PUNCT = re.compile(r"[\s,，.。、:：;；!！?？'\"“”‘’()（）\[\]【】{}<>《》_\-/\\|*#@]+")
_NUMBER = re.compile(r"\d+(?:,\d{3}(?!\d))*(?:\.\d+)?")  # "C2，2025" is 2 and 2025, not 2,202
# Money said the Chinese way: "1250块5毛" is 1250.5, "三块五" 3.5, "100元5角2分" 100.52
_YUAN = re.compile(r"(\d+)\s*[块元圆](?:\s*(\d)\s*[毛角]?(?:\s*(\d)\s*分)?)?")
# "5%" is also 0.05, "百分之五" (read as "100分之5") too; "213 million" is 213000000; "1e-9"
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*(?:%|percent\b|per cent\b)|100分之\s*(\d+(?:\.\d+)?)")
_SCALED = re.compile(rf"(\d+(?:\.\d+)?)\s*({'|'.join(EN_SCALES)})\b")
_MONEY_SCALED = re.compile(r"[$€£¥]\s*(\d+(?:\.\d+)?)\s*(k|m|bn|b)\b")  # "$1.2M"
_MONEY_SCALES = {"k": 1e3, "m": 1e6, "b": 1e9, "bn": 1e9}
_SCIENTIFIC = re.compile(r"(?<![\w.])\d+(?:\.\d+)?e[-+]?\d{1,3}(?![\w.])")
_AND_A_HALF = re.compile(r"(\d+)\s*个半")
_EN_AND_A_HALF = re.compile(r"([a-z]+|\d+) and a half")
_HALF = re.compile(r"(?<!个)半|(?<!and a )half")  # a half on its own, not the half of "一个半"
# A decimal said the Chinese way, its numerals already digits: "八千七百六十二点五" reads "8762点5"
# (8762.5); "三点五十" (3:50) reads 3.50 too, which no clock value confuses with a number.
_CN_DECIMAL = re.compile(r"(\d+)点(\d+)")
_WORD = re.compile(rf"[{_CJK}]+|[^\W\d_]+|\d+(?:\.\d+)?", re.U)
# Arithmetic on numbers ("987/3.5", "(2+3)*4"): its numbers must be given, like words of free text.
_EXPRESSION = re.compile(r"(?=.*\d)(?=.*[+*/×÷^])[\d.\s+\-*/×÷()^%=]+")
# A parameter that takes a place, by its name or description.
_PLACE = re.compile(r"locat|city|place|address|region|area|where|destination|origin|town|country|"
                    r"地点|城市|地址|位置|地区|目的地|出发地", re.I)
# One token of letters and digits (an id, a code, a phone number): never assembled from parts.
_IDENTIFIER = re.compile(r"(?=.*\d)[\w.:#@+\-/]+", re.A)
# Words a model adds around given values in free text ("weather in Paris"), and words that stand
# for something said elsewhere ("in it"); not values themselves, nor names of an option.
_FILLER = {"a", "an", "the", "of", "in", "on", "at", "to", "for", "and", "or", "with", "from", "by",
           "is", "me", "my", "please", "it", "its", "this", "that", "these", "those", "i", "you", "your",
           "he", "she", "him", "her", "his", "we", "us", "our", "they", "them", "their", "的", "在", "和", "与"}


def _numbers_in(text: str) -> set[float]:
    # "一个半小时" is 1.5 hours, not 1 hour: the N of "N个半" counts only with its half
    whole = _AND_A_HALF.sub(" ", text)
    found = {float(n.replace(",", "")) for n in _NUMBER.findall(whole)} | set(english_numbers(whole))
    # "一个半小时", "one and a half years", "半小时", "half an hour"
    found |= {float(n) + 0.5 for n in _AND_A_HALF.findall(text)}
    found |= {float(n) + 0.5 for n in english_numbers(" ".join(_EN_AND_A_HALF.findall(text)))}
    if _HALF.search(text):
        found.add(0.5)
    found |= {int(y) + int(j or 0) / 10 + int(f or 0) / 100 for y, j, f in _YUAN.findall(text)}
    found |= {float(a or b) / 100 for a, b in _PERCENT.findall(text)}
    found |= {float(n) * EN_SCALES[scale] for n, scale in _SCALED.findall(text)}
    found |= {float(n) * _MONEY_SCALES[scale] for n, scale in _MONEY_SCALED.findall(text)}
    found |= {float(n) for n in _SCIENTIFIC.findall(text)}
    found |= {float(f"{whole}.{part}") for whole, part in _CN_DECIMAL.findall(text)}
    return found


def normalise(text: str) -> str:
    """Case, width and spacing do not matter: "I-ABC 12" and "i-abc12" are the same value."""
    return _SPACE_PUNCT.sub("", unicodedata.normalize("NFKC", str(text)).casefold())


@dataclass(frozen=True)
class Evidence:
    """What the user said and what tools returned, with today's date for relative dates."""

    texts: tuple[str, ...]
    today: date = field(default_factory=date.today)
    # The dates and clock times (hour, minute) other arguments of the call hold: the numbers of
    # their mentions count for no other value (`counted`).
    taken_days: frozenset[date] = frozenset()
    taken_times: frozenset[tuple[int, int]] = frozenset()

    @cached_property
    def text(self) -> str:
        # Chinese numerals as digits too: "续费二十二个月" also reads "续费22个月"
        joined = "\n".join(unicodedata.normalize("NFKC", t) for t in self.texts)
        return f"{joined}\n{chinese_to_digits(joined)}".casefold()

    @cached_property
    def counted(self) -> str:
        """The text where numbers are looked for: without the mentions of the days and times taken,
        as one thing the user said fills one parameter ("2号" of a date is not 2 hours)."""
        from .dates import date_mentions, time_mentions

        if not (self.taken_days or self.taken_times):
            return self.text
        spans = [span for span, days in date_mentions(self.text, self.today) if days & self.taken_days]
        spans += [span for span, said in time_mentions(self.text)
                  if any(_same_time(taken, said) for taken in self.taken_times)]
        chars = list(self.text)
        for start, end in spans:
            chars[start:end] = " " * (end - start)
        return "".join(chars)

    @cached_property
    def flat(self) -> str:
        return normalise(self.text)

    @cached_property
    def plain(self) -> str:  # as written, without the digit copy: for counting occurrences
        return normalise("\n".join(self.texts))

    @cached_property
    def words(self) -> set[str]:
        return {_stem(w) for w in _WORD.findall(self.text)}

    @cached_property
    def stems(self) -> set[str]:
        """The English words by their Snowball stem ("details", "detailed": detail)."""
        return {_english_stem(w) for w in _WORD.findall(self.text) if w.isascii()}

    @cached_property
    def lemmas(self) -> set[str]:
        """The dictionary forms of the English words said in another form ("stole": steal)."""
        return {form for w in _WORD.findall(self.text) if w.isascii() and w.isalpha()
                and (form := glossary.lemma(w)) != w}

    @cached_property
    def chinese_words(self) -> frozenset[str]:
        """The words of what was said as jieba cuts Chinese (卡丢了: 卡, 丢, 了)."""
        return glossary.words_in(self.text)

    @cached_property
    def numbers(self) -> set[float]:
        return _numbers_in(self.counted)

    @cached_property
    def durations(self) -> set[tuple[float, str]]:
        """Lengths of time the user said with their unit: (1.5, "year")."""
        return said_durations(self.counted)[0]

    @cached_property
    def unitless_numbers(self) -> set[float]:
        return _numbers_in(said_durations(self.counted)[1])

    @cached_property
    def dates(self) -> set[date]:
        from .dates import dates_in

        return dates_in(self.text, self.today)

    @cached_property
    def times(self) -> set[tuple[int, int, bool]]:
        from .dates import times_in

        return times_in(self.text)


# Asks the model which option of an enum the user asked for: True when it names the value (see
# NativeEngine.confirm_choice). Enum options are often named in another language ("客厅" for
# "living room"), which no spelling rule finds; so are flags (随机播放 for `shuffle`, "black and
# white" for `color: false`).
ConfirmChoice = Callable[[str, Any, dict], bool]


def ungiven(arguments: dict[str, Any], schema: dict[str, Any], evidence: Evidence,
            always: set[str] = frozenset(), confirm: ConfirmChoice | None = None,
            purpose: str = "", refused: Callable[[list[str]], bool] = lambda missing: bool(missing)) -> list[str]:
    """The arguments whose values are not found in the evidence (in argument order). `purpose`:
    the tool's name and description, what every call of it does (see `flag_touched`).
    The model is asked (`confirm`) last, about required values first: where the required values
    not given mean the call is `refused` whatever else it holds, the optional ones are not asked
    about (the user is asked instead; each question costs a request) and count as not given."""
    props, required = schema.get("properties", {}), set(schema.get("required", []))
    out, used, asks = [], {}, []
    # a number said inside a date or time another argument holds is not also a count: "2号" is no 2 hours
    days, times = _dates_and_times(arguments, props)
    counting = replace(evidence, taken_days=days, taken_times=times) if days or times else evidence
    for name, value in arguments.items():
        spec = props.get(name, {})
        if spec.get("x-grounded") is False:
            continue
        strict = name in always or spec.get("x-grounded") is True
        if "default" in spec and value == spec["default"]:
            continue  # what the tool does anyway
        if isinstance(value, bool) and not strict and name not in required:
            # a flag the user's words never touch is left to the tool's default, unless the model,
            # asked, finds it said (`confirm`); where nobody can be asked, one left off is kept
            given = flag_touched(name, spec, purpose, evidence) or (None if confirm else not value)
        else:
            given = found(value, spec, counting if _is_number(value) else evidence, strict, name)
        if not given and "enum" in spec and confirm is not None and not isinstance(value, bool):
            given = None
        if given and isinstance(value, str) and "enum" not in spec and (key := normalise(value)):
            # one phrase the user said once fills one parameter: a taxi "to T3" has no pick-up at T3
            given = key not in used or evidence.plain.count(key) > used[key]
            used[key] = used.get(key, 0) + 1
        if given is None:
            asks.append(name)
        elif not given:
            out.append(name)

    def said(name: str) -> bool:  # the model, asked, finds the value given
        return confirm is not None and confirm(name, arguments[name], props.get(name, {}))

    out += [name for name in asks if name in required and not said(name)]
    optional = [name for name in asks if name not in required]
    if optional and refused([name for name in out if name in required]):
        out += optional
    else:
        out += [name for name in optional if not said(name)]
    return [name for name in arguments if name in out]


def _dates_and_times(arguments: dict[str, Any],
                     props: dict[str, Any]) -> tuple[frozenset[date], frozenset[tuple[int, int]]]:
    """The dates and the clock times (hour, minute) the call's arguments hold."""
    from .dates import parse_when

    days: set[date] = set()
    times: set[tuple[int, int]] = set()
    for name, value in arguments.items():
        if isinstance(value, str) and "enum" not in props.get(name, {}) and (when := parse_when(value)):
            days |= when[0]
            if when[1] is not None:
                times.add(when[1])
    return frozenset(days), frozenset(times)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) \
        or (isinstance(value, str) and _NUMBER.fullmatch(value.strip()) is not None)


def found(value: Any, spec: dict[str, Any], ev: Evidence, strict: bool = False, name: str = "") -> bool:
    """Whether one value (of the parameter `name` with the schema `spec`) is found in the evidence."""
    if value is None or value == "" or value == [] or value == {}:
        return True
    if isinstance(value, bool):
        return not strict or normalise(str(value)) in ev.flat
    if isinstance(value, (int, float)):
        return _number_found(float(value), ev, parameter_unit(name, spec))
    if isinstance(value, list):
        return all(found(v, spec.get("items", {}), ev, strict) for v in value)
    if isinstance(value, dict):
        props = spec.get("properties", {})
        return all(found(v, props.get(k, {}), ev, strict, k) for k, v in value.items())
    text = str(value).strip()
    if "enum" in spec:
        return _enum_found(text, spec, ev, name)
    if _NUMBER.fullmatch(text) and (unit := parameter_unit(name, spec)):
        return _number_found(float(text.replace(",", "")), ev, unit)  # "2" (months) is not "两年"
    if normalise(text) in ev.flat:
        return True
    if any(_name_found(name, ev) for name in common_names(text)):
        return True  # "USD" for "美元", also where the parameter is free text
    from .dates import parse_when

    if (when := parse_when(text)) is not None:
        days, clock = when
        return (not days or bool(days & ev.dates)) and (clock is None or _time_found(clock, ev))
    if _NUMBER.fullmatch(text.replace(" ", "")):
        return _number_found(float(text.replace(",", "").replace(" ", "")), ev, parameter_unit(name, spec))
    if _EXPRESSION.fullmatch(text):
        return _words_found(text, ev)  # "987/3.5" from "987 divided by 3.5": not an id
    if _IDENTIFIER.fullmatch(text):
        return False  # an id is given whole or not at all: "i-abc3" is not "i-abc" and "3"
    return _words_found(text, ev) or (_PLACE.search(f"{name} {spec.get('description', '')}") is not None
                                      and _qualified_found(text, ev))


def flag_touched(name: str, spec: dict[str, Any], purpose: str, ev: Evidence) -> bool:
    """Whether the user's words touch an optional flag: a word of its name or description that
    is not also a word of the tool's `purpose` (its name and description: "打印" of 双面打印 for a
    print job is said by any request to print), found by spelling (English words by their stem)
    or by its name in the other language ("double-sided" for 双面, 自动 for "automatic"). A flag
    nobody asked for ("duplex" for "打两份，要彩色的") is something the model switched on by itself."""
    description = str(spec.get("description") or "")
    tools = _term_words(purpose)
    words = {key: word for key, word in _term_words(f"{name} {description}").items() if key not in tools}
    if any(key in (ev.flat if _CJK_RUN.fullmatch(key) else ev.stems) for key in words):
        return True
    # a name in the other language is looked up only where the user's words have that script
    # (a lookup reads the whole dictionary: about 60 ms)
    names = [w for w in [*words.values(), description or name.replace("_", " ")]
             if (_CJK_RUN.search(ev.text) if w.isascii() else _LATIN.search(ev.text))]
    # not by a word of one character: every word of a description is looked up, and 借 ("to
    # borrow") of any request to a library would touch `available_only` ("copies that can be borrowed")
    return any(_name_found(other, ev) for word in names for other in glossary.other_names(word) if len(other) > 1)


_CJK_RUN = re.compile(rf"[{_CJK}]+")
_LATIN = re.compile(r"[a-z]")


def _term_words(text: str) -> dict[str, str]:
    """The words of a name or description, each under the key it is looked for by: English ones
    by their stem, and of a Chinese run every part of two to four characters (a description is not
    split into words: "双面打印" gives 双面 and 打印)."""
    out = {}
    for word in _content_words(text):
        if _CJK_RUN.fullmatch(word):
            out |= {word[i:j]: word[i:j] for i in range(len(word)) for j in range(i + 2, min(len(word), i + 4) + 1)}
        elif len(word) > 1 and not word.isdigit():
            out[_english_stem(word)] = word
    return out


@cache
def _english_stem(word: str) -> str:
    """Snowball's stem: "details" and "detailed" are both detail."""
    import snowballstemmer

    return snowballstemmer.stemmer("english").stemWord(word)


def _qualified_found(text: str, ev: Evidence) -> bool:
    """A place the user named with a short qualifier added after a comma: "Chicago, IL" or "New
    York, NY" for "Chicago" or "New York". Only for a place: "Alice, Bob" adds a recipient."""
    head, sep, tail = text.partition(",")
    return bool(sep) and found(head, {}, ev) and 0 < len(tail.split()) <= 3 and not re.search(r"\d", tail)


def _number_found(value: float, ev: Evidence, unit: str | None = None) -> bool:
    """The number as said, or a length of time the user said in another unit of time: "两年" gives
    24 (months), "two hours" 120 (minutes), "一个半小时" 90. A number said without a unit is only
    itself: "一个网球场" gives 1, not 30 or 60. For a parameter in a known unit of time, a length
    said with its unit counts only converted: "1.5 years" gives 18 months, never 1.5."""
    def near(candidates: Iterable[float]) -> bool:
        return any(math.isclose(abs(value), c, rel_tol=1e-9, abs_tol=1e-12) for c in candidates)

    wanted = [unit] if unit else list(MINUTES)
    converted = (n * f for n, said in ev.durations for u in wanted for f in factors(said, u))
    return near(converted) or near(ev.unitless_numbers if unit else ev.numbers)


def said_length(name: str, spec: dict[str, Any], ev: Evidence) -> int | float | None:
    """The value of a parameter in a unit of time when the user said one length of time: converted
    by the agent, as small models do not ("1.5" for one and a half years in months, 30 for
    一个半小时 in minutes). None when the parameter names no unit, or the user said none or several."""
    unit = parameter_unit(name, spec)
    if unit is None or len(ev.durations) != 1:
        return None
    [(n, said)] = ev.durations
    values = {n * f for f in factors(said, unit)}
    if len(values) != 1:  # a year in days: 365 or 360
        return None
    value = values.pop()
    if value == int(value):
        return int(value)
    # whole or half units only: 1.5 hours in hours, never 0.002 months
    return value if value * 2 == int(value * 2) and spec.get("type") in ("number", "string") else None


_HOUR_MINUTE = re.compile(r"\s*(\d{1,2})\s*:\s*(\d{2})\s*")


def said_clock(value: str, ev: Evidence) -> str | None:
    """A clock time ("20:00") the user said otherwise ("晚上八点十分", or "8pm" for "08:00"): the
    user's minutes, and the user's half of the day where they said it (else the model's). None when
    the value is no HH:MM, or the user said no time at that hour or several."""
    if not (m := _HOUR_MINUTE.fullmatch(value)):
        return None
    hour = int(m[1])
    said = {(h if exact else hour, minute) for h, minute, exact in ev.times if h % 12 == hour % 12}
    if len(said) != 1:
        return None
    [(hour, minute)] = said
    return f"{hour:0{len(m[1])}d}:{minute:02d}"


def _time_found(when: tuple[int, int], ev: Evidence) -> bool:
    """"19:00" is given by "7pm", "晚上7点" or "19:00", not "07:00"; "7点" leaves am/pm open."""
    return any(_same_time(when, said) for said in ev.times)


def _same_time(when: tuple[int, int], said: tuple[int, int, bool]) -> bool:
    hour, minute, exact = said
    return minute == when[1] and (hour == when[0] if exact else hour % 12 == when[0] % 12)


def _words_found(text: str, ev: Evidence) -> bool:
    """Free text the model composed from given words ("1234*5678" from "1234 乘以 5678")."""
    words = _plain_words(text)
    if not words:
        return False
    for word in words:
        if word[0].isdigit():
            if not _number_found(float(word), ev):
                return False
        elif re.match(rf"[{_CJK}]", word):
            # an added suffix (杭州 → 杭州市) still names what the user named
            if word not in ev.flat and not (len(word) > 2 and word[:-1] in ev.flat):
                return False
        elif _stem(word) not in ev.words and _english_stem(word) not in ev.words and (len(word) < 4 or word not in ev.flat):
            return False  # by its stem: "spinning" for "the spin class"
    return True


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _enum_found(value: str, spec: dict[str, Any], ev: Evidence, parameter: str = "") -> bool:
    """By any of its names (`enum_names`), or else by its name in the other language (客厅 for
    "living room"; 储蓄卡, "debit card", for `card_type: debit`), looked up only then: a
    dictionary's lookup takes about 60 ms."""
    nouns = tuple(w for w in words_of(parameter).split() if len(w) > 2)
    return (any(_name_found(name, ev) for name in enum_names(value, spec)) or _inflection_found(value, ev)
            or any(_name_found(name, ev) for name in glossary.other_names(value, nouns)))


def _inflection_found(value: str, ev: Evidence) -> bool:
    """An English option said in another form of its word, both inflected: "stole" for `stolen`.
    Not the word's own form: "leave" does not name `left`."""
    return value.isascii() and value.isalpha() and (form := glossary.lemma(value)) != value.casefold() \
        and form in ev.lemmas


def said_option(name: str, spec: dict[str, Any], value: Any, ev: Evidence) -> Any | None:
    """The option of an enum that the user's words name, where the model wrote another they do
    not: `stolen` for "Someone stole my wallet" (the bundled 1.5B wrote `lost`). None unless
    they name exactly one."""
    if "enum" not in spec or isinstance(value, bool):
        return None
    named = [o for o in spec["enum"] if o != value and isinstance(o, str) and _enum_found(o, spec, ev, name)]
    return named[0] if len(named) == 1 else None


# The units a quoted phrase spans: one Chinese character, or a word of letters and digits with
# the marks inside it ("85.40", "7700-1182-55", "don't"); and what ends a phrase: other marks,
# or those marks where no word goes on after them.
_QUOTE_UNIT = re.compile(rf"[{_CJK}]|[^\W_]+(?:[.\-'/:][^\W_]+)*")
_QUOTE_END = re.compile(rf"[^\w\s{_CJK}.\-'/:]+|[.\-'/:]+(?![^\W_])")


def phrases(texts: Iterable[str], longest: int = 4, most: int = 400) -> list[str]:
    """The phrases of `texts` a model may quote as the words that name a value: runs of up to
    `longest` words or Chinese characters that cross no punctuation, newest text first."""
    out: dict[str, None] = {}
    for text in reversed(list(texts)):
        for piece in _QUOTE_END.split(unicodedata.normalize("NFKC", text)):
            units = list(_QUOTE_UNIT.finditer(piece))
            for i, first in enumerate(units):
                for last in units[i:i + longest]:
                    out.setdefault(piece[first.start():last.end()])
                    if len(out) >= most:
                        return list(out)
    return list(out)


def names_nothing_of(words: str, options: list[Any], others: Iterable[str]) -> bool:
    """Whether words quoted as the user's for an option name nothing of it: each of them is a word
    of something else of the call (the tool's or another parameter's name, another argument's
    value: "account" in "Pay 120 yuan on account 0101 3386 2290", "a milk tea" for the size of
    `order_milk_tea`), or they are what all the options have in common ("杯" of 中杯 and 大杯)."""
    if options_named(words, options):
        return False  # "US" names the option US, a pronoun or not
    key = normalise(words)
    if key and all(key in normalise(str(option)) for option in options):
        return True
    return _content_words(words) <= set().union(*map(_content_words, others))


def _content_words(text: str) -> set[str]:
    """The words of a name or a phrase, fillers left out ("trackParcel" and "track parcels": track, parcel)."""
    return {_stem(w) for w in _plain_words(words_of(text))}


def _plain_words(text: str) -> list[str]:
    """The words of a text, in one width and case, fillers left out."""
    return [w for w in _WORD.findall(unicodedata.normalize("NFKC", text).casefold()) if w not in _FILLER]


def first_named(text: str, options: list[Any]) -> Any | None:
    """The option that `text` names first (by itself, its words or a common name: "CNY" by
    "人民币"). None when it names none."""
    return next(iter(options_named(text, options)), None)


def options_named(text: str, options: list[Any]) -> list[Any]:
    """The options that `text` names, in the order it names them ("room" is not named by the
    "living room" of another option)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    hits = sorted((m.start(), -m.end(), i) for i, option in enumerate(options)
                  for name in _own_names(str(option)) if (m := _name_in(name, text)))
    named, end = [], -1
    for start, neg_end, i in hits:
        if -neg_end > end:  # not inside a longer name found before it
            named.append(i)
            end = -neg_end
    return [options[i] for i in dict.fromkeys(named)]


def _name_found(name: str, ev: Evidence) -> bool:
    """Whether the user named it: see `_name_in`; other names also across spaces and marks."""
    if name.isascii():
        return _name_in(name, ev.text) is not None
    key = normalise(name)
    if len(key) == 1:  # one character, only as a word of its own: 丢 in 卡丢了, not in 丢人
        return key in ev.flat and key in ev.chinese_words
    return bool(key) and key in ev.flat


# Before and after a Latin name: no other Latin letter ("kilometers" does not name "meter").
_LATIN_BEFORE, _LATIN_AFTER = rf"(?<![^\W\d_{_CJK}])", rf"(?![^\W\d_{_CJK}])"


def _name_in(name: str, text: str) -> re.Match | None:
    """Where a name is in a text (NFKC, casefolded): a Latin name as words of their own, a longer
    one also in the plural ("miles" for "mile", "king-bed" for "king bed"; "its" is not "it") and
    a plural one also in the singular ("every weekday" for "weekdays"; "news" is not "new"),
    others anywhere."""
    name = name.casefold().strip()
    if name.isascii() and len(name) > 4 and name.endswith("s") and not name.endswith("ss"):
        name = name[:-1]
    words = r"[\s_\-]*".join(map(re.escape, re.split(r"[\s_\-]+", name)))
    if name.isascii():
        plural = "(?:e?s)?" if len(name) > 3 else ""
        return re.search(rf"{_LATIN_BEFORE}{words}{plural}{_LATIN_AFTER}", text)
    return re.search(words, text)


def enum_names(value: str, spec: dict[str, Any]) -> set[str]:
    """The words that name an enum value: itself, its parts, the description's gloss of it, a
    common name (currencies, languages, units)."""
    names = _own_names(value) | common_names(value)  # with its one-character names (元), see `_name_found`
    if len(value) > 3:  # "king_bed" is also named by "king bed"; short codes only by themselves
        names |= set(re.split(r"[_\-\s]+", value)) - _FILLER
    description = str(spec.get("description", ""))
    v = re.escape(value)
    for m in re.finditer(rf"(?<![\w]){v}\s*[(（:：=]\s*([^)）,，;；/|]+)"
                         rf"|([^\s(（,，;；/|:：=]+)\s*[(（:：=]\s*{v}(?![\w])", description, re.I):
        names.add((m.group(1) or m.group(2)).strip())
    return {n for n in names if len(normalise(n)) >= 2 or n == value or _CJK_RUN.fullmatch(n)}


def _own_names(value: str) -> set[str]:
    """An option's own names: itself, with spaces for underscores, a common name (人民币 for CNY)
    of two characters or more: these are looked for anywhere in a reply, where 元 is part of 美元."""
    return {value, value.replace("_", " ")} | {n for n in common_names(value) if len(n) > 1}


# Names people use for what enums often hold: ISO 4217 currencies, ISO 639-1 languages, units of
# measure. Each group names one thing; an option named by any of a group's names is named by all.
_NAME_GROUPS: tuple[tuple[str, ...], ...] = (
    ("CNY", "人民币", "元", "rmb", "yuan", "renminbi", "chinese yuan"),
    ("USD", "美元", "美金", "dollar", "us dollar"), ("EUR", "欧元", "euro"),
    ("JPY", "日元", "日币", "yen"), ("GBP", "英镑", "pound", "sterling"),
    ("HKD", "港币", "港元", "hong kong dollar"), ("KRW", "韩元", "won"),
    ("AUD", "澳元", "australian dollar"), ("CAD", "加元", "canadian dollar"),
    ("SGD", "新加坡元", "新币", "singapore dollar"), ("CHF", "瑞士法郎", "swiss franc"),
    ("TWD", "新台币", "台币"), ("RUB", "卢布", "ruble", "rouble"), ("INR", "卢比", "rupee"),
    ("THB", "泰铢", "baht"),
    ("zh", "中文", "汉语", "chinese", "mandarin", "简体"), ("en", "英文", "英语", "english"),
    ("ja", "日文", "日语", "japanese"), ("ko", "韩文", "韩语", "korean"),
    ("fr", "法文", "法语", "french"), ("de", "德文", "德语", "german"),
    ("es", "西班牙语", "西班牙文", "spanish"), ("ru", "俄文", "俄语", "russian"),
    ("it", "意大利语", "italian"), ("pt", "葡萄牙语", "portuguese"), ("ar", "阿拉伯语", "arabic"),
    ("vi", "越南语", "vietnamese"), ("th", "泰语", "thai"),
    ("km", "kilometer", "kilometre", "公里", "千米"), ("meter", "metre", "米"),
    ("cm", "centimeter", "centimetre", "厘米", "公分"), ("mm", "millimeter", "millimetre", "毫米"),
    ("mile", "mi", "英里"), ("ft", "foot", "feet", "英尺"), ("inch", "inches", "英寸"),
    ("yard", "yd", "码"), ("kg", "kilogram", "公斤", "千克"), ("gram", "克"),
    ("lb", "lbs", "pound", "磅"), ("oz", "ounce", "盎司"),
    ("celsius", "°c", "centigrade", "摄氏", "摄氏度"), ("fahrenheit", "°f", "华氏", "华氏度"),
    ("kelvin", "开尔文"), ("liter", "litre", "升"), ("ml", "milliliter", "millilitre", "毫升"),
    ("gallon", "gal", "加仑"),
)


def _by_name(groups: Iterable[tuple[str, ...]]) -> dict[str, set[str]]:
    """Each name (casefolded) -> every name of the groups it is in ("pound": GBP's and lb's)."""
    out: dict[str, set[str]] = {}
    for group in groups:
        for name in group:
            out.setdefault(name.casefold(), set()).update(group)
    return out


_COMMON = _by_name(_NAME_GROUPS)


def common_names(value: str) -> set[str]:
    """Other names of what `value` names ("人民币" and "rmb" for "CNY", "km" for "kilometers"). One
    of one character (元, 米) is part of too many other words (美元, 玉米): it names the value only
    as a word of its own (`_name_found`)."""
    key = value.strip().casefold()
    return set(_COMMON.get(key) or _COMMON.get(_stem(key)) or ())
