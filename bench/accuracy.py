"""Tool-call accuracy: each case once per mode, dry-run, the whole run as the user sees it.

Each case runs to its end (the config's agent.max_turns), so what is scored is what a user gets:
the first call that was executed (ToolCallRecord.status: ran / dry_run / failed / timed_out;
a call refused by grounding, invalid, unknown or not approved never ran), and the final answer
(see scoring.py: no-call cases are right only when nothing ran and the answer answers or asks
without internal text; the answer's language is scored for every case). Refused calls are
counted on their own (refused_need_call, refused_no_call).
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from localagent.config import Config
from localagent.errors import AgentError
from localagent.llm import LLMClient
from localagent.memory import Conversation
from localagent.tools import Toolbox, from_openai_json

from .modes import UNCHECKED, configure, make_engine
from .recorder import Log, recording
from .scoring import score
from .suites import EXTRA_TOOLS


def case_toolbox(case: dict, extra: Toolbox) -> Toolbox:
    """The case's tools: BFCL's inline schemas, or ours by name from extra_tools.json."""
    if "tool_schemas" not in case:
        return extra.only(case["tools"])
    with tempfile.TemporaryDirectory() as tmp:  # from_openai_json reads a file: the public way in
        path = Path(tmp) / "tools.json"
        path.write_text(json.dumps(case["tool_schemas"]), encoding="utf-8")
        return Toolbox(from_openai_json(path))


def record_of(case: dict, result: Any, log: Log, wall_s: float) -> dict[str, Any]:
    """One scored record: the calls that would run, and what else happened."""
    def call(c: Any) -> dict[str, Any]:
        return {"name": c.name, "arguments": c.arguments, "status": c.status, "error": c.error, "refusal": c.refusal}

    return {
        "case": {k: case[k] for k in ("id", "lang", "category", "question", "reply", "expected") if k in case},
        "calls": [call(c) for c in result.tool_calls if c.executed],
        "refused": [call(c) for c in result.tool_calls if c.status == "refused"],
        "not_run": [call(c) for c in result.tool_calls if not c.executed and c.status != "refused"],
        "parsable": result.stopped != "error" and not any(c.status == "invalid" for c in result.tool_calls),
        "error": result.error,
        "stopped": result.stopped,
        "answer": result.answer or "",
        "wall_s": round(wall_s, 3),
        "checks_s": round(result.timings.checks_s, 3),  # of wall_s: asking the model about calls
        "server_s": None if log.server_s() is None else round(log.server_s(), 3),
        "requests": len(log.requests),
        "prompt_tokens": result.usage.prompt_tokens,
        "completion_tokens": result.usage.completion_tokens,
    }


def run_case(config: Config, api_base: str, case: dict, extra: Toolbox, mode: str = "native") -> dict[str, Any]:
    toolbox = case_toolbox(case, extra)
    history = [m for m in case.get("messages", [])[:-1] if m.get("role") in ("user", "assistant")]
    engine = make_engine(mode, config, api_base, toolbox, dry_run=True)
    warm(config, api_base, engine)
    log = Log()
    with recording(log):
        started = time.perf_counter()
        chat = Conversation(engine, history)
        result = chat.ask(case["question"])
        if case.get("reply") and result.stopped == "answer" and not any(c.executed for c in result.tool_calls):
            # the user answers what the agent asked (or said), in the same chat, as in the REPL
            first = result
            result = chat.ask(case["reply"])
            result.tool_calls[:0] = first.tool_calls
        wall = time.perf_counter() - started
    return record_of(case, result, log, wall)


def warm(config: Config, api_base: str, engine: Any) -> None:
    """Have the server evaluate the engine's system prompt before the case is timed, as a kept
    server has it from the question before or from the prompt cache on disk: each mode is timed on
    the question alone, whichever mode ran the case before it. Before the first case, one request
    under a grammar too: on its first, llama.cpp reads the model's vocabulary for grammars
    (llguidance), about 1.8 s here, which a server pays once and not in every question; without
    it, whichever mode first used a grammar paid it in that case."""
    client = LLMClient(config.llm_config, api_base)
    messages = [{"role": "system", "content": engine.system_prompt()}]
    try:
        if (constraint := getattr(engine, "prefill", None)) and api_base not in _grammars_read:
            client.chat([*messages, {"role": "assistant", "content": "Answer: "}], max_tokens=2,
                        **constraint.params({"type": "string", "enum": ["ok"]}))
            _grammars_read.add(api_base)
        client.chat(messages, max_tokens=1)
    except AgentError:
        pass  # the case's own run reports an endpoint that does not answer


_grammars_read: set[str] = set()  # servers that have answered a request under a grammar


def summarize(records: list[dict]) -> dict[str, Any]:
    """scoring.score plus the refusal counts and the time spent."""
    out = score(records)
    need = [r for r in records if r["case"]["expected"]]
    no = [r for r in records if not r["case"]["expected"]]
    out["refused_need_call"] = sum(bool(r["refused"]) and not r["calls"] for r in need)
    out["refused_no_call"] = sum(bool(r["refused"]) and not r["calls"] for r in no)
    out["wall_s"] = round(sum(r["wall_s"] for r in records), 2)
    # What the checks before a call add to a question that needs one (older results lack checks_s).
    checks = sum(r.get("checks_s", 0) for r in need)
    rest = sum(r["wall_s"] for r in need) - checks
    out["checks_share_need_call"] = round(checks / rest, 4) if need and rest > 0 else None
    servers = [r["server_s"] for r in records if r["server_s"] is not None]
    out["server_s"] = round(sum(servers), 2) if servers else None
    return out


def run_accuracy(config: Config, api_base: str, suites: dict[str, list[dict]], modes: list[str],
                 on_case: Callable[[str, str, dict], None] = lambda suite, mode, rec: None) -> dict[str, Any]:
    """{suite: {mode: {"score": ..., "records": [...]}}}. Modes alternate per case, so a slow
    patch of the machine hits all of them alike, and each mode goes first in turn: the mode that
    runs second finds the case's prompt in llama.cpp's cache and, with ngram-mod, the first mode's
    text to draft from."""
    extra = Toolbox(from_openai_json(EXTRA_TOOLS))
    configs = {m: configure(config, m) for m in modes}
    out: dict[str, Any] = {}
    for suite, cases in suites.items():
        records: dict[str, list[dict]] = {m: [] for m in modes}
        for i, case in enumerate(cases):
            for mode in modes[i % len(modes):] + modes[:i % len(modes)]:
                rec = run_case(configs[mode], api_base, case, extra, mode)
                records[mode].append(rec)
                on_case(suite, mode, rec)
        out[suite] = {m: {"score": summarize(recs), "records": recs} for m, recs in records.items()}
        if UNCHECKED in records:
            for mode, recs in records.items():
                out[suite][mode]["score"]["time_vs_unchecked_need_call"] = time_ratio(recs, records[UNCHECKED])
    return out


def time_ratio(records: list[dict], baseline: list[dict]) -> float | None:
    """Wall time on the cases that need a call over the baseline's on the same cases, run side
    by side: what the checks before a call cost the user, the prefill they cause included."""
    need = [(r["wall_s"], b["wall_s"]) for r, b in zip(records, baseline) if r["case"]["expected"]]
    base = sum(b for _, b in need)
    return round(sum(r for r, _ in need) / base, 4) if base > 0 else None
