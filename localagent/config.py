"""The YAML config: pydantic models, ${ENV} expansion, and one-line error messages."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .errors import ConfigError

DEFAULT_INSTRUCTION = (
    "You are a helpful assistant that can use tools. Call a tool only when the user's request "
    "needs it and every required value is given by the user; if a required value is missing, "
    "ask the user for it instead of guessing. Only a tool can do things: never say something was "
    "done unless a tool's result says so. Answer in the user's language."
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LLMConfig(_Strict):
    model: str
    model_server: Literal["openai"] = "openai"  # accepted but unused: the seed's configs have it
    api_base: str | None = None
    api_key: SecretStr = SecretStr("EMPTY")
    is_chat: bool = True  # accepted but unused: every request is a chat completion
    is_function_call: bool = False
    timeout: float = Field(120.0, gt=0)
    max_retries: int = Field(1, ge=0, le=10)
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(512, gt=0)

    @field_validator("api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("expected an http(s) URL such as http://127.0.0.1:8012/v1")
        return value


class AgentConfig(_Strict):
    engine: Literal["native", "roleplay"] = "native"
    max_turns: int = Field(3, ge=1, le=20)
    # Exchanges a conversation remembers (0: all); the oldest are forgotten first.
    memory: int = Field(8, ge=0)
    instruction: str = DEFAULT_INSTRUCTION
    constrained: Literal["auto", "on", "off"] = "auto"
    # Refuse calls whose id-like arguments appear nowhere in the conversation.
    grounding: bool = True
    max_observation_chars: int = Field(2000, ge=100)
    # Seconds a tool call may take (a Python tool's own `timeout` attribute wins; an MCP call past
    # it is cancelled at the server).
    tool_timeout: float = Field(60.0, gt=0)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h)?")


def parse_duration(value):
    """`30s`, `5m`, `1h`, `0` or a number of seconds -> seconds; anything else is left for pydantic."""
    if isinstance(value, str):
        m = _DURATION.fullmatch(value.strip().lower())
        if not m:
            raise ValueError("expected a duration such as 0, 30s, 5m or 1h")
        return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    return value


# The sizes each kind of speculative decoding takes (xllamacpp's CommonParamsSpeculative* fields).
SPECULATIVE_SIZES = {"none": set(), "ngram-simple": {"size_n", "size_m", "min_hits"},
                     "ngram-map-k": {"size_n", "size_m", "min_hits"}, "ngram-mod": {"n_match", "n_min", "n_max"},
                     "draft": {"n_max", "n_min"}}


class ServerConfig(_Strict):
    autostart: bool = False
    model_path: str | None = None  # None: the bundled model below
    bundled: Literal["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"] = "qwen2.5-coder-1.5b"
    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535)  # 0: any free port
    threads: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1)
    ctx_size: int = Field(4096, ge=512)
    startup_timeout: float = Field(120.0, gt=0)
    # Seconds the autostarted server stays loaded after the last command (0: stop with the command).
    keep_alive: float = Field(300.0, ge=0)
    # KV states on disk: the system prompt's, restored by a freshly started server; a question's,
    # kept while a check of its call uses the server's one slot.
    prompt_cache: bool = True
    # Speculative decoding: ngram-mod drafts what the server has generated before (a repeated
    # call, an answer's template); measured fastest on 2 CPU cores (bench/README.md, "Speculative").
    speculative: Literal["none", "ngram-simple", "ngram-map-k", "ngram-mod", "draft"] = "ngram-mod"
    speculative_sizes: dict[str, int] = {}  # that kind's sizes, e.g. {size_n: 4, size_m: 8}
    draft_model: str | None = None  # for `draft`: a GGUF with the model's tokenizer (None: the bundled 0.5B)

    @model_validator(mode="after")
    def _sizes(self):
        known = SPECULATIVE_SIZES[self.speculative]
        if unknown := sorted(set(self.speculative_sizes) - known):
            raise PydanticCustomError("speculative_sizes", "{unknown}: not a size of speculative {kind} ({known})",
                                      {"unknown": ", ".join(unknown), "kind": self.speculative,
                                       "known": ", ".join(sorted(known)) or "none"})
        return self

    @field_validator("keep_alive", mode="before")
    @classmethod
    def _duration(cls, value):
        return parse_duration(value)


class McpServerConfig(_Strict):
    """One MCP server, in the `mcpServers` entry shape of Claude Desktop, Cursor and others:
    stdio (`command`, `args`, `env`, `cwd`) or Streamable HTTP (`url`, `headers`). Env and header
    values are secrets: SecretStr keeps them out of /config, errors and logs."""
    type: Literal["stdio", "http", "streamable-http", "streamableHttp"] | None = None  # implied by command/url
    command: str | None = None
    args: list[str] = []
    env: dict[str, SecretStr] = {}
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, SecretStr] = {}
    disabled: bool = False
    # true / false: every tool of this server is read-only / side-effecting, whatever its
    # annotations say; null: the server's readOnlyHint decides (absent: side-effecting).
    read_only: bool | None = None
    # Parameters whose values the model may rightly derive rather than copy from the user (a
    # city's IANA timezone): grounding lets them pass (`x-grounded: false`, see grounding.py).
    derived_params: list[str] = []
    startup_timeout: float = Field(30.0, gt=0)  # seconds to start and answer initialize

    @model_validator(mode="after")
    def _one_transport(self) -> "McpServerConfig":
        if (self.command is None) == (self.url is None):
            raise PydanticCustomError("transport", "give either command (stdio) or url (Streamable HTTP)")
        return self


class TranscriptConfig(_Strict):
    enabled: bool = True  # every exchange appended to a JSONL file (--no-transcript: off)
    dir: str | None = None  # None: the user's data dir, e.g. ~/.local/share/localagent/transcripts


class Config(_Strict):
    llm_config: LLMConfig
    agent: AgentConfig = AgentConfig()
    server: ServerConfig = ServerConfig()
    transcript: TranscriptConfig = TranscriptConfig()
    # Not mentioned (None): the tools/ folder, as config/default.yaml says; the seed's configs have
    # only llm_config. `tools: []` (or an empty `tools:`): none.
    tools: list[str] | None = None
    mcp_servers: dict[str, McpServerConfig] = {}
    path: Path | None = Field(None, exclude=True)

    @field_validator("tools", mode="before")
    @classmethod
    def _none_is_empty(cls, value):
        return [] if value is None else value

    def tool_sources(self) -> list[str]:
        """The configured tool sources, resolved; without a `tools` key, the tools/ folder found
        beside the config or the cwd, else the one of this checkout."""
        if self.tools is not None:
            return [self.resolve(t) for t in self.tools]
        found = self.resolve("tools")
        if os.path.isdir(found):
            return [found]
        checkout = Path(__file__).resolve().parent.parent / "tools"
        return [str(checkout)] if checkout.is_dir() else []
    @field_validator("mcp_servers", mode="before")
    @classmethod
    def _no_servers(cls, value):
        return {} if value is None else value

    def resolve(self, entry: str) -> str:
        """A relative tool path is looked up in the cwd, then beside the config, then one level up."""
        if os.path.isabs(entry) or self.path is None or os.path.exists(entry):
            return entry
        for base in (self.path.parent, self.path.parent.parent):
            if (base / entry).exists():
                return str(base / entry)
        return entry  # maybe a module name


_ENV = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def _expand(value):
    """Replace ${VAR} and ${VAR:-default} in every string of the YAML tree."""
    if isinstance(value, str):
        def sub(m: re.Match) -> str:
            if m.group(2) is not None:  # ${VAR:-default}: the default when VAR is unset or empty
                return os.environ.get(m.group(1)) or m.group(2)
            if m.group(1) in os.environ:
                return os.environ[m.group(1)]
            raise ConfigError(f"environment variable {m.group(1)} is not set")
        return _ENV.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v) for v in value]
    return value


def _describe(error: dict) -> str:
    where = ".".join(str(p) for p in error["loc"])
    if error["type"] == "missing":
        return f"{where}: required key is missing"
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key"
    if error["type"] == "value_error":  # our own validators' messages, as written
        return f"{where}: {error['ctx']['error']}, got {error.get('input')!r}"
    got = error.get("input")
    # Never echo what may hold the api key: the key itself, or an llm_config that is not a mapping.
    secret = (isinstance(got, (dict, list)) or where.endswith("api_key") or where == "llm_config"
              or re.search(r"\.(env|headers|args|url)\b", where) is not None)  # MCP servers' secrets
    shown = "" if secret else f", got {got!r}"
    return f"{where}: {error['msg'].lower()}{shown}"


def _read(path: Path, what: str) -> str:
    """A text file's content, or a one-line ConfigError naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read {what} ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a UTF-8 text file (byte {e.start})") from None


