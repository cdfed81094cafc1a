"""The accuracy suites: our zh/en cases (ECS `ours`, `everyday`, `errands`, `chores`, and `follow_ups`, the
user's answer to the agent's question) and BFCL's simple_python, multiple and irrelevance, with sampling."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUR_CASES = HERE / "cases" / "tool_calls.jsonl"
EXTRA_TOOLS = HERE / "extra_tools.json"
EVERYDAY_CASES = HERE / "cases" / "everyday.jsonl"
EVERYDAY_TOOLS = HERE / "everyday_tools.json"
ERRANDS_CASES = HERE / "cases" / "errands.jsonl"
ERRANDS_TOOLS = HERE / "errands_tools.json"
CHORES_CASES = HERE / "cases" / "chores.jsonl"
CHORES_TOOLS = HERE / "chores_tools.json"
# A question that lacks a value, then the user's `reply` to the agent's question, on the tools above.
FOLLOW_UP_CASES = HERE / "cases" / "follow_ups.jsonl"
SUITES = ["ours", "everyday", "errands", "chores", "follow_ups", "bfcl_simple", "bfcl_multiple", "bfcl_irrelevance"]
BFCL_SUITES = {"bfcl_simple": "simple_python", "bfcl_multiple": "multiple", "bfcl_irrelevance": "irrelevance"}


def parse_suites(value: str) -> list[str]:
    names = SUITES if value == "all" else [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in names if s not in SUITES]
    if unknown:
        raise ValueError(f"unknown --suite {', '.join(unknown)}; choose from {', '.join(SUITES)} or all")
    return names


def _read_cases(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _with_tools(cases: Path, *tools: Path) -> list[dict[str, Any]]:
    """Cases that name their offered tools, each with those tools' schemas inline (as BFCL's cases
    carry them)."""
    schemas = {t["function"]["name"]: t for path in tools for t in json.loads(path.read_text(encoding="utf-8"))}
    return [{**c, "tool_schemas": [schemas[n] for n in c["tools"]]} for c in _read_cases(cases)]


def load_suite(name: str) -> list[dict[str, Any]]:
    if name == "ours":
        return _read_cases(OUR_CASES)
    if name == "everyday":
        return _with_tools(EVERYDAY_CASES, EVERYDAY_TOOLS)
    if name == "errands":
        return _with_tools(ERRANDS_CASES, ERRANDS_TOOLS)
    if name == "chores":
        return _with_tools(CHORES_CASES, CHORES_TOOLS)
    if name == "follow_ups":
        return _with_tools(FOLLOW_UP_CASES, EVERYDAY_TOOLS, ERRANDS_TOOLS, CHORES_TOOLS)
    from .bfcl import load_bfcl  # needs the bfcl_eval package data

    return load_bfcl(BFCL_SUITES[name])


def sample(cases: list[dict], limit: int | None, seed: int | None = 0) -> list[dict]:
    """`limit` cases: a seeded random choice kept in file order (seed None: the first `limit`)."""
    if limit is None or limit >= len(cases):
        return list(cases)
    if seed is None:
        return cases[:limit]
    keep = set(random.Random(seed).sample(range(len(cases)), limit))
    return [c for i, c in enumerate(cases) if i in keep]
