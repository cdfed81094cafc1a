"""The OpenAI-style client: a real timeout, bounded retries, streaming, constrained output."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

from .config import LLMConfig
from .errors import EndpointError


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
    """One endpoint. Every call has the configured timeout; errors become one-line EndpointErrors."""

    def __init__(self, config: LLMConfig, api_base: str):
        import openai  # imported here: the CLI's --help should not pay for it

        self.config, self.api_base = config, api_base.rstrip("/")
        self._openai = openai
        self.client = openai.OpenAI(base_url=self.api_base, api_key=config.api_key.get_secret_value(),
                                    timeout=config.timeout, max_retries=config.max_retries)

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
        except self._openai.APITimeoutError:
            raise EndpointError(f"no answer from {self.api_base} within {self.config.timeout:g} s "
                                f"(llm_config.timeout)") from None
        except self._openai.APIConnectionError as e:
            raise EndpointError(f"cannot reach the LLM endpoint {self.api_base} ({_reason(e)})") from None
        except self._openai.APIStatusError as e:
            raise EndpointError(f"the LLM endpoint answered HTTP {e.status_code}: {_message(e)}") from None
        except self._openai.OpenAIError as e:
            raise EndpointError(f"LLM request failed: {e}") from None
        reply.elapsed_s = time.perf_counter() - started
        return reply

    def _complete(self, params: dict[str, Any]) -> Reply:
        response = self.client.chat.completions.create(**params)
        if not response.choices:
            raise EndpointError("the LLM endpoint returned no choices")
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
        reply = Reply()
        stream = self.client.chat.completions.create(
            **params, stream=True, stream_options={"include_usage": True})
        with stream:
            for chunk in stream:
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
                    reply.content += delta.content
                    on_text(delta.content)
                for part in delta.tool_calls or []:
                    while len(reply.tool_calls) <= (part.index or 0):
                        reply.tool_calls.append(ToolCallDelta())
                    call = reply.tool_calls[part.index or 0]
                    call.id = part.id or call.id
                    if part.function:
                        call.name += part.function.name or ""
                        call.arguments += part.function.arguments or ""
        return reply

    def probe(self) -> ServerInfo:
        """Which server is behind the endpoint, from /models (llama.cpp and vLLM name themselves)."""
        try:
            response = httpx.get(f"{self.api_base}/models", timeout=min(self.config.timeout, 10),
                                 headers={"Authorization": f"Bearer {self.config.api_key.get_secret_value()}"})
            response.raise_for_status()
            data = response.json().get("data", [])
        except (httpx.HTTPError, ValueError) as e:
            raise EndpointError(f"cannot reach the LLM endpoint {self.api_base} ({_reason(e)})") from None
        owners = {str(m.get("owned_by", "")).lower() for m in data}
        kind = "llama.cpp" if owners & {"llamacpp", "llama.cpp"} else "vllm" if "vllm" in owners else "unknown"
        return ServerInfo(kind=kind, models=[m.get("id", "") for m in data])


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