def load_config(path: str | os.PathLike) -> Config:
    path = Path(path)
    try:
        raw = yaml.safe_load(_read(path, "config"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: invalid YAML{at}: {problem}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with an llm_config section")
    try:
        raw = _expand(raw)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    llm = raw.get("llm_config")
    if isinstance(llm, dict):
        # The OpenAI client's own variables fill what the file leaves out.
        if not llm.get("api_key") and os.environ.get("OPENAI_API_KEY"):
            llm["api_key"] = os.environ["OPENAI_API_KEY"]
        if not llm.get("api_base") and os.environ.get("OPENAI_BASE_URL"):
            llm["api_base"] = os.environ["OPENAI_BASE_URL"]
    try:
        config = Config.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise ConfigError(f"{path}: {_describe(first)}{more}") from None
    if config.llm_config.api_base is None and not config.server.autostart:
        raise ConfigError(f"{path}: llm_config.api_base: required unless server.autostart is true")
    config.path = path
    return config


def load_mcp_file(path: str | os.PathLike) -> dict[str, McpServerConfig]:
    """A JSON file of MCP servers as other clients write it: {"mcpServers": {name: entry}}."""
    path = Path(path)
    try:
        raw = json.loads(_read(path, "MCP servers"))
    except ValueError as e:
        raise ConfigError(f"{path}: not a JSON file ({e})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("mcpServers"), dict):
        raise ConfigError(f'{path}: expected {{"mcpServers": {{"name": {{"command": ...}}}}}}')
    try:
        servers = _expand(raw["mcpServers"])
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    configs = {}
    for name, entry in servers.items():
        try:
            configs[name] = McpServerConfig.model_validate(entry)
        except ValidationError as e:
            first = e.errors()[0]
            first = {**first, "loc": ("mcpServers", name, *first["loc"])}
            raise ConfigError(f"{path}: {_describe(first)}") from None
    return configs
