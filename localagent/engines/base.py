"""The contract every engine keeps (Engine): one question in, one RunResult out."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, Protocol, Sequence, Union

from ..errors import AgentError, IncompleteReply

if TYPE_CHECKING:
    from ..config import AgentConfig
    from ..endpoint import Endpoint
    from ..tools import Tool, Toolbox

Stopped = Literal["answer", "max_turns", "error", "interrupted"]
# What came of a call: it ran (or would have, in a dry run), it ran and failed, or it never ran.
CallStatus = Literal["ran", "dry_run", "failed", "timed_out", "invalid", "unknown_tool", "refused",
                     "repeated", "not_approved"]
EXECUTED: frozenset[str] = frozenset({"ran", "dry_run", "failed", "timed_out"})
# Why a call was refused: a required value the user did not give, or a tool that does not do
# what the user asked (the model reached for the nearest tool, e.g. a stock quote for a sum).
Refusal = Literal["missing", "unrelated"]


@dataclass
class ToolCallRecord:
    """One tool call as the model asked for it and what came of it."""

    name: str
    arguments: dict[str, Any]
    status: CallStatus = "ran"
    result: str | None = None
    error: str | None = None  # why it did not run or failed, as the model reads it
    refusal: Refusal | None = None  # refused: why
    missing: list[str] = field(default_factory=list)  # refused for "missing": the values not given
    repeats: int | None = None  # repeated: the number (from 1) of the earlier call of the question

    @property
    def executed(self) -> bool:
        return self.status in EXECUTED


Message = dict[str, Any]  # a chat message: {"role", "content", ...}


@dataclass
class Exchange:
    """One earlier question and what came of it, as memory keeps it. The prompt is rendered from
    it (messages); grounding takes the tool results from its records, never from the text."""

    question: str
    reply: str  # what the model reads back: the ReAct trace (steps and observations), or the answer
    # What the tools did; None when the exchange is known only as text (a /save file), whose
    # observations are then read back from `reply`.
    tool_calls: list[ToolCallRecord] | None = None

    def messages(self) -> list[Message]:
        return [{"role": "user", "content": self.question}, {"role": "assistant", "content": self.reply}]


# What an engine is given before a question: exchanges, or chat messages (a bench case, a test).
History = Sequence[Union[Message, Exchange]]


def history_messages(history: History) -> list[Message]:
    """The history as the chat messages the model reads."""
    return [m for item in history for m in (item.messages() if isinstance(item, Exchange) else [item])]


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Requests whose tokens the server did not report, so not in the counts above: a stream the
    # client stopped (a loop, repetition.py) ends before its usage, and some servers send none.
    uncounted_requests: int = 0

    def add(self, prompt: int | None, completion: int | None) -> None:
        """One request's token counts; None where the server did not report them."""
        self.prompt_tokens += prompt or 0
        self.completion_tokens += completion or 0
        self.uncounted_requests += prompt is None or completion is None

    def add_usage(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.uncounted_requests += other.uncounted_requests


@dataclass
class Timings:
    total_s: float = 0.0
    llm_s: float = 0.0  # every request to the model, the checks' included
    tools_s: float = 0.0  # the tools themselves
    checks_s: float = 0.0  # asking the model about a call before it runs (relevance, an option's name)


@dataclass
class RunResult:
    answer: str = ""
    # The ReAct steps as the model wrote them, with the tool results and the answer (empty in
    # function-calling mode). Memory keeps this rather than the bare answer: a model that sees
    # only answers in its history goes on "answering" follow-ups without calling a tool.
    trace: str = ""
    stopped: Stopped = "answer"
    turns: int = 0
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    timings: Timings = field(default_factory=Timings)
    error: str | None = None
    partial: str = ""  # the text of a reply that broke off (stopped: error); not an answer
    # What kind of error `error` is (ContextOverflow...), for the code that acts on it; not in --json.
    error_type: type[AgentError] | None = field(default=None, repr=False)

    def fail(self, error: AgentError) -> None:
        """The question ended in `error` (the endpoint failed, mostly)."""
        self.stopped, self.error, self.error_type = "error", str(error), type(error)
        self.partial = error.partial if isinstance(error, IncompleteReply) else ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["error_type"]
        data["timings"] = {k: round(v, 3) for k, v in data["timings"].items()}
        return data


class Stopwatch:
    """Adds the wall time of a `with` block to one field of Timings."""

    def __init__(self, timings: Timings, field_name: str):
        self.timings, self.field_name = timings, field_name

    def __enter__(self) -> "Stopwatch":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self.start
        setattr(self.timings, self.field_name, getattr(self.timings, self.field_name) + elapsed)


class Events:
    """What an engine reports while it works; the terminal renderer overrides these. No-ops here."""

    streams = False  # True: the engine streams text deltas to on_text

    def on_turn(self, turn: int) -> None: ...
    def on_text(self, delta: str) -> None: ...
    def on_tool_start(self, record: ToolCallRecord) -> None: ...
    def on_tool_end(self, record: ToolCallRecord) -> None: ...


class Approver(Protocol):
    def __call__(self, tool: Tool, arguments: dict[str, Any]) -> str | None:
        """None to run the call, or the reason it may not run."""


def approve_all(tool: Tool, arguments: dict[str, Any]) -> str | None:
    return None


class Engine(Protocol):
    """What the CLI, the REPL, batch mode and the bench use; NativeEngine and RolePlayEngine are
    built alike (see localagent.session.create_engine) and keep nothing between questions."""

    toolbox: Toolbox

    def __init__(self, endpoint: Endpoint, toolbox: Toolbox, agent: AgentConfig, *,
                 approve: Approver = approve_all, dry_run: bool = False, events: Events | None = None) -> None: ...

    def system_prompt(self, today: date | None = None) -> str:
        """The system message the engine sends (the prompt cache keys on it)."""

    def run(self, question: str, history: History | None = None) -> RunResult:
        """Answer one question after `history` (earlier exchanges, or chat messages)."""
