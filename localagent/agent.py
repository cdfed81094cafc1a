"""Putting the parts together: endpoint, engine and memory, for the CLI, batch mode and bench."""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Iterator

from .config import Config
from .engines.base import Events, RunResult
from .engines.execution import Approver, approve_all
from .constrain import KINDS
from .errors import ConfigError, ContextOverflow, EndpointDown, EndpointError
from .llm import LLMClient
from .tools import Toolbox

# What this process's one GET /models found behind each api_base (open_endpoint asks), so that
# create_engine, once per batch worker too, does not ask again.
_server_kinds: dict[str, str] = {}
# The embedded servers open in this process, by api_base: create_engine restores their prompt cache.
_embedded: dict[str, Any] = {}
_prompt_cache_lock = threading.Lock()


def probe(api_base: str, api_key: str = "", timeout: float = 2.0) -> str | None:
    """The server behind api_base from GET /models: "llama.cpp" or "vllm" (they name themselves
    as owner), "unknown" (an answer without that, a 404 too); None when nothing answers (or an
    HTTP 5xx: llama.cpp answers 503 while it loads the model)."""
    import httpx

    url = f"{api_base.rstrip('/')}/models"
    try:  # no TLS context for plain http: building one costs tens of ms
        response = httpx.get(url, timeout=timeout, verify=url.startswith("https:"),
                             headers={"Authorization": f"Bearer {api_key}"} if api_key else None)
    except httpx.HTTPError:
        return None
    if response.status_code >= 500:
        return None
    try:
        owners = {str(m.get("owned_by", "")).lower() for m in response.json().get("data", [])}
    except (ValueError, AttributeError, TypeError):
        owners = set()
    kind = "llama.cpp" if owners & {"llamacpp", "llama.cpp"} else "vllm" if "vllm" in owners else "unknown"
    _server_kinds[api_base] = kind
    return kind


@contextlib.contextmanager
def open_endpoint(config: Config, on_status: Callable[[str], None] = lambda s: None,
                  on_notice: Callable[[str], None] = lambda s: None) -> Iterator[str]:
    """The api_base to use: the configured one if it answers, else an embedded llama.cpp server
    (a kept one if it runs; `on_notice` hears once that a new one stays loaded)."""
    api_base = config.llm_config.api_base
    if api_base and probe(api_base, config.llm_config.api_key.get_secret_value()):
        yield api_base
        return
    if not config.server.autostart:
        raise EndpointDown(
            f"nothing answers at {api_base} and server.autostart is false: start a server "
            f"(e.g. `llamacpp/serve`) or use a config with server.autostart: true")
    from .server import running_server

    # The OpenAI client takes ~0.8 s to import; while a model loads, that costs nothing.
    threading.Thread(target=__import__, args=("openai.resources.chat",), daemon=True).start()
    with running_server(config, on_status, on_notice) as server:
        _server_kinds[server.api_base] = "llama.cpp"  # it answered /models: ours, by construction
        _embedded[server.api_base] = server
        try:
            yield server.api_base
            if server.prompt_file:  # after the command's requests: slot 0 starts with the system prompt
                from . import prompt_cache

                prompt_cache.save(server.url, server.prompt_file)
        finally:
            del _embedded[server.api_base]


def create_engine(config: Config, api_base: str, toolbox: Toolbox, *, approve: Approver = approve_all,
                  dry_run: bool = False, events: Events | None = None):
    """The configured engine. Both have `run(question, history) -> RunResult`."""
    if config.agent.engine == "roleplay":
        from .engines.roleplay import RolePlayEngine  # imports modelscope-agent: seconds

        return RolePlayEngine(config.llm_config, api_base, toolbox, config.agent, approve=approve,
                              dry_run=dry_run, events=events)
    from .engines.native import NativeEngine

    llm = LLMClient(config.llm_config, api_base)
    kind = _server_kinds.get(api_base)
    if kind is None:
        try:
            kind = llm.probe().kind
        except EndpointError:
            kind = "unknown"  # some servers have no /models
    if config.agent.constrained == "on" and kind not in KINDS:
        raise ConfigError(f"agent.constrained is on, but the server at {api_base} is neither "
                          f"llama.cpp nor vLLM; use auto or off")
    engine = NativeEngine(llm, toolbox, config.agent, server=kind, function_calling=config.llm_config.is_function_call,
                          constrained=config.agent.constrained != "off", approve=approve, dry_run=dry_run,
                          events=events)
    _use_prompt_cache(_embedded.get(api_base), engine)
    return engine


def _use_prompt_cache(server: Any, engine: Any) -> None:
    """A server this process started has an empty KV cache: fill it with the system prompt's saved
    state (if a command saved it), before the first request; open_endpoint saves it otherwise."""
    if server is None or not server.server.prompt_cache:
        return
    from . import prompt_cache

    tools = engine.toolbox.schemas() if engine.function_calling else None
    filename = prompt_cache.state_file(server.key, engine.system_prompt(), tools)
    with _prompt_cache_lock:  # batch workers create engines at once: one restore
        if server.fresh and server.prompt_file is None:
            prompt_cache.restore(server.url, filename)
        server.prompt_file = filename


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
               and result.error_type is not None and issubclass(result.error_type, ContextOverflow)):
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
