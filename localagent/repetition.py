"""Where a model's text has fallen into a loop.

At temperature 0 a small model sometimes writes the same words over and over until `max_tokens`:
"It was the first time that citizens had the right to participate in the government." as an
answer, `0.3, 0.1, 0.2, …` as a call's argument, "0.0000…" as a number. The user then waits for
hundreds of tokens (20–70 s on a 2-core machine) and reads the loop. Read as it is written
(llm.py), the reply is stopped where the loop shows and cut after its first round.

A loop is the end of the text repeating itself exactly: the same round (holding a letter or a digit)
written three times in a row or more, 80 characters in all. A list whose items share their words
is not one (its items differ somewhere), nor is a table's `| --- | --- |` (no letter or digit).

Counting is one too: a round (holding a letter) that differs from the one before only in its
numbers, each stepping by the same amount every round, `"Pantone 270", "Pantone 271", …` as a
call's argument. A list may rightly count for a while (a table of a week's days, a multiplication
table), so it takes COUNTED_ROUNDS rounds, and the cut keeps every whole round written; and only
a reply being written is stopped for it.
"""
from __future__ import annotations

import re
from typing import Iterable

ROUNDS = 3  # a round written this many times in a row
SPAN = 80  # characters, all rounds together
LONGEST_ROUND = 400  # characters
COUNTED_ROUNDS = 16  # a round whose numbers step, written this many times in a row

# Where a sentence or a line ends: the cut keeps whole sentences of the round where it can.
_SENTENCE_END = re.compile(r"[.!?;](?:\s+|$)|[。！？；\n]\s*")  # "0.3" ends nothing
_DIGITS = re.compile(r"\d+")


def loop_cut(text: str) -> int | None:
    """Where to cut `text` so that its loop is left out but for the first round; None when the text
    does not end in a loop."""
    for period in range(1, min(LONGEST_ROUND, len(text) // ROUNDS) + 1):
        need = max((ROUNDS - 1) * period, SPAN - period)  # the tail that equals itself shifted by a round
        if need + period > len(text) or text[-need:] != text[-need - period:-period]:
            continue
        start = len(text) - need - period  # the first round begins at or before here
        while start > 0 and text[start - 1] == text[start - 1 + period]:
            start -= 1
        if not any(c.isalnum() for c in text[start:start + period]):
            continue
        # The first round runs from `start`, which may fall inside a sentence: the cut goes to the
        # first sentence end after one round, where the round has one.
        ends = [m.end() for m in _SENTENCE_END.finditer(text, start, start + 2 * period) if m.end() - start >= period]
        return ends[0] if ends else start + period
    return None


def counting_cut(text: str) -> int | None:
    """The end of the last whole round when `text` ends counting; None when it does not. The text
    is read with each run of digits as one mark, so that "Pantone 99" and "Pantone 100" read alike.
    Only a reply being written is looked at for counting (LoopWatch): one that ended by itself
    counted no further than it meant to."""
    pieces: list[str] = []
    where: list[int] = []  # where each character of `masked` is in `text`, and its end
    done = 0
    for m in _DIGITS.finditer(text):
        pieces += [text[done:m.start()], "0"]
        where += [*range(done, m.start()), m.start()]
        done = m.end()
    pieces.append(text[done:])
    where += range(done, len(text) + 1)
    masked = "".join(pieces)
    n = len(masked)
    for period in range(2, n // COUNTED_ROUNDS + 1):
        need = (COUNTED_ROUNDS - 1) * period
        if masked[-need:] != masked[-need - period:-period]:
            continue
        start = n - need - period
        while start > 0 and masked[start - 1] == masked[start - 1 + period]:
            start -= 1
        rounds = (n - start) // period
        if not any(c.isalpha() for c in masked[start:start + period]) or rounds * period < SPAN:
            continue
        if _steps(text[where[start + r * period]:where[start + (r + 1) * period]] for r in range(rounds)):
            end = where[start + rounds * period]
            # a round read from where it first repeats may begin with the sentence end of the one before
            return stop.end() if (stop := _SENTENCE_END.match(text, end)) else end
    return None


def _steps(rounds: Iterable[str]) -> bool:
    """Whether each number of the rounds steps by the same amount every round, and some do not
    stay the same."""
    numbers = [[int(n) for n in _DIGITS.findall(r)] for r in rounds]
    columns = list(zip(*numbers))
    if not columns:
        return False
    steps = [{b - a for a, b in zip(column, column[1:])} for column in columns]
    return all(len(step) == 1 for step in steps) and any(step != {0} for step in steps)


class LoopWatch:
    """A streamed reply's text as it arrives, looked at for a loop every LOOK_EVERY characters:
    often enough to stop one a round or so after it shows, seldom enough to cost nothing. Only the
    end is looked at (TAIL characters), so a long reply costs no more per look than a short one."""

    LOOK_EVERY = 32
    TAIL = (ROUNDS + 2) * LONGEST_ROUND  # the longest loop as it shows, and the sentence it starts in

    def __init__(self) -> None:
        self.parts: list[str] = []  # joined when asked for: a long reply in small deltas stays linear
        self.length = self._looked = 0

    def add(self, delta: str) -> int | None:
        """Where to cut the text so far, now that it ends in a loop; None while it does not."""
        if not delta:
            return None
        self.parts.append(delta)
        self.length += len(delta)
        if self.length - self._looked < self.LOOK_EVERY:
            return None
        self._looked = self.length
        tail = "".join(self.parts[-self.TAIL:])[-self.TAIL:]  # a delta holds one character or more
        cut = loop_cut(tail)
        if cut is None:
            cut = counting_cut(tail)
        return None if cut is None else self.length - len(tail) + cut

    def text(self) -> str:
        return "".join(self.parts)
