"""Constrained decoding: request parameters that make a server emit JSON of a given schema.

Used only after the model has chosen a tool, to continue an assistant message that ends with
`Action Input: ` (a prefill). What works differs by server:
- llama.cpp (xllamacpp's build uses llguidance): `grammar` with a `%json` schema rule. Its
  `response_format` JSON schema is rejected together with a prefill ("Failed to initialize samplers").
- vLLM: `response_format` JSON schema, with `continue_final_message` for the prefill.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

KINDS = ("llama.cpp", "vllm")
MAX_STRING = 200


def arguments_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A tool's parameters as a grammar should see them: no extra keys, no empty required strings,
    and length caps, so a small model cannot run an invented id or a list on until max_tokens."""
    out = json.loads(json.dumps(schema))
    out.setdefault("type", "object")
    out["additionalProperties"] = False
    required = set(out.get("required", []))
    for name, prop in out.get("properties", {}).items():
        for key in [k for k in prop if k.startswith("x-")]:  # our annotations, not JSON Schema
            del prop[key]
        if prop.get("type") == "string" and "enum" not in prop:
            prop.setdefault("maxLength", MAX_STRING)
            if name in required:
                prop.setdefault("minLength", 1)
        if prop.get("type") == "array" and isinstance(options := (prop.get("items") or {}).get("enum"), list):
            # a list of options names each at most once; unbounded, the 1.5B wrote "Breakfast"
            # until max_tokens for a hotel's amenities
            prop.setdefault("maxItems", len(options))
    return out


def json_schema_format(schema: dict[str, Any], name: str = "arguments") -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}


def llguidance_grammar(schema: dict[str, Any]) -> str:
    return "%llguidance {}\nstart: %json " + json.dumps(schema, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class Constraint:
    kind: str  # one of KINDS

    def params(self, schema: dict[str, Any] | None) -> dict[str, Any]:
        """Keyword arguments for LLMClient.chat that continue a prefilled assistant message."""
        extra: dict[str, Any] = {}
        kwargs: dict[str, Any] = {}
        if self.kind == "vllm":
            extra.update(continue_final_message=True, add_generation_prompt=False)
            if schema is not None:
                kwargs["response_format"] = json_schema_format(schema)
        elif schema is not None:
            extra["grammar"] = llguidance_grammar(schema)
        if extra:
            kwargs["extra_body"] = extra
        return kwargs
