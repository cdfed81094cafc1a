"""Running one requested tool call safely: the checks both engines share.

Every failure becomes a ToolCallRecord with `error` set, whose text the model reads as the
observation; nothing here raises into the agent loop.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterable

from .. import grounding, react
from ..grounding import Evidence, normalise
from ..replies import (Language, Translate, ask_for, cannot_do, dry_run_answer, dry_run_result,
                       shows_a_call, value_asked_for)
from ..tool_limits import ToolTimeoutError
from ..tools import Tool, ToolArgumentError, Toolbox, coerce
from .base import Approver, CallStatus, Exchange, History, Message, ToolCallRecord, approve_all


def history_evidence(history: History) -> list[str]:
    """What earlier exchanges make count as given: what the user said and what tools returned
    (their records say; a history that is only text has its observations read back).
    Not the model's own words: an id it invented (and grounding refused) stays refused."""
    evidence: list[str] = []
    for item in history:
        if isinstance(item, Exchange) and item.tool_calls is not None:
            evidence.append(item.question)
            evidence += [r.result for r in item.tool_calls if r.executed and r.result and not r.error]
            continue
        for message in item.messages() if isinstance(item, Exchange) else [item]:
            evidence += _message_evidence(message)
    return evidence


def held_back(history: History) -> str | None:
    """The tool whose call the last exchange held back for values the user had not given (the
    agent asked for them), which the user's next message may answer; None otherwise."""
    last = history[-1] if history else None
    if isinstance(last, Exchange) and last.tool_calls and last.tool_calls[-1].refusal == "missing":
        return last.tool_calls[-1].name
    return None


def _message_evidence(message: Message) -> list[str]:
    role, content = message.get("role"), str(message.get("content") or "")
    if role == "user":
        return [content]
    results = [content] if role == "tool" else react.observations(content) if role == "assistant" else []
    return [r for r in results if not r.startswith(react.ERROR)]  # e.g. "not executed: ..."


class CallRunner:
    """Validates, grounds, de-duplicates, confirms and runs the calls of one question."""

    def __init__(self, toolbox: Toolbox, *, approve: Approver = approve_all, dry_run: bool = False,
                 grounding: bool = True, max_observation_chars: int = 2000, language: Language = "en"):
        self.toolbox, self.approve, self.dry_run, self.language = toolbox, approve, dry_run, language
        self.grounding, self.max_chars = grounding, max_observation_chars
        self.seen: dict[str, tuple[int, ToolCallRecord]] = {}  # loop guard, per question: (number, call)
        self.calls = 0  # calls asked for in this question, numbered from 1

    def run(self, name: str, arguments: Any, evidence: Evidence, parse_error: str | None = None,
            on_start: Callable[[ToolCallRecord], None] | None = None,
            confirm: grounding.ConfirmChoice | None = None,
            serves: Callable[[Tool], bool] | None = None) -> ToolCallRecord:
        """`serves(tool)`: whether the tool does what the user asked (None: not checked)."""
        self.calls += 1
        record = ToolCallRecord(name=name, arguments=arguments if isinstance(arguments, dict)
                                else {"_raw": str(arguments)})
        tool = self.toolbox.get(name)
        if tool is None:
            return _fail(record, "unknown_tool",
                         f"unknown tool {name!r}; the tools are: {', '.join(self.toolbox.names())}")
        record.name = tool.name
        if serves is not None and not serves(tool):  # before its arguments: never read or ask for them
            return refuse_unrelated(record)
        if parse_error:
            return _fail(record, "invalid", f"invalid arguments for {tool.name}: {parse_error}")
        try:
            args = tool.validate(arguments)
        except ToolArgumentError as e:
            return _fail(record, "invalid", f"invalid arguments for {tool.name}: {e}. Parameters: {_params_hint(tool)}")
        record.arguments = args
        if self.grounding:
            required = set(tool.parameters.get("required", []))
            said: dict[str, Any] = {}  # name -> the value the user said for it, or None; each looked for once

            def said_values(names: list[str]) -> dict[str, Any]:
                for name in names:
                    if name not in said:
                        said[name] = self._said_value(tool, name, args, evidence)
                return {name: said[name] for name in names if said[name] is not None}

            ungiven = grounding.ungiven(args, tool.parameters, evidence, tool.grounded_params, confirm,
                                         purpose=f"{tool.name} {tool.description}",
                                         refused=lambda missing: bool(set(missing) - set(said_values(missing))))
            converted = said_values(ungiven)
            args, ungiven = {**args, **converted}, [k for k in ungiven if k not in converted]
            # An optional value nobody gave is left to the tool's default; a required one is asked for.
            record.arguments = args = {k: v for k, v in args.items() if k in required or k not in ungiven}
            if missing := [k for k in ungiven if k in required]:
                record.refusal, record.missing = "missing", missing
                return _fail(record, "refused", f"not executed: {', '.join(missing)} not given by the user")
        key = _call_key(tool.name, args)
        if key in self.seen:
            number, earlier = self.seen[key]
            record.result, record.repeats = earlier.result, number
            return _fail(record, "repeated", f"not executed again: this call repeats call {number} of this "
                         f"question, whose result was: {earlier.error or earlier.result}")
        if on_start:
            on_start(record)
        refusal = self.approve(tool, args) if tool.side_effect and not self.dry_run else None
        if refusal:
            _fail(record, "not_approved", refusal)
        elif self.dry_run or tool.run is None:
            record.status, record.result = "dry_run", dry_run_result(self.language)
        else:
            try:
                record.result = self._truncate(tool.call(args))
            except ToolTimeoutError as e:
                _fail(record, "timed_out", f"{tool.name} {e}")
            except Exception as e:  # a tool's bug must not end the conversation
                _fail(record, "failed", f"{tool.name} failed: {type(e).__name__}: {e}")
        self.seen[key] = (self.calls, record)
        return record

    @staticmethod
    def _said_value(tool: Tool, name: str, args: dict[str, Any], evidence: Evidence) -> Any | None:
        """A value not found as the model wrote it that the user did say, written by the agent
        instead of asked for: the option the user's words name where the model picked another
        (`stolen` for "stole"); a length of time said in another unit than the tool's, converted
        (unless the tool does not take the converted value: an enum of other lengths); a clock time
        whose minutes the model lost ("20:00" for 晚上八点十分). None when the user said none."""
        spec = tool.parameters.get("properties", {}).get(name, {})
        if isinstance(args.get(name), str) and (clock := grounding.said_clock(args[name], evidence)):
            return clock
        if (option := grounding.said_option(name, spec, args.get(name), evidence)) is not None:
            return option
        if (value := grounding.said_length(name, spec, evidence)) is not None:
            try:
                return coerce(value, spec, name)
            except ToolArgumentError:
                pass
        return None

    def _truncate(self, text: str) -> str:
        if len(text) <= self.max_chars:
            return text
        return f"{text[:self.max_chars]}\n[truncated: {len(text) - self.max_chars} more characters]"


