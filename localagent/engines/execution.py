"""Running one requested tool call safely: the checks both engines share.

Every failure becomes a ToolCallRecord with `error` set, whose text the model reads as the
observation; nothing here raises into the agent loop.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable, Protocol

from ..tools import Tool, ToolArgumentError, Toolbox
from .base import ToolCallRecord

DRY_RUN_RESULT = '{"status": "ok"}'
_STEPS = r"Action|Action Input|Observation|Answer|Final Answer|Thought"
_CONTROL_LINE = re.compile(rf"^(\s*)({_STEPS})(\s*[:：])", re.M | re.I)
# One observation in a remembered ReAct trace: up to the next step line (tool output cannot
# start one, see observation_text). RolePlay wraps it in <result>.
_OBSERVATION = re.compile(
    rf"^\s*Observation\s*[:：]\s*(?:<result>)?(.*?)(?:</result>)?\s*(?=^\s*(?:{_STEPS})\s*[:：]|\Z)", re.M | re.S | re.I)


class Approver(Protocol):
    def __call__(self, tool: Tool, arguments: dict[str, Any]) -> str | None:
        """None to run the call, or the reason it may not run."""


def approve_all(tool: Tool, arguments: dict[str, Any]) -> str | None:
    return None


def history_evidence(history: list[dict[str, Any]]) -> list[str]:
    """What earlier exchanges make count as given: what the user said and what tools returned.
    Not the model's own words: an id it invented (and grounding refused) stays refused."""
    evidence = []
    for message in history:
        role, content = message.get("role"), str(message.get("content") or "")
        if role == "user":
            evidence.append(content)
            continue
        results = [content] if role == "tool" else _OBSERVATION.findall(content) if role == "assistant" else []
        evidence += [r for r in results if not r.startswith("Error:")]  # e.g. "not executed: ..."
    return evidence


def _normalise(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


class CallRunner:
    """Validates, grounds, de-duplicates, confirms and runs the calls of one question."""

    def __init__(self, toolbox: Toolbox, *, approve: Approver = approve_all, dry_run: bool = False,
                 grounding: bool = True, max_observation_chars: int = 2000):
        self.toolbox, self.approve, self.dry_run = toolbox, approve, dry_run
        self.grounding, self.max_chars = grounding, max_observation_chars
        self.seen: dict[str, ToolCallRecord] = {}  # loop guard, per question

    def run(self, name: str, arguments: Any, context: str, parse_error: str | None = None,
            on_start: Callable[[ToolCallRecord], None] | None = None) -> ToolCallRecord:
        record = ToolCallRecord(name=name, arguments=arguments if isinstance(arguments, dict)
                                else {"_raw": str(arguments)})
        tool = self.toolbox.get(name)
        if tool is None:
            record.error = f"unknown tool {name!r}; the tools are: {', '.join(self.toolbox.names())}"
            return record
        record.name = tool.name
        if parse_error:
            record.error = f"invalid arguments for {tool.name}: {parse_error}"
            return record
        try:
            args = tool.validate(arguments)
        except ToolArgumentError as e:
            record.error = f"invalid arguments for {tool.name}: {e}. Parameters: {_params_hint(tool)}"
            return record
        record.arguments = args
        if self.grounding and (missing := self._ungrounded(tool, args, context)):
            record.error = (f"not executed: {missing[0]}={args[missing[0]]!r} was not given by the user. "
                            f"Ask the user for the {missing[0]} instead of guessing it.")
            return record
        key = f"{tool.name}:{json.dumps(args, sort_keys=True, ensure_ascii=False)}"
        if key in self.seen:
            earlier = self.seen[key]
            record.result = earlier.result
            record.error = ("not executed again: this exact call was already made; its result was: "
                            f"{earlier.result if earlier.error is None else earlier.error}")
            return record
        if on_start:
            on_start(record)
        refusal = self.approve(tool, args) if tool.side_effect and not self.dry_run else None
        if refusal:
            record.error = refusal
        elif self.dry_run or tool.run is None:
            record.result = DRY_RUN_RESULT
        else:
            try:
                record.result = self._truncate(tool.call(args))
            except Exception as e:  # a tool's bug must not end the conversation
                record.error = f"{tool.name} failed: {type(e).__name__}: {e}"
        self.seen[key] = record
        return record

    def _ungrounded(self, tool: Tool, args: dict[str, Any], context: str) -> list[str]:
        haystack = _normalise(context)
        return [p for p in sorted(tool.grounded_params)
                if isinstance(args.get(p), str) and args[p] and _normalise(args[p]) not in haystack]

    def _truncate(self, text: str) -> str:
        if len(text) <= self.max_chars:
            return text
        return f"{text[:self.max_chars]}\n[truncated: {len(text) - self.max_chars} more characters]"


def observation_text(record: ToolCallRecord) -> str:
    """What the model reads back. Tool output cannot start a line that looks like a ReAct step."""
    body = f"Error: {record.error}" if record.error else record.result or ""
    return _CONTROL_LINE.sub(r"\1> \2\3", body)


def _params_hint(tool: Tool) -> str:
    props = tool.parameters.get("properties", {})
    required = set(tool.parameters.get("required", []))
    return ", ".join(f"{k} ({s.get('type', 'any')}{', required' if k in required else ''})"
                     for k, s in props.items())
