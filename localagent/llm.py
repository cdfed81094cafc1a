"""The native engine's client of the endpoint (endpoint.py): a deadline per request, bounded retries,
streaming, constrained output."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

from .config import LLMConfig
from .endpoint import (ToolCallDelta, add_tool_call_delta, endpoint_error, first_bytes, openai_client, reason,
                       redactor, server_kind, stream_cut_off, stream_failure)
from .errors import EndpointDown, EndpointError, IncompleteReply
from .repetition import LoopWatch, loop_cut


@dataclass
class Reply:
    content: str = ""
    tool_calls: list[ToolCallDelta] = field(default_factory=list)
    finish_reason: str | None = None
    # As the server reported them; None when it did not (a stream stopped before its usage).
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    # The likeliest first tokens and their probabilities, when asked for (`top_logprobs`) and sent.
    first_token: dict[str, float] = field(default_factory=dict)
    # How likely each token of `content` was as the model wrote it, when asked for (`logprobs`) and sent.
    token_probabilities: list[float] = field(default_factory=list)
    # The model fell into a loop: `content` (or a call's arguments) is cut after the loop's first
    # round (counting: its last whole round), and a streamed reply was stopped there (repetition.py).
    looped: bool = False


def _cut_loops(reply: Reply) -> None:
    """A reply read whole that ends in a loop, its text or a call's arguments, cut after its first round."""
    if (cut := loop_cut(reply.content)) is not None:
        reply.content, reply.looped = reply.content[:cut], True
    for call in reply.tool_calls:
        if (cut := loop_cut(call.arguments)) is not None:
            call.arguments, reply.looped = call.arguments[:cut], True


@dataclass
class ServerInfo:
    kind: str  # "llama.cpp", "vllm" or "unknown"
    models: list[str]


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
             on_text: Callable[[str], None] | None = None, logprobs: bool = False,
             top_logprobs: int | None = None) -> Reply:
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
        if logprobs or top_logprobs:
            params["logprobs"] = True
        if top_logprobs:
            params["top_logprobs"] = top_logprobs
        try:
            if on_text is None:
                reply = self._complete(params)
            else:
                reply = self._stream(params, on_text)
        except EndpointError as e:
            raise e.redacted(self.redact) from None
        except self._openai.OpenAIError as e:
            raise endpoint_error(e, self.api_base, self.config.timeout).redacted(self.redact) from None
        if not reply.looped:
            _cut_loops(reply)
        reply.content = self.redact(reply.content)
        for call in reply.tool_calls:
            call.arguments = self.redact(call.arguments)
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
        reply = Reply(content=choice.message.content or "", finish_reason=choice.finish_reason)
        if choice.logprobs and choice.logprobs.content:
            reply.first_token = {t.token: math.exp(t.logprob) for t in choice.logprobs.content[0].top_logprobs or []}
            reply.token_probabilities = [math.exp(t.logprob) for t in choice.logprobs.content]
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
        text = LoopWatch()
        arguments: dict[int, LoopWatch] = {}  # each tool call's, by its index
        events = 0
        try:
            with stream:
                for chunk in stream:
                    events += 1
                    if chunk.usage:
                        reply.prompt_tokens = chunk.usage.prompt_tokens
                        reply.completion_tokens = chunk.usage.completion_tokens
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    reply.finish_reason = choice.finish_reason or reply.finish_reason
                    delta = choice.delta
                    if delta.content:
                        on_text(delta.content)
                        if (cut := text.add(delta.content)) is not None:
                            reply.content, reply.looped = text.text()[:cut], True
                            return  # leaving the stream closes it: the server stops writing
                    if choice.logprobs and choice.logprobs.content:
                        reply.token_probabilities += [math.exp(t.logprob) for t in choice.logprobs.content]
                    for part in delta.tool_calls or []:
                        if add_tool_call_delta(reply.tool_calls, part, arguments):
                            reply.content, reply.looped = text.text(), True
                            return
        except (httpx.HTTPError, ValueError, self._openai.OpenAIError) as e:
            reply.content = text.text()
            raise stream_failure(e, self.api_base, self.config.timeout, stream.response, reply.content) from None
        reply.content = text.text()
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
            message = f"cannot reach the LLM endpoint {self.api_base} ({reason(e)})"
            raise EndpointDown(self.redact(message)) from None
        owners = {str(m.get("owned_by", "")).lower() for m in data}
        return ServerInfo(kind=server_kind(owners), models=[m.get("id", "") for m in data])
