"""Records every chat request any engine sends, with llama.cpp's own timings from the reply.

Both engines (localagent.llm.LLMClient and modelscope-agent's OpenAi) go through
openai's `Completions.create`; `recording()` wraps that method for the duration of a block,
so the requests the agent really sent are timed without a proxy or a replay.
"""
from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass, field
from typing import Any, Iterator


@dataclass
class Request:
    params: dict[str, Any]  # the keyword arguments of chat.completions.create
    wall_s: float = 0.0  # client-side: call to last byte read
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int | None = None  # usage.prompt_tokens_details.cached_tokens
    timings: dict[str, Any] | None = None  # llama.cpp: prompt_n, prompt_ms, predicted_n, predicted_ms, cache_n

    @property
    def server_s(self) -> float | None:
        """llama.cpp's own time for the request: prompt evaluation plus generation."""
        if not self.timings:
            return None
        return (self.timings.get("prompt_ms", 0) + self.timings.get("predicted_ms", 0)) / 1000

    def summary(self) -> dict[str, Any]:
        t = self.timings or {}
        return {"wall_s": round(self.wall_s, 4), "server_s": _round(self.server_s),
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "cached_tokens": self.cached_tokens, "cache_n": t.get("cache_n"), "prompt_n": t.get("prompt_n"),
                "prompt_ms": _round(t.get("prompt_ms")), "predicted_n": t.get("predicted_n"),
                "predicted_ms": _round(t.get("predicted_ms"))}


def _round(v: float | None, nd: int = 4) -> float | None:
    return None if v is None else round(v, nd)


@dataclass
class Log:
    requests: list[Request] = field(default_factory=list)

    def server_s(self) -> float | None:
        """Sum of llama.cpp's timings; None when the server sent none (not llama.cpp)."""
        times = [r.server_s for r in self.requests]
        return None if not times or any(t is None for t in times) else sum(times)

    def clear(self) -> None:
        self.requests.clear()


def _read_usage(req: Request, usage: Any, extra: dict | None) -> None:
    if usage is not None:
        req.prompt_tokens = usage.prompt_tokens or 0
        req.completion_tokens = usage.completion_tokens or 0
        details = getattr(usage, "prompt_tokens_details", None)
        cached = getattr(details, "cached_tokens", None) if details is not None else None
        if cached is None and isinstance(details, dict):
            cached = details.get("cached_tokens")
        req.cached_tokens = cached
    if extra and extra.get("timings"):
        req.timings = extra["timings"]


class _Stream:
    """Passes a stream through, reading usage and timings from its chunks."""

    def __init__(self, stream: Any, req: Request, started: float):
        self._stream, self._req, self._started = stream, req, started

    def __iter__(self):
        for chunk in self._stream:
            if chunk.usage or (chunk.model_extra or {}).get("timings"):
                _read_usage(self._req, chunk.usage, chunk.model_extra)
            yield chunk
        self._req.wall_s = time.perf_counter() - self._started

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if hasattr(self._stream, "close"):
            self._stream.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def recording(log: Log) -> Iterator[Log]:
    """Append a Request to `log` for every chat.completions.create call inside the block."""
    from openai.resources.chat.completions import Completions

    original = Completions.create

    def create(self, *args: Any, **kwargs: Any) -> Any:
        req = Request(params=copy.deepcopy(kwargs))
        log.requests.append(req)
        started = time.perf_counter()
        response = original(self, *args, **kwargs)
        if kwargs.get("stream"):
            return _Stream(response, req, started)
        req.wall_s = time.perf_counter() - started
        _read_usage(req, getattr(response, "usage", None), getattr(response, "model_extra", None))
        return response

    Completions.create = create
    try:
        yield log
    finally:
        Completions.create = original
