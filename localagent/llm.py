"""The OpenAI-style client: a deadline per request, bounded retries, streaming, constrained output."""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

from .config import LLMConfig
from .deadline import DeadlineExceeded, deadline_hooks, head_of
from .errors import (ContextOverflow, EndpointDown, EndpointError, EndpointHTTPError, EndpointTimeout,
                     IncompleteReply)
from .redaction import Redactor

# The openai client's own pool limits (httpx's default of 100 connections would queue a batch).
_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
# How llama.cpp ("exceeds the available context size"), vLLM and OpenAI ("maximum context
# length") say that a prompt does not fit: only their words tell it from other HTTP 400s.
_CONTEXT_EXCEEDED = re.compile(r"context (size|length)|context window", re.I)


@dataclass
class ToolCallDelta:
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class Reply:
    content: str = ""
    tool_calls: list[ToolCallDelta] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    elapsed_s: float = 0.0
    server_timings: dict[str, Any] | None = None  # llama.cpp's own prompt/predicted timings


@dataclass
class ServerInfo:
    kind: str  # "llama.cpp", "vllm" or "unknown"
    models: list[str]

    @property
    def supports_json_schema(self) -> bool:
        return self.kind in ("llama.cpp", "vllm")


class LLMClient:
    """One endpoint. Every request is bounded by the configured timeout, from its start to its
    last byte; errors become one-line EndpointErrors; the API key never appears in what a server
    sent (see redaction.py)."""

    def __init__(self, config: LLMConfig, api_base: str):
        import openai  # imported here: the CLI's --help should not pay for it

        self.config, self.api_base = config, api_base.rstrip("/")
        self._openai = openai
        self.redact = redactor(config)
        self.client = openai_client(self.api_base, config.api_key.get_secret_value(), config.timeout,
                                    config.max_retries)

    def chat(self, messages: list[dict[str, Any]], *, tools: list[dict] | None = None,
             stop: list[str] | None = None, response_format: dict | None = None,
             max_tokens: int | None = None, extra_body: dict | None = None,
             on_text: Callable[[str], None] | None = None) -> Reply:
        params: dict[str, Any] = {
            "model": self.config.model, "messages": messages,
            "temperature": self.config.temperature,
            "max_tokens": max_tokens or self.config.max_tokens,
        }
        if tools:
            params["tools"] = tools
        if stop:
            params["stop"] = stop
        if response_format:
            params["response_format"] = response_format
        if extra_body:
            params["extra_body"] = extra_body
        started = time.perf_counter()
        try:
            if on_text is None:
                reply = self._complete(params)
            else:
                reply = self._stream(params, on_text)
        except EndpointError as e:
            raise e.redacted(self.redact) from None
        except self._openai.OpenAIError as e:
            raise endpoint_error(e, self.api_base, self.config.timeout).redacted(self.redact) from None
        reply.content = self.redact(reply.content)
        for call in reply.tool_calls:
            call.arguments = self.redact(call.arguments)
        reply.elapsed_s = time.perf_counter() - started
        return reply

    def _complete(self, params: dict[str, Any]) -> Reply:
        try:
            response = self.client.chat.completions.create(**params)
        except json.JSONDecodeError as e:  # a body labelled JSON that is not
            raise EndpointError(f"{self.api_base} answered with a body that is not JSON: "
                                f"{first_bytes(e.doc.encode())}") from None
        if isinstance(response, str):  # what openai returns for a body that is not labelled JSON
            raise EndpointError(f"{self.api_base} answered with a body that is not JSON: "
                                f"{first_bytes(response.encode())}")
        if not getattr(response, "choices", None):
            sent = json.dumps(response.model_dump(exclude_unset=True), ensure_ascii=False)  # its own keys only
            raise EndpointError(f"{self.api_base} answered without a chat completion (no choices): "
                                f"{first_bytes(sent.encode())}")
        choice = response.choices[0]
        reply = Reply(content=choice.message.content or "", finish_reason=choice.finish_reason,
                      server_timings=(response.model_extra or {}).get("timings"))
        for call in choice.message.tool_calls or []:
            reply.tool_calls.append(ToolCallDelta(call.id, call.function.name, call.function.arguments or ""))
        if response.usage:
            reply.prompt_tokens = response.usage.prompt_tokens
            reply.completion_tokens = response.usage.completion_tokens
        return reply

    def _stream(self, params: dict[str, Any], on_text: Callable[[str], None]) -> Reply:
        """A streamed reply that breaks off is an IncompleteReply, asked again only while nothing
        of it has arrived (what was shown cannot be taken back)."""
        attempt = 0
        while True:
            reply = Reply()
            try:
                self._read_stream(params, on_text, reply)
                return reply
            except IncompleteReply:
                if reply.content or reply.tool_calls or attempt >= self.config.max_retries:
                    raise
                attempt += 1

    def _read_stream(self, params: dict[str, Any], on_text: Callable[[str], None], reply: Reply) -> None:
        stream = self.client.chat.completions.create(
            **params, stream=True, stream_options={"include_usage": True})
        parts: list[str] = []  # joined once: a long reply in small deltas must stay linear
        events = 0
        try:
            with stream:
                for chunk in stream:
                    events += 1
                    extra = chunk.model_extra or {}
                    if extra.get("timings"):
                        reply.server_timings = extra["timings"]
                    if chunk.usage:
                        reply.prompt_tokens = chunk.usage.prompt_tokens
                        reply.completion_tokens = chunk.usage.completion_tokens
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    reply.finish_reason = choice.finish_reason or reply.finish_reason
                    delta = choice.delta
                    if delta.content:
                        parts.append(delta.content)
                        on_text(delta.content)
                    for part in delta.tool_calls or []:
                        while len(reply.tool_calls) <= (part.index or 0):
                            reply.tool_calls.append(ToolCallDelta())
                        call = reply.tool_calls[part.index or 0]
                        call.id = part.id or call.id
                        if part.function:
                            call.name += part.function.name or ""
                            call.arguments += part.function.arguments or ""
        except (httpx.HTTPError, ValueError, self._openai.OpenAIError) as e:
            reply.content = "".join(parts)
            raise stream_failure(e, self.api_base, self.config.timeout, stream.response, reply.content) from None
        reply.content = "".join(parts)
        if reply.finish_reason is None:
            raise stream_cut_off(self.api_base, stream.response, events, reply.content)

    def probe(self) -> ServerInfo:
        """Which server is behind the endpoint, from /models (llama.cpp and vLLM name themselves)."""
        try:
            response = httpx.get(f"{self.api_base}/models", timeout=min(self.config.timeout, 10),
                                 headers={"Authorization": f"Bearer {self.config.api_key.get_secret_value()}"})
            response.raise_for_status()
            data = response.json().get("data", [])
        except (httpx.HTTPError, ValueError, AttributeError) as e:
            message = f"cannot reach the LLM endpoint {self.api_base} ({_reason(e)})"
            raise EndpointDown(self.redact(message)) from None
        owners = {str(m.get("owned_by", "")).lower() for m in data}
        kind = "llama.cpp" if owners & {"llamacpp", "llama.cpp"} else "vllm" if "vllm" in owners else "unknown"
        return ServerInfo(kind=kind, models=[m.get("id", "") for m in data])


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
        return EndpointDown(f"cannot reach the LLM endpoint {api_base} ({_reason(error)})")
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
        message = f"the connection to {api_base} broke in the middle of the reply ({_reason(error)}){sent}"
    elif isinstance(error, ValueError):
        message = f"{api_base} sent a stream event that is not JSON: {first_bytes(head_of(response))}"
    else:
        message = f"{api_base} reported an error in the middle of the reply ({_message(error)}){sent}"
    return IncompleteReply(message, partial)


