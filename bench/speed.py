"""Speed on the ECS prompt: overhead over llama.cpp's own time, prompt economy, raw throughput.

For each repeat, every mode answers the ECS question once (modes alternate, so load changes hit
all alike) with the configured tools and max_turns. The requests it sent are recorded with
llama.cpp's timings (recorder.py); then the same requests are replayed with a bare HTTP client
("raw llama.cpp": what any client pays at least).
"""
from __future__ import annotations

import statistics
import time
import uuid
from typing import Any, Callable

import httpx

from localagent.engines.factory import create_engine
from localagent.config import Config
from localagent.engines.base import approve_all
from localagent.tools import Toolbox

from .modes import configure
from .recorder import Log, recording

ECS_PROMPT = "请帮我续费一台ECS实例，实例id是：i-rj90a7e840y5cde，续费时长22个月"
ECS_EXPECTED = {"name": "RenewInstance", "arguments": {"instance_id": "i-rj90a7e840y5cde", "period": "22"}}
_SKIP_PARAMS = {"stream", "stream_options", "extra_body", "extra_headers", "extra_query", "timeout"}


def median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 4) if values else None


def _headers(config: Config) -> dict[str, str]:
    return {"Authorization": f"Bearer {config.llm_config.api_key.get_secret_value()}"}


def replay(config: Config, api_base: str, log: Log) -> dict[str, Any]:
    """Send the recorded requests again with bare httpx (no streaming), timed one by one."""
    wall, server, ok = 0.0, 0.0, True
    with httpx.Client(timeout=config.llm_config.timeout, headers=_headers(config)) as client:
        for req in log.requests:
            body = {k: v for k, v in req.params.items() if k not in _SKIP_PARAMS and v is not None}
            body.update(req.params.get("extra_body") or {})
            started = time.perf_counter()
            response = client.post(f"{api_base.rstrip('/')}/chat/completions", json=body)
            wall += time.perf_counter() - started
            response.raise_for_status()
            timings = response.json().get("timings")
            if timings:
                server += (timings.get("prompt_ms", 0) + timings.get("predicted_ms", 0)) / 1000
            else:
                ok = False
    return {"wall_s": round(wall, 4), "server_s": round(server, 4) if ok else None,
            "ratio": round(wall / server, 3) if ok and server else None}


def ecs_run(config: Config, api_base: str, mode: str, do_replay: bool = True) -> dict[str, Any]:
    """One answer to the ECS prompt in `mode`, with its time split and per-request tokens."""
    cfg = configure(config, mode)
    toolbox = Toolbox.load(cfg.tool_sources())
    engine = create_engine(cfg, api_base, toolbox, approve=approve_all)
    log = Log()
    with recording(log):
        started = time.perf_counter()
        result = engine.run(ECS_PROMPT)
        wall = time.perf_counter() - started
    model = log.server_s()
    tools = result.timings.tools_s
    executed = [c for c in result.tool_calls if c.error is None]
    first = executed[0] if executed else None
    out = {
        "mode": mode, "stopped": result.stopped, "error": result.error, "turns": result.turns,
        "correct": bool(first) and first.name == ECS_EXPECTED["name"]
        and {k: str(v) for k, v in first.arguments.items()} == ECS_EXPECTED["arguments"],
        "tool_calls": [{"name": c.name, "arguments": c.arguments, "error": c.error} for c in result.tool_calls],
        "answer": (result.answer or "")[:300],
        "wall_s": round(wall, 4), "llm_client_s": round(result.timings.llm_s, 4),
        "model_s": None if model is None else round(model, 4), "tools_s": round(tools, 4),
        "agent_s": None if model is None else round(wall - model - tools, 4),
        "overhead_ratio": round(wall / model, 3) if model else None,
        "requests": [r.summary() for r in log.requests],
        "prompt_tokens": sum(r.prompt_tokens for r in log.requests),
        "completion_tokens": sum(r.completion_tokens for r in log.requests),
    }
    if do_replay and log.requests:
        out["replay"] = replay(cfg, api_base, log)
    return out


def raw_throughput(config: Config, api_base: str, prompt_words: int = 300, gen_tokens: int = 64) -> dict[str, Any]:
    """llama.cpp alone: an uncached prompt of ~prompt_words words, then gen_tokens tokens."""
    text = f"[{uuid.uuid4().hex}] " + " ".join(f"word{i % 50}" for i in range(prompt_words))
    body = {"model": config.llm_config.model, "messages": [{"role": "user", "content": text}],
            "max_tokens": gen_tokens, "temperature": 0, "cache_prompt": False, "ignore_eos": True}
    started = time.perf_counter()
    response = httpx.post(f"{api_base.rstrip('/')}/chat/completions", json=body, headers=_headers(config),
                          timeout=config.llm_config.timeout)
    wall = time.perf_counter() - started
    response.raise_for_status()
    t = response.json().get("timings") or {}
    return {"wall_s": round(wall, 4), "prompt_n": t.get("prompt_n"), "predicted_n": t.get("predicted_n"),
            "prompt_per_second": t.get("prompt_per_second"), "predicted_per_second": t.get("predicted_per_second")}


