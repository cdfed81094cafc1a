"""Multi-turn memory: the exchanges of a chat, as records (Exchange), from which the prompt's
history is rendered and grounding takes what earlier tools returned."""
from __future__ import annotations

from .engines.base import Engine, Exchange, History, Message, RunResult, history_messages
from .errors import ContextOverflow


class Conversation:
    """Each question sees the earlier exchanges, the latest `max_exchanges` of them: the questions
    and how they were answered (the ReAct trace, tool calls and results included: a model shown
    only answers goes on "answering" follow-ups without calling a tool)."""

    def __init__(self, engine: Engine, history: History | None = None, max_exchanges: int = 0):
        self.engine, self.max_exchanges = engine, max_exchanges
        self.forgotten = 0  # exchanges the latest question had to forget to fit the context
        self.exchanges: list[Exchange] = exchanges_of(history or [])
        self._forget_oldest()

    @property
    def history(self) -> list[Message]:
        """The exchanges as the chat messages the model reads (what /save writes)."""
        return history_messages(self.exchanges)

    def ask(self, question: str) -> RunResult:
        self.forgotten = 0
        result = self.engine.run(question, history=self.exchanges)
        # The prompt outgrew the model's context: forget the oldest exchange and ask again. Only
        # while no tool ran, so that asking again cannot repeat a side effect.
        while (result.stopped == "error" and not result.tool_calls and self.exchanges
               and result.error_type is not None and issubclass(result.error_type, ContextOverflow)):
            del self.exchanges[0]
            self.forgotten += 1
            result = self.engine.run(question, history=self.exchanges)
        if result.stopped == "answer":
            self.exchanges.append(Exchange(question, result.trace or result.answer, list(result.tool_calls)))
            self._forget_oldest()
        return result

    def _forget_oldest(self) -> None:
        if self.max_exchanges:  # so that the prompt keeps fitting the model's context
            del self.exchanges[:-self.max_exchanges]

    def reset(self) -> None:
        self.exchanges.clear()


def exchanges_of(history: History) -> list[Exchange]:
    """Exchanges as they are, and chat messages (a /save file) paired into exchanges known only as
    text: a user message starts one, the assistant's reply completes it."""
    exchanges: list[Exchange] = []
    for item in history:
        if isinstance(item, Exchange):
            exchanges.append(item)
        elif item.get("role") == "user":
            exchanges.append(Exchange(str(item.get("content") or ""), ""))
        elif item.get("role") == "assistant":
            if not exchanges or exchanges[-1].reply or exchanges[-1].tool_calls is not None:
                exchanges.append(Exchange("", ""))
            exchanges[-1].reply = str(item.get("content") or "")
    return exchanges