def stream_cut_off(api_base: str, response: httpx.Response, events: int, partial: str) -> IncompleteReply:
    """A stream that ended without a finish_reason (or was no stream at all)."""
    if not events:
        return IncompleteReply(f"{api_base} answered HTTP {response.status_code} without a chat completion "
                               f"stream: {first_bytes(head_of(response))}")
    return IncompleteReply(f"the reply from {api_base} was cut off: the stream ended without a "
                           f"finish_reason{_arrived(partial)}", partial)


def first_bytes(data: bytes, limit: int = 120) -> str:
    """The start of what a server sent, quoted, for a one-line message."""
    if not data:
        return "nothing"
    text = data[:limit].decode("utf-8", errors="replace")
    return repr(text) + ("…" if len(data) > limit else "")


def _arrived(partial: str) -> str:
    return f"; {len(partial)} characters had arrived (kept as partial)" if partial else ""


def endpoint_answers(api_base: str, timeout: float = 2.0) -> bool:
    """True when something answers GET {api_base}/models (used before autostarting a server)."""
    try:
        return httpx.get(f"{api_base.rstrip('/')}/models", timeout=timeout).status_code < 500
    except httpx.HTTPError:
        return False


def _reason(error: Exception) -> str:
    cause = error.__cause__ or error
    text = str(cause) or type(cause).__name__
    if "refused" in text.lower():
        return "connection refused: is the server running?"
    return text.splitlines()[0][:200]


def _message(error: Any) -> str:
    """The server's own error text: OpenAI nests it in {"error": {"message"}}, others differ."""
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        msg = inner.get("message") if isinstance(inner, dict) else inner
        if msg:
            return str(msg).splitlines()[0][:200]
    return str(getattr(error, "message", error)).splitlines()[0][:200]