def summarize_mode(runs: list[dict]) -> dict[str, Any]:
    """Medians over the repeats of one mode, and its prompt economy per request."""
    keys = ["wall_s", "model_s", "agent_s", "tools_s", "llm_client_s", "overhead_ratio",
            "prompt_tokens", "completion_tokens"]
    out: dict[str, Any] = {k: median([r[k] for r in runs]) for k in keys}
    out["requests"] = median([len(r["requests"]) for r in runs])
    out["correct"] = f"{sum(r['correct'] for r in runs)}/{len(runs)}"
    reps = [r["replay"] for r in runs if "replay" in r]
    if reps:
        out["replay_wall_s"] = median([r["wall_s"] for r in reps])
        out["replay_ratio"] = median([r["ratio"] for r in reps])
    per_request = []
    for i in range(max(len(r["requests"]) for r in runs) if runs else 0):
        rows = [r["requests"][i] for r in runs if len(r["requests"]) > i]
        row = {k: median([x[k] for x in rows]) for k in
               ("prompt_tokens", "cached_tokens", "cache_n", "prompt_n", "prompt_ms", "completion_tokens", "predicted_ms")}
        row["n"] = len(rows)
        per_request.append(row)
    out["per_request"] = per_request
    return out


def throughput_from_runs(runs: list[dict]) -> dict[str, Any]:
    """Prompt and generation speed over every recorded request of the agent runs."""
    reqs = [q for r in runs for q in r["requests"] if q.get("prompt_ms") is not None]
    p_n, p_ms = sum(q["prompt_n"] or 0 for q in reqs), sum(q["prompt_ms"] or 0 for q in reqs)
    g_n, g_ms = sum(q["predicted_n"] or 0 for q in reqs), sum(q["predicted_ms"] or 0 for q in reqs)
    return {"prompt_per_second": round(p_n / p_ms * 1000, 2) if p_ms else None,
            "predicted_per_second": round(g_n / g_ms * 1000, 2) if g_ms else None}


def run_speed(config: Config, api_base: str, modes: list[str], repeat: int = 3, do_replay: bool = True,
              do_raw: bool = True, on_run: Callable[[dict], None] = lambda r: None) -> dict[str, Any]:
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    raw: list[dict] = []
    for _ in range(repeat):
        for mode in modes:
            run = ecs_run(config, api_base, mode, do_replay)
            runs[mode].append(run)
            on_run(run)
        if do_raw:
            try:
                raw.append(raw_throughput(config, api_base))
            except httpx.HTTPError as e:  # not llama.cpp (no ignore_eos/timings): say so, go on
                raw.append({"error": str(e)})
    summary = {m: summarize_mode(r) for m, r in runs.items()}
    ok_raw = [r for r in raw if "error" not in r]
    in_agent = throughput_from_runs([r for rs in runs.values() for r in rs])
    # prefill time the cache saved: the cached tokens at the model's uncached prompt speed (the raw
    # measurement; else the agent runs' own). A request's own ms/token is no reference: evaluating
    # 2 tokens costs about as much as 20.
    rate = median([r["prompt_per_second"] for r in ok_raw]) or in_agent["prompt_per_second"]
    for s in summary.values():
        for row in s["per_request"]:
            cached = row["cache_n"] if row["cache_n"] is not None else row["cached_tokens"]
            row["saved_ms"] = round(cached / rate * 1000) if rate and cached is not None else None
    base = summary.get("native", {}).get("wall_s")
    for s in summary.values():
        s["wall_vs_native"] = round(s["wall_s"] / base, 3) if base and s.get("wall_s") else None
        s["wall_vs_raw"] = (round(s["wall_s"] / s["replay_wall_s"], 3)
                            if s.get("replay_wall_s") and s.get("wall_s") else None)
    return {
        "prompt": ECS_PROMPT, "repeat": repeat, "modes": summary, "runs": runs,
        "throughput": {
            "raw": {k: median([r[k] for r in ok_raw]) for k in ("prompt_per_second", "predicted_per_second",
                                                                "prompt_n", "predicted_n")} if ok_raw else None,
            "raw_runs": raw,
            "in_agent": in_agent,
        },
    }
