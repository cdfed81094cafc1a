"""The ReAct prompt of the native engine: short, because every token is prefill on a CPU."""
from __future__ import annotations

import json
import re
from datetime import date

from .tools import Toolbox

REACT_FORMAT = """\
Use this format:
Action: the tool to use, one of [{names}]
Action Input: the tool's arguments as a JSON object
Observation: the tool's result
... (Action/Action Input/Observation can repeat)
Final Answer: the reply to the user

Call a tool only when every required value was given by the user. If no tool is needed, or a \
required value is missing, write Final Answer at once (ask the user for the missing value). \
Leave out optional parameters the user did not ask for."""


def _example(toolbox: Toolbox) -> str:
    """One worked call with the first tool: small models follow an example better than a rule."""
    tool = next(iter(toolbox.tools.values()))
    props = tool.parameters.get("properties", {})
    samples = {"integer": 3, "number": 2.5, "boolean": True, "array": [], "object": {}}
    args = {k: s["enum"][0] if "enum" in s else samples.get(s.get("type"), f"<{k}>")
            for k, s in props.items() if k in tool.parameters.get("required", [])}
    return (f"Example (values in <> come from the user):\nAction: {tool.name}\n"
            f"Action Input: {json.dumps(args, ensure_ascii=False)}\nObservation: ...\nFinal Answer: ...")


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


_DATE_PARAMETER = re.compile(r"date|日期", re.I)


def takes_a_date(toolbox: Toolbox) -> bool:
    """Whether a tool has a date parameter (by name, description or format)."""
    return any(_DATE_PARAMETER.search(f"{name} {spec.get('description', '')} {spec.get('format', '')}")
               for tool in toolbox.tools.values() for name, spec in tool.parameters.get("properties", {}).items()
               if isinstance(spec, dict))


def dated(instruction: str, today: date, toolbox: Toolbox) -> str:
    """The instruction with today's date where a tool takes a date, so that "tomorrow" or "next
    Friday" become one. Only there: the line made the bundled model reach for a time-conversion
    tool instead of the current-time one when asked the time."""
    if not takes_a_date(toolbox):
        return instruction
    return f"{instruction}\nToday is {today.isoformat()} ({today.strftime('%A')})."


def react_system_prompt(instruction: str, toolbox: Toolbox) -> str:
    if not len(toolbox):
        return instruction
    return (f"{instruction}\n\n# Tools\n{describe_tools(toolbox)}\n\n"
            f"# Format\n{REACT_FORMAT.format(names=', '.join(toolbox.names()))}\n\n{_example(toolbox)}")


def observation_message(texts: list[str]) -> str:
    return "\n".join(f"Observation: {t}" for t in texts)
