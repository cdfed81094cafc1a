"""Where a model's text falls into a loop (repetition.py), on what the bundled 1.5B wrote in
bench runs and on text that repeats itself without being a loop."""
from __future__ import annotations

import pytest

from localagent.repetition import COUNTED_ROUNDS, LoopWatch, counting_cut, loop_cut

ATHENS = ("1. The Athenian Assembly was the first democratic government in the world. It was established "
          "in 508 BCE. It was the first time that citizens had the right to vote on important issues. ")
ROUND = "It was the first time that citizens had the right to participate in the government. "


def kept(text: str) -> str:
    cut = loop_cut(text)
    assert cut is not None, text
    return text[:cut]


# --- loops the bundled model wrote (BFCL irrelevance_171, _21, _129, _206 in bench/results) ------

def test_a_sentence_written_over_and_over_keeps_whole_sentences_and_no_second_round():
    text = ATHENS + ROUND * 30 + "It was the first time that citi"
    assert kept(text) == ATHENS + ROUND  # one round, though it shares its start with the sentence before it


def test_a_number_that_never_ends_keeps_its_start():
    assert kept("Final Answer: 0." + "0" * 400) == "Final Answer: 0.0"


def test_an_argument_list_that_repeats_is_cut_after_one_round():
    text = 'Action Input: {"traits": [0.3, 0.2, 0.4, 0.1, 0.2, 0.3' + ", 0.1, 0.2, 0.3" * 40
    assert kept(text) == 'Action Input: {"traits": [0.3, 0.2, 0.4, 0.1, 0.2, 0.3'
    lakers = '{"team_name": "Los Angeles Lakers", "details": [' + '"roster", "results", "upcoming_matches", ' * 20
    assert kept(lakers) == '{"team_name": "Los Angeles Lakers", "details": ["roster", "results", "upcoming_matches", '


def test_a_chinese_loop():
    text = "建议您：" + "多喝水，早点休息。" * 12
    assert kept(text) == "建议您：多喝水，早点休息。"


def test_a_loop_shows_once_its_round_is_written_a_third_time():
    assert loop_cut(ATHENS + ROUND * 2 + ROUND[:-10]) is None  # said twice: not yet a loop
    assert loop_cut(ATHENS + ROUND * 3) is not None


# --- text that repeats itself and is no loop ---------------------------------------------------

@pytest.mark.parametrize("text", [
    # a list whose items share their words
    "- Order 1001: shipped, expected to arrive tomorrow by noon.\n"
    "- Order 1002: shipped, expected to arrive tomorrow by noon.\n"
    "- Order 1003: shipped, expected to arrive tomorrow by noon.\n"
    "- Order 1004: shipped, expected to arrive tomorrow by noon.\n",
    # a table's rule and rows that differ only in their numbers
    "| day | weather | high |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    + "".join(f"| 12-0{d} | sunny | 2{d} |\n" for d in range(1, 8)),
    # numbers a user gave
    '{"values": [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6, 2, 6, 4, 3, 3, 8, 3, 2, 7, 9]}',
    # a rule drawn with one character
    "Summary\n" + "=" * 100 + "\nAll three parcels arrived.",
    # the same sentence twice
    "已为您续费。已为您续费。",
    "",
])
def test_repetition_that_is_not_a_loop(text):
    assert loop_cut(text) is None


def test_a_stream_is_looked_at_as_it_arrives_and_cut_where_the_whole_text_loops():
    """LoopWatch looks only at the end of a long reply, and its cut is a place in the whole text."""
    before = " ".join(f"step {i * 37 % 101}." for i in range(600)) + " "  # 5,000 characters: no loop, no counting
    text = before + ATHENS + ROUND * 6
    watch, cut = LoopWatch(), None
    for i in range(0, len(text), 3):  # deltas of a few characters, as a server sends them
        if (cut := watch.add(text[i:i + 3])) is not None:
            break
    assert cut is not None and watch.length < len(text)  # seen before the reply ends
    assert watch.text()[:cut] == before + ATHENS + ROUND
    assert watch.add("") is None


# --- counting: rounds that differ only in numbers that step (BFCL irrelevance_149) -------------

PANTONE = '{"target_color": "sky blue", "available_colors": [' + ", ".join(f'"Pantone {n}"' for n in range(270, 330))


def stopped(text: str, delta: int = 7) -> str | None:
    """What is kept of `text` streamed in deltas, where LoopWatch stops it; None when it never does."""
    watch = LoopWatch()
    for i in range(0, len(text), delta):
        if (cut := watch.add(text[i:i + delta])) is not None:
            return watch.text()[:cut]
    return None


def test_counting_in_a_calls_arguments_is_stopped_after_whole_rounds():
    kept_text = stopped(PANTONE)
    assert kept_text is not None and kept_text.endswith('", ') and len(kept_text) < len(PANTONE) // 2
    assert kept_text.count('"Pantone ') >= COUNTED_ROUNDS  # every whole round written is kept


def test_a_numbered_list_of_one_item_over_and_over_is_counting():
    looping = "Here are sushi places in Tokyo:\n1. Sushi Sake\n" + "".join(f"{n}. Sushi Nakamura\n" for n in range(2, 60))
    assert stopped(looping).endswith("Sushi Nakamura\n") and len(stopped(looping)) < len(looping) // 2
    assert counting_cut("第1天：休息\n" * 1 + "".join(f"第{n}天：休息\n" for n in range(2, 30))) is not None


@pytest.mark.parametrize("text", [
    # a multiplication table, and a week's days: they count, but not for long
    "".join(f"7 x {n} = {7 * n}\n" for n in range(1, 13)),
    "".join(f"| 2026-12-0{d} | sunny | 2{d} °C |\n" for d in range(1, 8)),
    # numbers that do not step evenly: cash flows, an account number, digits of pi
    "Cash flows: " + ", ".join(f"${n}" for n in [-100, 40, 60, 80, 100, 120, 90, 60, 30] * 3),
    "Account 6222 0211 0000 1234 5678 9012 3456 7890 1234 5678 9012 3456 7890 1234 5678 9012 3456",
    # counting without a word: a user's list of numbers
    ", ".join(str(n) for n in range(1, 100)),
])
def test_text_that_counts_a_little_or_not_at_all_is_not_stopped(text):
    assert stopped(text) is None and counting_cut(text) is None


def test_a_reply_read_whole_is_not_cut_for_counting():
    """A reply that ended by itself counted no further than it meant to (loop_cut: exact loops only)."""
    table = "".join(f"7 x {n} = {7 * n}\n" for n in range(1, 31))
    assert loop_cut(table) is None
