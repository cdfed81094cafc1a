"""Putting the parts together: endpoint, engine and memory, for the CLI, batch mode and bench."""
from __future__ import annotations

import contextlib
import re
from typing import Any, Callable, Iterator

from .config import Config
from .engines.base import Events, RunResult
from .engines.execution import Approver, approve_all
from .constrain import KINDS
from .errors import ConfigError, EndpointError
from .llm import LLMClient, endpoint_answers
from .tools import Toolbox

# How llama.cpp ("exceeds the available context size"), vLLM and OpenAI ("maximum context
# length") answer a prompt that does not fit.
_CONTEXT_EXCEEDED = re.compile(r"context (size|length)|context window", re.I)


@contextlib.contextmanager
def open_endpoint(config: Config, on_status: Callable[[str], None] = lambda s: None,
                  on_notice: Callable[[str], None] = lambda s: None) -> Iterator[str]:
    """The api_base to use: the configured one if it answers, else an embedded llama.cpp server
    (a kept one if it runs; `on_notice` hears once that a new one stays loaded)."""
    api_base = config.llm_config.api_base
    if api_base and endpoint_answers(api_base):
        yield api_base
        return
    if not config.server.autostart:
        raise EndpointError(
            f"nothing answers at {api_base} and server.autostart is false: start a server "
            f"(e.g. `llamacpp/serve`) or use a config with server.autostart: true")
    from .server import running_server

    with running_server(config, on_status, on_notice) as server:
        yield server.api_base


def create_engine(config: Config, api_base: str, toolbox: Toolbox, *, approve: Approver = approve_all,
                  dry_run: bool = False, events: Events | None = None):
    """The configured engine. Both have `run(question, history) -> RunResult`."""
    if config.agent.engine == "roleplay":
        from .engines.roleplay import RolePlayEngine  # imports modelscope-agent: seconds

        return RolePlayEngine(config.llm_config, api_base, toolbox, config.agent, approve=approve,
                              dry_run=dry_run, events=events)
    from .engines.native import NativeEngine

    llm = LLMClient(config.llm_config, api_base)
    try:
        kind = llm.probe().kind
    except EndpointError:
        kind = "unknown"  # some servers have no /models
    if config.agent.constrained == "on" and kind not in KINDS:
        raise ConfigError(f"agent.constrained is on, but the server at {api_base} is neither "
                          f"llama.cpp nor vLLM; use auto or off")
    return NativeEngine(llm, toolbox, config.agent, server=kind, function_calling=config.llm_config.is_function_call,
                        constrained=config.agent.constrained != "off", approve=approve, dry_run=dry_run,
                        events=events)


class Conversation:
    """Multi-turn memory: each question sees the earlier questions and how they were answered
    (the tool calls and results too, see RunResult.trace), the latest `max_exchanges` of them."""

    def __init__(self, engine: Any, history: list[dict[str, str]] | None = None, max_exchanges: int = 0):
        self.engine, self.max_exchanges = engine, max_exchanges
        self.forgotten = 0  # exchanges the latest question had to forget to fit the context
        self.history: list[dict[str, str]] = list(history or [])
        self._forget_oldest()

    def ask(self, question: str) -> RunResult:
        self.forgotten = 0
        result = self.engine.run(question, history=self.history)
        # The prompt outgrew the model's context: forget the oldest exchange and ask again. Only
        # while no tool ran, so that asking again cannot repeat a side effect.
        while (result.stopped == "error" and not result.tool_calls and self.history
               and _CONTEXT_EXCEEDED.search(result.error or "")):
            del self.history[:2]
            self.forgotten += 1
            result = self.engine.run(question, history=self.history)
        if result.stopped == "answer":
            self.history += [{"role": "user", "content": question},
                             {"role": "assistant", "content": result.trace or result.answer}]
            self._forget_oldest()
        return result

    def _forget_oldest(self) -> None:
        if self.max_exchanges:  # so that the prompt keeps fitting the model's context
            del self.history[:-2 * self.max_exchanges]

    def reset(self) -> None:
        self.history.clear()
