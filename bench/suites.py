"""The accuracy suites: our zh/en cases and BFCL's simple_python and multiple, with sampling."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUR_CASES = HERE / "cases" / "tool_calls.jsonl"
EXTRA_TOOLS = HERE / "extra_tools.json"
SUITES = ["ours", "bfcl_simple", "bfcl_multiple"]


def parse_suites(value: str) -> list[str]:
    names = SUITES if value == "all" else [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in names if s not in SUITES]
    if unknown:
        raise ValueError(f"unknown --suite {', '.join(unknown)}; choose from {', '.join(SUITES)} or all")
    return names


def load_suite(name: str) -> list[dict[str, Any]]:
    if name == "ours":
        return [json.loads(line) for line in OUR_CASES.read_text(encoding="utf-8").splitlines() if line.strip()]
    from .bfcl import load_bfcl  # needs the bfcl_eval package data

    return load_bfcl({"bfcl_simple": "simple_python", "bfcl_multiple": "multiple"}[name])


def sample(cases: list[dict], limit: int | None, seed: int | None = 0) -> list[dict]:
    """`limit` cases: a seeded random choice kept in file order (seed None: the first `limit`)."""
    if limit is None or limit >= len(cases):
        return list(cases)
    if seed is None:
        return cases[:limit]
    keep = set(random.Random(seed).sample(range(len(cases)), limit))
    return [c for i, c in enumerate(cases) if i in keep]