def ask_for_missing(record: ToolCallRecord, toolbox: Toolbox, language: Language,
                    translate: Translate | None = None) -> str:
    """The agent's own question for the values a refused call lacked, in the user's language."""
    tool = toolbox.get(record.name)
    props = tool.parameters.get("properties", {}) if tool else {}
    return ask_for([value_asked_for(k, props.get(k, {}), language, translate) for k in record.missing], language)


def no_answer(answer: str, records: list[ToolCallRecord], tool_names: Iterable[str]) -> bool:
    """Where no tool ran: whether the answer is empty or writes out a call instead of answering."""
    return not any(r.executed for r in records) and (not answer.strip() or shows_a_call(answer, tool_names))


def user_answer(answer: str, records: list[ToolCallRecord], language: Language, tool_names: Iterable[str]) -> str:
    """The model's answer as the user reads it: never an internal error it repeats, nor `no_answer`
    (the agent says itself that it cannot do it); after a dry run, the agent's own account of what
    would have run (`dry_run_answer`), since whatever the model says then has no result behind it."""
    if dry := would_have_run(records):
        return dry_run_answer(dry, language)
    if echoes_an_error(answer, records) or no_answer(answer, records, tool_names):
        return cannot_do(language)
    return answer


def echoes_an_error(answer: str, records: list[ToolCallRecord]) -> bool:
    """Whether the answer repeats an internal error of a call (which the user never reads)."""
    errors = [r.error for r in records if r.error]
    return bool(errors) and (answer.lstrip().startswith(react.ERROR) or any(e in answer for e in errors))


def would_have_run(records: list[ToolCallRecord]) -> list[tuple[str, dict[str, Any]]]:
    """The calls of a dry run that would have run, as a dry run's answer names them."""
    return [(r.name, r.arguments) for r in records if r.status == "dry_run"]


def refuse_unrelated(record: ToolCallRecord) -> ToolCallRecord:
    """The call is refused because its tool does not do what the user asked (whatever else was
    found wrong with it before)."""
    record.refusal, record.missing = "unrelated", []
    return _fail(record, "refused", f"not executed: {record.name} does not do what the user asked")


def _fail(record: ToolCallRecord, status: CallStatus, error: str) -> ToolCallRecord:
    record.status, record.error = status, error
    return record


def _call_key(name: str, args: dict[str, Any]) -> str:
    """Calls that differ only in case, width or spacing of their values are the same call."""
    def norm(value: Any) -> Any:
        if isinstance(value, str):
            return normalise(value)
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items()}
        return [norm(v) for v in value] if isinstance(value, list) else value
    return f"{name.lower()}:{json.dumps(norm(args), sort_keys=True, ensure_ascii=False)}"


def _params_hint(tool: Tool) -> str:
    props = tool.parameters.get("properties", {})
    required = set(tool.parameters.get("required", []))
    return ", ".join(f"{k} ({s.get('type', 'any')}{', required' if k in required else ''})"
                     for k, s in props.items())
