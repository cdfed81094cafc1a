"""The ReAct format, all of it: the prompt that teaches it, the stop words, the parser of the
steps a model writes, the answer label, and the observation text a tool result becomes.

    Action: the tool            Action Input: {"its": "arguments"}
    Observation: the result     ... (repeats)      Final Answer: the reply to the user

The native engine writes and continues this format; the roleplay engine's RolePlay writes its
own prompt, but its replies and observations go through the same parser and escaping.
"""
from __future__ import annotations

import json
import re

from .engines.base import ToolCallRecord
from .lenient_json import first_json
from .tools import Toolbox

ACTION = "Action:"
ACTION_INPUT = "Action Input:"
OBSERVATION = "Observation:"
ANSWER = "Answer:"
FINAL_ANSWER = "Final Answer:"
ERROR = "Error:"  # what an observation of a call that failed or did not run starts with
# The server stops where the model would write the tool's result itself.
STOPS = [OBSERVATION, "\nObservation"]

TEMPLATE = """\
Use this format:
Action: the tool to use, one of [{names}]
Action Input: the tool's arguments as a JSON object
Observation: the tool's result
... (Action/Action Input/Observation can repeat)
Final Answer: the reply to the user

Call a tool only when every required value was given by the user. If no tool is needed, or a \
required value is missing, write Final Answer at once (ask the user for the missing value). \
Leave out optional parameters the user did not ask for."""

_STEPS = r"Action|Action Input|Observation|Answer|Final Answer|Thought"
_CONTROL_LINE = re.compile(rf"^(\s*)({_STEPS})(\s*[:：])", re.M | re.I)
_ACTION_RE = re.compile(r"^[ \t*]*Action[ \t*]*[:：][ \t*]*(?P<name>[^\n]*)", re.M | re.I)
_ACTION_INPUT_RE = re.compile(r"Action[ \t]*Input[ \t*]*[:：][ \t]*", re.I)
_ACTION_LINE = re.compile(r"^[ \t*]*Action(?:[ \t]*Input)?[ \t*]*[:：].*$\n?", re.M | re.I)
_NEXT_STEP = re.compile(r"^[ \t*]*(?:Observation|Thought|Final[ \t]+Answer)[ \t*]*[:：]", re.M | re.I)
_ANSWER_RE = re.compile(r"^[ \t*]*(?:Final[ \t]+)?Answer[ \t*]*[:：]", re.M | re.I)
# One observation: up to the next step line (tool output cannot start one, see observation_text).
_OBSERVATION_RE = re.compile(rf"^\s*Observation\s*[:：]\s*(?:<result>)?(.*?)(?:</result>)?\s*(?=^\s*(?:{_STEPS})\s*[:：]|\Z)",
                             re.M | re.S | re.I)
_THOUGHT = re.compile(r"^\s*Thought\s*[:：]\s*", re.I)
_NO_TOOL = {"none", "n/a", "na", "null", "no", "no tool", "无", "不需要"}  # "Action: None" + Final Answer


# --- the prompt -----------------------------------------------------------------------------

def system_prompt(instruction: str, toolbox: Toolbox) -> str:
    """The instruction, the tools and the format, with one worked example."""
    if not len(toolbox):
        return instruction
    return (f"{instruction}\n\n# Tools\n{describe_tools(toolbox)}\n\n"
            f"# Format\n{TEMPLATE.format(names=', '.join(toolbox.names()))}\n\n{_example(toolbox)}")


def describe_tools(toolbox: Toolbox) -> str:
    lines = []
    for tool in toolbox.tools.values():
        required = set(tool.parameters.get("required", []))
        params = {k: _brief(s, k in required) for k, s in tool.parameters.get("properties", {}).items()}
        lines.append(f"{tool.name}: {tool.description}\n  Parameters: {json.dumps(params, ensure_ascii=False)}")
    return "\n".join(lines)


def _brief(schema: dict, required: bool) -> str:
    parts = [schema.get("type", "any")]
    if "enum" in schema:
        parts.append("one of " + "/".join(map(str, schema["enum"])))
    if required:
        parts.append("required")
    else:  # saying so, and the default, keeps small models from filling them in
        parts.append("optional" + (f", default {json.dumps(schema['default'])}" if "default" in schema else ""))
    if schema.get("description"):
        parts.append(schema["description"])
    return ", ".join(parts)


