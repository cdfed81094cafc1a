"""Speculative decoding side by side: each variant on a llama.cpp server of its own (the config's
model and threads), answering the ECS prompt twice and questions of our suites that need a call.

llama.cpp drafts tokens (n-grams of the context, or a small draft model) and verifies them in one
batch; what that gains depends on how often the drafts are right and what a batch costs on this
CPU. Reported per variant: the second ECS answer (the first warms the system prompt), the time of
the cases, tokens generated per second of generation, drafted and accepted tokens, and how many
cases made the same calls as with no speculation (greedy wording may change under verification).
"""
from __future__ import annotations

import time
from typing import Any, Callable

from localagent.config import Config
from localagent.server import EmbeddedServer
from localagent.tools import Toolbox, from_openai_json

from .accuracy import case_toolbox
from .modes import configure, make_engine
from .recorder import Log, recording
from .speed import ecs_run
from .suites import EXTRA_TOOLS, load_suite

# (name, server.speculative, server.speculative_sizes). ngram-simple and ngram-map-k look up the
# last size_n tokens in the context and draft up to size_m; ngram-mod drafts after n_match tokens
# match; draft runs the bundled Qwen2.5-Coder-0.5B (the 1.5B's tokenizer) n_max tokens ahead.
VARIANTS: list[tuple[str, str, dict[str, int]]] = [
    ("none", "none", {}),
    ("ngram-simple 4/8", "ngram-simple", {"size_n": 4, "size_m": 8}),
    ("ngram-map-k 3/16", "ngram-map-k", {"size_n": 3, "size_m": 16}),
    ("ngram-mod", "ngram-mod", {}),
    ("ngram-mod 4/4/16", "ngram-mod", {"n_match": 4, "n_min": 4, "n_max": 16}),
    ("draft 0.5B, 3", "draft", {}),
    ("draft 0.5B, 8", "draft", {"n_max": 8}),
]


def need_call_cases(per_suite: int) -> list[dict]:
    """`per_suite` cases that need a call from each of ours and everyday, spread over the file."""
    cases = []
    for suite in ("ours", "everyday"):
        need = [c for c in load_suite(suite) if c["expected"]]
        cases += need[::max(1, len(need) // per_suite)][:per_suite]
    return cases


def run_variant(config: Config, cases: list[dict], extra: Toolbox) -> dict[str, Any]:
    server = EmbeddedServer(config)
    started = time.perf_counter()
    api_base = server.start()
    load_s = time.perf_counter() - started
    try:
        ecs = [ecs_run(config, api_base, "native", do_replay=False) for _ in range(2)]
        records = []
        for case in cases:
            engine = make_engine("native", config, api_base, case_toolbox(case, extra), dry_run=True)
            log = Log()
            history = [m for m in case.get("messages", [])[:-1] if m.get("role") in ("user", "assistant")]
            with recording(log):
                begun = time.perf_counter()
                result = engine.run(case["question"], history=history)
                wall = time.perf_counter() - begun
            records.append({"id": case["id"], "wall_s": round(wall, 3), "answer": result.answer,
                            "calls": [{"name": c.name, "arguments": c.arguments, "status": c.status}
                                      for c in result.tool_calls],
                            "timings": [r.timings or {} for r in log.requests]})
    finally:
        server.stop()
    timings = [t for rec in records for t in rec["timings"]]
    generated = sum(t.get("predicted_n", 0) for t in timings)
    drafted = sum(t.get("draft_n", 0) for t in timings)
    accepted = sum(t.get("draft_n_accepted", 0) for t in timings)
    return {"load_s": round(load_s, 2), "ecs_s": ecs[1]["wall_s"], "ecs_calls": ecs[1]["tool_calls"],
            "ecs_answer": ecs[1]["answer"], "cases_s": round(sum(r["wall_s"] for r in records), 2),
            "generated": generated,
            "gen_tok_s": round(generated / sum(t.get("predicted_ms", 0) for t in timings) * 1000, 2),
            "drafted": drafted, "accepted": accepted,
            "accept_rate": round(accepted / drafted, 3) if drafted else None, "records": records}


def run_speculative(config: Config, per_suite: int = 8,
                    on_variant: Callable[[str, dict], None] = lambda name, result: None) -> dict[str, Any]:
    """{variant: result}, with the ratios to `none` and the cases whose calls differ from it."""
    extra = Toolbox(from_openai_json(EXTRA_TOOLS))
    cases = need_call_cases(per_suite)
    out: dict[str, Any] = {}
    for name, kind, sizes in VARIANTS:
        cfg = configure(config, "native")
        cfg.server.keep_alive, cfg.server.prompt_cache, cfg.server.port = 0, False, 0
        cfg.server.speculative, cfg.server.speculative_sizes = kind, sizes
        out[name] = run_variant(cfg, cases, extra)
        on_variant(name, out[name])
    base = out["none"]
    calls = {r["id"]: r["calls"] for r in base["records"]}
    for result in out.values():
        result["ecs_vs_none"] = round(result["ecs_s"] / base["ecs_s"], 3)
        result["cases_vs_none"] = round(result["cases_s"] / base["cases_s"], 3)
        result["same_calls"] = f"{sum(r['calls'] == calls[r['id']] for r in result['records'])}/{len(calls)}"
    return out
