"""Where a model's text has fallen into a loop.

At temperature 0 a small model sometimes writes the same words over and over until `max_tokens`:
"It was the first time that citizens had the right to participate in the government." as an
answer, `0.3, 0.1, 0.2, …` as a call's argument, "0.0000…" as a number. The user then waits for
hundreds of tokens (20–70 s on a 2-core machine) and reads the loop. Read as it is written
(llm.py), the reply is stopped where the loop shows and cut after its first round.

A loop is the end of the text repeating itself exactly: the same round (holding a letter or a digit)
written three times in a row or more, 80 characters in all. A list whose items share their words
is not one (its items differ somewhere), nor is a table's `| --- | --- |` (no letter or digit).
"""
from __future__ import annotations

import re

ROUNDS = 3  # a round written this many times in a row
SPAN = 80  # characters, all rounds together
LONGEST_ROUND = 400  # characters

# Where a sentence or a line ends: the cut keeps whole sentences of the round where it can.
_SENTENCE_END = re.compile(r"[.!?;](?:\s+|$)|[。！？；\n]\s*")  # "0.3" ends nothing


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
        return None if cut is None else self.length - len(tail) + cut

    def text(self) -> str:
        return "".join(self.parts)