def _example(toolbox: Toolbox) -> str:
    """One worked call with the first tool: small models follow an example better than a rule."""
    tool = next(iter(toolbox.tools.values()))
    props = tool.parameters.get("properties", {})
    samples = {"integer": 3, "number": 2.5, "boolean": True, "array": [], "object": {}}
    args = {k: s["enum"][0] if "enum" in s else samples.get(s.get("type"), f"<{k}>")
            for k, s in props.items() if k in tool.parameters.get("required", [])}
    return (f"Example (values in <> come from the user):\n{ACTION} {tool.name}\n"
            f"{ACTION_INPUT} {json.dumps(args, ensure_ascii=False)}\n{OBSERVATION} ...\n{FINAL_ANSWER} ...")


# --- the steps a model writes ---------------------------------------------------------------

def action_step(name: str) -> str:
    """The start of a step that calls `name`, up to where its arguments go."""
    return f"{ACTION} {name}\n{ACTION_INPUT} "


def has_action(text: str) -> bool:
    return _ACTION_RE.search(text) is not None


def calls(text: str) -> list[tuple[str, object, str | None]]:
    """Every `Action:` step with a tool: (name, arguments, why they are unusable or None). The
    arguments may span lines, be fenced or JSON5; an unparsable Action Input is its raw first line."""
    found = []
    matches = list(_ACTION_RE.finditer(text))
    for n, m in enumerate(matches):
        name = m.group("name").strip().strip("`'\"[]").strip()
        end = matches[n + 1].start() if n + 1 < len(matches) else len(text)
        block = text[m.end():end]
        inp = _ACTION_INPUT_RE.search(block)
        if not name or name.lower() in _NO_TOOL:
            continue
        if inp is None:
            found.append((name, {}, "no Action Input after the Action line"))
            continue
        rest = block[inp.end():]
        if step := _NEXT_STEP.search(rest):  # not the JSON of an Observation the model made up
            rest = rest[:step.start()]
        parsed = first_json(rest)
        if parsed is not None:
            found.append((name, parsed[0], None))
        else:
            raw = rest.strip().split("\n")[0]
            found.append((name, raw, f"Action Input is not a JSON object: {raw[:80]!r}"))
    return found


def pending_action(text: str) -> str | None:
    """The tool of the last `Action:` line when no `Action Input:` follows it yet: a reply stopped
    where the arguments go."""
    tail = text[last_action_start(text):]
    found = calls(tail) if not _ACTION_INPUT_RE.search(tail) else []
    return found[0][0] if found else None


def first_action_start(text: str) -> int:
    """Where the first `Action:` line begins (len(text) when there is none)."""
    m = _ACTION_RE.search(text)
    return m.start() if m else len(text)


def last_action_start(text: str) -> int:
    """Where the last `Action:` line begins (len(text) when there is none)."""
    matches = list(_ACTION_RE.finditer(text))
    return matches[-1].start() if matches else len(text)


def clean_answer(text: str) -> str:
    """The text after the first `Answer:` / `Final Answer:` label (all of it without one)."""
    m = _ANSWER_RE.search(text)
    return (text[m.end():] if m else text).strip()


def last_answer(text: str) -> str:
    """What follows the last `Answer:` label (or all the text), without Action lines."""
    labels = list(_ANSWER_RE.finditer(text))
    return _ACTION_LINE.sub("", text[labels[-1].end():] if labels else text).strip()


def clean_thought(text: str) -> str:
    return _THOUGHT.sub("", text.strip())


# --- what the model reads back ----------------------------------------------------------------

def observation_text(record: ToolCallRecord) -> str:
    """What the model reads back. Tool output cannot start a line that looks like a ReAct step."""
    body = f"{ERROR} {record.error}" if record.error else record.result or ""
    return _CONTROL_LINE.sub(r"\1> \2\3", body)


def observations(trace: str) -> list[str]:
    """The observations in a remembered ReAct trace (RolePlay wraps each in <result>)."""
    return _OBSERVATION_RE.findall(trace)


def observation_message(texts: list[str]) -> str:
    return "\n".join(f"{OBSERVATION} {t}" for t in texts)


def held_call(record: ToolCallRecord) -> str:
    """A call refused for values the user had not given, as memory keeps it: the values it lacked
    left empty (null, never what the model made up) and listed as its observation. Once the user
    answers, the model goes on from it: remembered with only the agent's question, the bundled
    1.5B answered 9 of 22 such answers itself instead of calling the tool, "已经成功冻结您的信用卡"
    among them (bench/README.md, "An answer to the agent's question")."""
    arguments = {k: None if k in record.missing else v for k, v in record.arguments.items()}
    return (f"{action_step(record.name)}{json.dumps(arguments, ensure_ascii=False)}\n"
            f"{OBSERVATION} {json.dumps({'missing': record.missing}, ensure_ascii=False)}")


def final_answer(answer: str) -> str:
    """An answer the agent wrote itself, as a step of the remembered trace."""
    return f"{FINAL_ANSWER} {answer}"
