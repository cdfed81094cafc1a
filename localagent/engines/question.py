"""One question while an engine answers it: the bookkeeping both engines share.

An engine decides what to ask the model and how to read its reply; this object keeps the rest
the same for both: the turn count and its limit, the tool calls (through one CallRunner: checks,
grounding, loop guard, approval, dry run), what counts as given (evidence), the events, the
timings and usage, and how the question ends (an answer, a question back, the turn limit, an
error, Ctrl-C).
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable, Iterator, Sequence

from .. import react
from ..config import AgentConfig
from ..errors import AgentError
from ..grounding import ConfirmChoice, Evidence, flag_touched
from ..replies import Language, Translate, conversation_language, dry_run_answer, language_of, turn_limit_answer
from ..tools import Tool, Toolbox
from ..translation import Chat, ParameterNames
from .base import Approver, Events, History, Message, RunResult, Stopwatch, ToolCallRecord, history_messages
from .execution import CallRunner, ask_for_missing, held_back, history_evidence, user_answer, would_have_run


@dataclass
class Question:
    text: str
    result: RunResult
    runner: CallRunner
    toolbox: Toolbox
    events: Events
    max_turns: int
    evidence: list[str]  # what the user said and tools returned: grounding looks here
    history: list[Message] = field(default_factory=list)  # the earlier exchanges as the model reads them
    language: Language = "en"  # the user's: what the agent itself says is written in it
    today: date = field(default_factory=date.today)  # relative dates are resolved against it
    held: str | None = None  # the tool whose call the last exchange held back for a missing value (held_back)
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def start(cls, text: str, history: History | None, toolbox: Toolbox, agent: AgentConfig, *,
              approve: Approver, dry_run: bool, events: Events) -> "Question":
        history = history or []
        messages = history_messages(history)
        language = conversation_language(text, messages)
        runner = CallRunner(toolbox, approve=approve, dry_run=dry_run, grounding=agent.grounding,
                            max_observation_chars=agent.max_observation_chars, language=language)
        return cls(text, RunResult(), runner, toolbox, events, agent.max_turns,
                   evidence=history_evidence(history) + [text], history=messages, language=language,
                   held=held_back(history))

    # --- turns and calls ------------------------------------------------------------------

    def next_turn(self) -> bool:
        """Count one more request of the model; False when agent.max_turns are used up."""
        if self.result.turns >= self.max_turns:
            return False
        self.result.turns += 1
        self.events.on_turn(self.result.turns)
        return True

    def retake_turn(self) -> None:
        """The turn's reply was not taken (a tool insisted on after it was found unrelated): the
        next turn, which calls the tool the model chose instead, counts in its place."""
        self.result.turns -= 1

    def run_call(self, name: str, arguments: Any, parse_error: str | None = None,
                 confirm: ConfirmChoice | None = None, serves: Callable[[Tool], bool] | None = None) -> ToolCallRecord:
        """One requested call through the CallRunner, recorded, timed and reported. Its time goes
        to tools_s, less what the checks that ask the model took (they count in checks_s)."""
        timings, started, checks_before = self.result.timings, time.perf_counter(), self.result.timings.checks_s
        record = self.runner.run(name, arguments, self.given(), parse_error=parse_error,
                                 on_start=self.events.on_tool_start, confirm=confirm, serves=serves)
        timings.tools_s += time.perf_counter() - started - (timings.checks_s - checks_before)
        self.result.tool_calls.append(record)
        if record.executed and record.result and not record.error:
            self.evidence.append(record.result)  # ids a tool returned may be used in later calls
        self.events.on_tool_end(record)
        return record

    def flag_said(self, tool: Tool, name: str, spec: dict[str, Any], names: ParameterNames, chat: Chat) -> bool:
        """Whether a Chinese user's words touch a flag the tool describes in English only, by the
        Chinese name the model gives it with the tool in view (`flag_touched`): CC-CEDICT has no
        随机播放 for `shuffle`. The name is the model's reading of the tool, not of the question:
        asked for the user's words for `shuffle`, the bundled 1.5B said "not said" to 随机播放; asked
        whether the user had said a flag, it gave `shuffle` a yes of 0.40 there and `duplex` 0.78
        for "打两份，要彩色的" (bench/README.md, "Flags nobody switched on")."""
        if self.language != "zh" or language_of(f"{name} {spec.get('description') or ''}") == "zh":
            return False
        with Stopwatch(self.result.timings, "checks_s"):
            chinese = names.flag(chat, tool, name, spec)
        return chinese is not None and flag_touched(name, {"description": chinese}, f"{tool.name} {tool.description}",
                                                     self.given())

    def given(self) -> Evidence:
        """What counts as given now: what the user said and tools returned so far, and today."""
        return Evidence(tuple(self.evidence), self.today)

    @contextlib.contextmanager
    def llm_request(self) -> Iterator[Callable[[int | None, int | None], None]]:
        """Times a request of the model; what it yields adds the request's token counts."""
        with Stopwatch(self.result.timings, "llm_s"):
            yield self.result.usage.add

    # --- how it ends ----------------------------------------------------------------------

    def answered(self, answer: str, trace: str) -> None:
        """The model's answer (as the user reads it, see user_answer) and the steps to remember."""
        self.result.answer = user_answer(answer, self.result.tool_calls, self.language, self.toolbox.names())
        self.result.stopped, self.result.trace = "answer", trace

    def ask_for_missing(self, refused: ToolCallRecord, translate: Translate, earlier: Sequence[str] | None = ()) -> None:
        """A call was refused for values the user did not give: the agent asks for them itself
        (the model never reads the refusal), in the user's words where the tool has none (`translate`).
        Memory keeps the question's `earlier` steps, the call held back (`react.held_call`) and the
        agent's question; None: the answer alone (function calling)."""
        self.result.answer = ask_for_missing(refused, self.toolbox, self.language, translate)
        self.result.stopped = "answer"
        if earlier is not None:
            self.result.trace = "\n".join([*earlier, react.held_call(refused), react.final_answer(self.result.answer)])

    def at_turn_limit(self) -> None:
        """The model was still calling tools when the turns ran out."""
        self.result.stopped = "max_turns"
        if dry := would_have_run(self.result.tool_calls):
            self.result.answer = dry_run_answer(dry, self.language)
        else:
            ran = [r for r in self.result.tool_calls if r.executed]
            last = next((r.result for r in reversed(ran) if r.status == "ran" and r.result), None)
            self.result.answer = turn_limit_answer(self.result.turns, [(r.name, r.arguments) for r in ran], last,
                                                   self.language)

    @contextlib.contextmanager
    def ending(self) -> Iterator["Question"]:
        """Around the engine's work: Ctrl-C and our errors (the endpoint's, mostly) end the question
        with a result that says so, and the total time is taken whatever happens."""
        try:
            yield self
        except KeyboardInterrupt:
            self.result.stopped, self.result.error = "interrupted", "interrupted by the user"
        except AgentError as e:  # endpoint down, timeout, HTTP error: the result says which
            self.result.fail(e)
        finally:
            self.result.timings.total_s = time.perf_counter() - self.started
