"""An OpenAI-style endpoint: which one to use (the configured one, or an embedded llama.cpp server),
who serves it (asked once per process), a client whose every request ends within the timeout,
and what its failures mean (errors.py's kinds, one line each).

Both engines talk through this: the native one with llm.LLMClient, the roleplay one with
modelscope-agent's OpenAi class given our client.
"""
from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import httpx

from .config import Config, LLMConfig
from .deadline import DeadlineExceeded, deadline_hooks, head_of
from .errors import ContextOverflow, EndpointDown, EndpointError, EndpointHTTPError, EndpointTimeout, IncompleteReply
from .redaction import Redactor
from .repetition import LoopWatch

# The openai client's own pool limits (httpx's default of 100 connections would queue a batch).
_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
# How llama.cpp ("exceeds the available context size"), vLLM and OpenAI ("maximum context
# length") say that a prompt does not fit: only their words tell it from other HTTP 400s.
_CONTEXT_EXCEEDED = re.compile(r"context (size|length)|context window", re.I)
# What this process's one GET /models found behind each api_base, so that building an engine
# (once per batch too) does not ask again.
_server_kinds: dict[str, str] = {}
# The embedded servers open in this process, by api_base: engines restore their prompt cache.
_embedded: dict[str, Any] = {}


@dataclass(frozen=True)
class Endpoint:
    """Where the engines send their requests, and which server answers there."""

    config: LLMConfig
    api_base: str
    kind: str = "unknown"  # "llama.cpp", "vllm" or "unknown" (see server_kind)


def server_kind(owners: set[str]) -> str:
    """llama.cpp and vLLM name themselves as the models' owner in /models."""
    return "llama.cpp" if owners & {"llamacpp", "llama.cpp"} else "vllm" if "vllm" in owners else "unknown"


def probe(api_base: str, api_key: str = "", timeout: float = 2.0) -> str | None:
    """The server behind api_base from GET /models (see server_kind; a 404 too is "unknown"); None
    when nothing answers (or an HTTP 5xx: llama.cpp answers 503 while it loads the model)."""
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
    return remember_kind(api_base, server_kind(owners))


def remember_kind(api_base: str, kind: str) -> str:
    _server_kinds[api_base] = kind
    return kind


def known_kind(api_base: str) -> str | None:
    """What this process's probe found at api_base, if it asked."""
    return _server_kinds.get(api_base)


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
        remember_kind(server.api_base, "llama.cpp")  # it answered /models: ours, by construction
        _embedded[server.api_base] = server
        try:
            yield server.api_base
            if server.prompt_file:  # after the command's requests: slot 0 starts with the system prompt
                from . import prompt_cache

                prompt_cache.save(server.url, server.prompt_file)
        finally:
            del _embedded[server.api_base]


def embedded_server(api_base: str) -> Any:
    """The llama.cpp server this process started at api_base (server.running_server's), if any."""
    return _embedded.get(api_base)


def endpoint_answers(api_base: str, timeout: float = 2.0) -> bool:
    """True when something answers GET {api_base}/models (used before autostarting a server)."""
    try:
        return httpx.get(f"{api_base.rstrip('/')}/models", timeout=timeout).status_code < 500
    except httpx.HTTPError:
        return False


def redactor(config: LLMConfig) -> Redactor:
    """What must never appear in a text from this endpoint: the key we send it."""
    return Redactor([config.api_key.get_secret_value()])


def openai_client(api_base: str, api_key: str, timeout: float, max_retries: int):
    """An OpenAI client whose every request ends within `timeout`, body included."""
    import openai

    http = httpx.Client(timeout=timeout, limits=_LIMITS, follow_redirects=True,
                        event_hooks=deadline_hooks(timeout))
    return openai.OpenAI(base_url=api_base, api_key=api_key, timeout=timeout, max_retries=max_retries,
                         http_client=http)


@dataclass
class ToolCallDelta:
    """A tool call of a reply, as it is assembled from a stream's deltas."""

    id: str = ""
    name: str = ""
    arguments: str = ""


