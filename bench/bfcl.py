"""Load BFCL's single-turn Python categories as bench cases.

Cases come from the installed `bfcl_eval` package data, converted to the format of
bench/cases/tool_calls.jsonl, with the OpenAI tool schemas inline under "tool_schemas".
`irrelevance` has no possible_answer file: none of its offered functions serves the question,
so every case expects no call (`expected: []`).
"""
from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

CATEGORIES = {"simple_python": "bfcl_simple", "multiple": "bfcl_multiple", "irrelevance": "bfcl_irrelevance"}
NO_CALL = {"irrelevance"}  # categories where the right answer is to call nothing

# BFCL's Python type names -> JSON Schema; "any" maps to no type constraint.
_TYPES = {"dict": "object", "float": "number", "tuple": "array", "any": None,
          "integer": "integer", "string": "string", "boolean": "boolean", "array": "array"}
_NON_SCHEMA_KEYS = {"optional"}  # BFCL-only markers, not JSON Schema


def oai_name(name: str) -> str:
    # OpenAI tool names must match ^[a-zA-Z0-9_-]{1,64}$, as BFCL does for OpenAI models.
    return name.replace(".", "_")


def to_json_schema(node: dict) -> dict:
    """Recursively rewrite a BFCL parameter schema into JSON Schema."""
    out = {k: v for k, v in node.items() if k not in _NON_SCHEMA_KEYS}
    if "type" in out:
        t = _TYPES.get(out["type"], "string")  # unknown types: BFCL falls back to string
        if t is None:
            del out["type"]
        else:
            out["type"] = t
    if "properties" in out:
        out["properties"] = {k: to_json_schema(v) for k, v in out["properties"].items()}
    if isinstance(out.get("items"), dict):
        out["items"] = to_json_schema(out["items"])
    return out


def to_tool(fn: dict) -> dict:
    params = to_json_schema(fn["parameters"])
    params["type"] = "object"
    return {"type": "function", "function": {
        "name": oai_name(fn["name"]), "description": fn.get("description", ""), "parameters": params}}


def _strictify(args: dict, functions: list[dict], name: str) -> dict:
    # BFCL also rejects a call missing a schema-required argument even where the ground truth
    # allows "" (a few answers disagree with their schema), so drop "" for those arguments.
    required = next(f for f in functions if f["name"] == name)["parameters"].get("required", [])
    return {k: [v for v in vals if v != ""] if k in required else vals for k, vals in args.items()}


def _read_jsonl(rel: str) -> list[dict]:
    text = resources.files("bfcl_eval").joinpath("data", rel).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def load_bfcl(category: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Cases for "simple_python", "multiple" or "irrelevance" (first `limit` of them, in file order)."""
    if category not in CATEGORIES:
        raise ValueError(f"unsupported BFCL category {category!r}; use one of {list(CATEGORIES)}")
    fname = f"BFCL_v4_{category}.json"
    questions = _read_jsonl(fname)[:limit]
    answers = ({q["id"]: [] for q in questions} if category in NO_CALL
               else {a["id"]: a["ground_truth"] for a in _read_jsonl(f"possible_answer/{fname}")})
    cases = []
    for q in questions:
        turn = q["question"][0]  # these categories are single-turn
        tools = [to_tool(copy.deepcopy(f)) for f in q["function"]]
        cases.append({
            "id": q["id"],
            "lang": "en",
            "category": CATEGORIES[category],
            # the user's text; "messages" keeps the full turn (some carry a system message)
            "question": next(m["content"] for m in reversed(turn) if m["role"] == "user"),
            "messages": turn,
            "tools": [t["function"]["name"] for t in tools],
            "tool_schemas": tools,
            # expected names use the OpenAI spelling, so scoring compares what the model saw
            "expected": [{"name": oai_name(n), "arguments": _strictify(args, q["function"], n)}
                         for gt in answers[q["id"]] for n, args in gt.items()],
            "name_map": {oai_name(f["name"]): f["name"] for f in q["function"]},
        })
    return cases
