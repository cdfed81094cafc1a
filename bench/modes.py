"""The engine x mode combinations the bench compares, as changes to a loaded Config."""
from __future__ import annotations

from localagent.engines.factory import create_engine
from localagent.config import Config
from localagent.endpoint import Endpoint
from localagent.llm import LLMClient
from localagent.tools import Toolbox

from .alternatives import ALTERNATIVES, UNCHECKED

# mode -> (agent.engine, agent.constrained or None to keep the config's, llm_config.is_function_call)
MODES: dict[str, tuple[str, str | None, bool]] = {
    "native": ("native", "auto", False),                  # ReAct, arguments under the tool's JSON schema
    "native-unconstrained": ("native", "off", False),     # ReAct, free text
    "roleplay": ("roleplay", None, False),                # modelscope-agent's RolePlay
    "native-fc": ("native", None, True),                  # OpenAI function calling (server's tool template)
    "native-whole-grammar": ("native", "on", False),      # one grammar over the whole reply (call or answer)
    "native-forced": ("native", "on", False),             # the reply must be a call (like tool_choice=required)
    UNCHECKED: ("native", "auto", False),               # no grounding, no relevance check: their time cost
}
DEFAULT_MODES = ["native", "native-unconstrained", "roleplay"]


def make_engine(mode: str, config: Config, api_base: str, toolbox: Toolbox, **kwargs):
    """The engine for a mode: create_engine's, or one of the alternatives measured against it."""
    if mode not in ALTERNATIVES:
        return create_engine(config, api_base, toolbox, **kwargs)
    kind = LLMClient(config.llm_config, api_base).probe().kind
    return ALTERNATIVES[mode](Endpoint(config.llm_config, api_base, kind), toolbox, config.agent, **kwargs)


def parse_modes(values: list[str] | None) -> list[str]:
    """--engine a,b --engine c -> [a, b, c]; unknown names raise ValueError."""
    modes = [m.strip() for v in values or [] for m in v.split(",") if m.strip()] or list(DEFAULT_MODES)
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ValueError(f"unknown --engine {', '.join(unknown)}; choose from {', '.join(MODES)}")
    return list(dict.fromkeys(modes))


def configure(config: Config, mode: str, max_turns: int | None = None) -> Config:
    """A copy of `config` set up for `mode` (and `max_turns`, if given)."""
    engine, constrained, fc = MODES[mode]
    cfg = config.model_copy(deep=True)
    cfg.agent.engine = engine
    if constrained is not None:
        cfg.agent.constrained = constrained
    cfg.llm_config.is_function_call = fc
    if max_turns is not None:
        cfg.agent.max_turns = max_turns
    return cfg