def add_tool_call_delta(calls: list[ToolCallDelta], part: Any, written: dict[int, LoopWatch] | None = None) -> bool:
    """One streamed `delta.tool_calls` item: a new call at its index, or more of one. With `written`
    (each call's arguments as they arrive, by index), True when the call's arguments now end in a
    loop: they are cut after its first round, and the stream is to be stopped (repetition.py)."""
    index = part.index or 0
    while len(calls) <= index:
        calls.append(ToolCallDelta())
    call = calls[index]
    call.id = part.id or call.id
    more = (part.function.arguments or "") if part.function else ""
    if part.function:
        call.name += part.function.name or ""
        call.arguments += more
    if written is None or (cut := written.setdefault(index, LoopWatch()).add(more)) is None:
        return False
    call.arguments = call.arguments[:cut]
    return True


def endpoint_error(error: Exception, api_base: str, timeout: float) -> EndpointError:
    """An openai error as ours: its kind as the class, one line naming the server, the limit or
    status, and what the server said."""
    import openai

    if isinstance(error, openai.APITimeoutError):
        if isinstance(error.__cause__, DeadlineExceeded):
            return EndpointTimeout(f"the reply from {api_base} did not finish within {timeout:g} s "
                                   f"(llm_config.timeout bounds the whole request)")
        return EndpointTimeout(f"no answer from {api_base} within {timeout:g} s (llm_config.timeout)")
    if isinstance(error, openai.APIConnectionError):
        return EndpointDown(f"cannot reach the LLM endpoint {api_base} ({reason(error)})")
    if isinstance(error, openai.APIStatusError):
        said = _message(error)
        kind = ContextOverflow if _CONTEXT_EXCEEDED.search(said) else EndpointHTTPError
        return kind(f"the LLM endpoint answered HTTP {error.status_code}: {said}", error.status_code)
    return EndpointError(f"LLM request failed: {error}")


def stream_failure(error: Exception, api_base: str, timeout: float, response: httpx.Response,
                   partial: str) -> IncompleteReply:
    """A stream that failed midway: which limit it hit or how it broke, and what it had sent."""
    sent = _arrived(partial) if partial else f"; it sent: {first_bytes(head_of(response))}"
    if isinstance(error, DeadlineExceeded):
        message = (f"the reply from {api_base} did not finish within {timeout:g} s "
                   f"(llm_config.timeout bounds the whole request){sent}")
    elif isinstance(error, httpx.TimeoutException):
        message = (f"{api_base} stopped sending in the middle of the reply: nothing for {timeout:g} s "
                   f"(llm_config.timeout){sent}")
    elif isinstance(error, httpx.HTTPError):
        message = f"the connection to {api_base} broke in the middle of the reply ({reason(error)}){sent}"
    elif isinstance(error, ValueError):
        message = f"{api_base} sent a stream event that is not JSON: {first_bytes(head_of(response))}"
    else:
        message = f"{api_base} reported an error in the middle of the reply ({_message(error)}){sent}"
    return IncompleteReply(message, partial)


def stream_cut_off(api_base: str, response: httpx.Response, events: int, partial: str) -> IncompleteReply:
    """A stream that ended without a finish_reason (or was no stream at all)."""
    if not events:
        head = head_of(response)
        if "event-stream" not in response.headers.get("content-type", "") and not head.lstrip().startswith((b"{", b"[")):
            return IncompleteReply(f"{api_base} answered with a body that is not JSON: {first_bytes(head)}")
        return IncompleteReply(f"{api_base} answered HTTP {response.status_code} without a chat completion "
                               f"stream: {first_bytes(head)}")
    return IncompleteReply(f"the reply from {api_base} was cut off: the stream ended without a "
                           f"finish_reason{_arrived(partial)}", partial)


def first_bytes(data: bytes, limit: int = 120) -> str:
    """The start of what a server sent, quoted, for a one-line message."""
    if not data:
        return "nothing"
    text = data[:limit].decode("utf-8", errors="replace")
    return repr(text) + ("…" if len(data) > limit else "")


def reason(error: Exception) -> str:
    """Why a connection failed, in one short line."""
    cause = error.__cause__ or error
    text = str(cause) or type(cause).__name__
    if "refused" in text.lower():
        return "connection refused: is the server running?"
    return text.splitlines()[0][:200]


def _arrived(partial: str) -> str:
    return f"; {len(partial)} characters had arrived (kept as partial)" if partial else ""


def _message(error: Any) -> str:
    """The server's own error text: OpenAI nests it in {"error": {"message"}}, others differ."""
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        msg = inner.get("message") if isinstance(inner, dict) else inner
        if msg:
            return str(msg).splitlines()[0][:200]
    return str(getattr(error, "message", error)).splitlines()[0][:200]
