"""Building the configured engine for an endpoint: the one place that knows both engines."""
from __future__ import annotations

import threading
from typing import Any

from .. import endpoint
from ..config import Config
from ..constrain import KINDS
from ..errors import ConfigError, EndpointError
from ..llm import LLMClient
from ..tools import Toolbox
from ..translation import ParameterNames, names_file
from .base import Approver, Engine, Events, approve_all

_prompt_cache_lock = threading.Lock()


def create_engine(config: Config, api_base: str, toolbox: Toolbox, *, approve: Approver = approve_all,
                  dry_run: bool = False, events: Events | None = None) -> Engine:
    """The configured engine, built for the server at api_base (probed once per process)."""
    kind = endpoint.known_kind(api_base)
    if kind is None:
        try:
            kind = endpoint.remember_kind(api_base, LLMClient(config.llm_config, api_base).probe().kind)
        except EndpointError:
            kind = "unknown"  # some servers have no /models
    if config.agent.engine == "native" and config.agent.constrained == "on" and kind not in KINDS:
        raise ConfigError(f"agent.constrained is on, but the server at {api_base} is neither "
                          f"llama.cpp nor vLLM; use auto or off")
    engine_class = engine_named(config.agent.engine)
    engine = engine_class(endpoint.Endpoint(config.llm_config, api_base, kind), toolbox, config.agent,
                          approve=approve, dry_run=dry_run, events=events)
    if (server := endpoint.embedded_server(api_base)) is not None:
        # a server of ours: its model is known by its key, so the names it gave hold for the next command
        engine.names = ParameterNames(names_file(server.key))
        if config.agent.engine == "native":
            _use_prompt_cache(server, engine)
    return engine


def engine_named(name: str) -> type[Engine]:
    if name == "roleplay":
        from .roleplay import RolePlayEngine  # imports modelscope-agent: seconds

        return RolePlayEngine
    from .native import NativeEngine

    return NativeEngine


def _use_prompt_cache(server: Any, engine: Any) -> None:
    """A server this process started has an empty KV cache: fill it with the system prompt's saved
    state (if a command saved it), before the first request; open_endpoint saves it otherwise."""
    if not server.server.prompt_cache:
        return
    from .. import prompt_cache

    tools = engine.toolbox.schemas() if engine.function_calling else None
    filename = prompt_cache.state_file(server.key, engine.system_prompt(), tools)
    with _prompt_cache_lock:  # batch workers create engines at once: one restore
        if server.fresh and server.prompt_file is None:
            prompt_cache.restore(server.url, filename)
        server.prompt_file = filename
    engine.slot_server = server.url
