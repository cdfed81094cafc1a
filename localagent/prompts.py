"""What the instruction says besides the tools: today's date, where a tool takes one. (The ReAct
format and its tool descriptions are in react.py.)"""
from __future__ import annotations

import re
from datetime import date

from .tools import Toolbox

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
