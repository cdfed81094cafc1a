"""Tools: loading them from files and modules, their JSON schemas, argument validation, calling.

Three sources become one `Tool`:
- a modelscope-agent style class (`name`, `description`, `parameters` list, `call(params: str)`),
  so existing modelscope-agent tools work unchanged;
- a plain typed Python function with a docstring (schema from the type hints);
- an OpenAI `tools` JSON file: schema only, for --dry-run and benchmarks.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import re
import sys
import typing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import ConfigDict, create_model

from .errors import ToolLoadError
from .lenient_json import loads_lenient
from .tool_limits import ToolError, ToolTimeoutError, call_contained  # noqa: F401 - a call's errors

# What OpenAI-style servers accept as a function name (others answer HTTP 400 to the whole request).
VALID_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
DEFAULT_TOOL_TIMEOUT = 60.0  # seconds; agent.tool_timeout
# How a tool was made: a modelscope-agent style class, a typed function, an OpenAI tools .json
# (a schema only), an MCP server's tool, or a Tool built in Python code.
ToolSource = Literal["modelscope", "function", "openai_json", "mcp", "python"]


class ToolArgumentError(ValueError):
    """The arguments do not fit the tool's schema; the message is shown to the model."""


@dataclass
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON Schema of the arguments object
    run: Callable[[dict[str, Any]], Any] | None = None  # None: schema only
    side_effect: bool = False
    # Checked strictly even where grounding would let a value pass (booleans); every other
    # value is checked anyway (see grounding.py). From `grounded_params` or `x-grounded: true`.
    grounded_params: set[str] = field(default_factory=set)
    timeout: float | None = None  # seconds; None: the Toolbox's (agent.tool_timeout)
    origin: str = ""  # the file, module or MCP server it came from, for messages
    source: ToolSource = "python"  # how it was made (render.py shows it)
    server: str | None = None  # the MCP server that runs it (mcp_tools.py); None: a Python tool

    def openai_schema(self) -> dict[str, Any]:
        return {"type": "function", "function": {
            "name": self.name, "description": self.description, "parameters": self.parameters}}

    def validate(self, arguments: Any) -> dict[str, Any]:
        """Coerce the arguments to the schema's types, or raise ToolArgumentError saying what is wrong."""
        if isinstance(arguments, str):
            try:  # single quotes, trailing commas and comments from small models still parse
                arguments = loads_lenient(arguments)
            except ValueError as e:
                raise ToolArgumentError(f"arguments are not valid JSON: {e}") from None
        if not isinstance(arguments, dict):
            raise ToolArgumentError(f"arguments must be a JSON object, got {type(arguments).__name__}")
        properties = self.parameters.get("properties", {})
        # Keys the tool does not declare never reach it (what OpenAI's strict mode guarantees):
        # small models add e.g. force=false to a tool without `force`; the call itself is fine.
        extra_allowed = ("properties" not in self.parameters
                         or self.parameters.get("additionalProperties", False) is not False)
        unknown = [] if extra_allowed else [k for k in arguments if k not in properties]
        missing = [k for k in self.parameters.get("required", []) if arguments.get(k) in (None, "")]
        if missing:
            hint = f"; unknown argument(s): {', '.join(unknown)}" if unknown else ""
            raise ToolArgumentError(f"missing required argument(s): {', '.join(missing)}{hint}")
        return {k: coerce(v, properties.get(k, {}), k) for k, v in arguments.items() if k not in unknown}

    def call(self, arguments: dict[str, Any], on_print: Callable[[str], None] | None = None) -> str:
        """The tool's result as text. Raises ToolTimeoutError past its time limit and ToolError when
        its code exits; what it prints goes to on_print (default: stderr), never to stdout."""
        if self.run is None:
            raise RuntimeError(f"{self.name} is a schema without an implementation")
        run = self.run
        if self.server is not None:
            # An MCP call runs in another process and keeps its own time limit and Ctrl-C, which
            # cancel it at the server; a thread of ours would catch the Ctrl-C instead.
            result = run(arguments)
        else:
            result = call_contained(lambda: run(arguments), self.timeout or DEFAULT_TOOL_TIMEOUT,
                                    on_print or self._print_to_stderr)
        return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)

    def _print_to_stderr(self, text: str) -> None:
        sys.stderr.write("".join(f"[{self.name}] {line}\n" for line in text.splitlines()))
        sys.stderr.flush()


_TYPE_NAMES = {"string": str, "integer": int, "number": (int, float), "boolean": bool,
               "array": list, "object": dict}


def coerce(value: Any, schema: dict[str, Any], where: str) -> Any:
    """Bring a value to the schema's type where the meaning is unambiguous ("22" -> 22, 22 -> "22")."""
    kind = schema.get("type")
    if isinstance(kind, list):  # e.g. ["string", "null"]
        if value is None and "null" in kind:
            return None
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and "anyOf" in schema:  # e.g. Optional[int] from a typed function
        branches = [b for b in schema["anyOf"] if b.get("type") != "null"]
        if value is None and len(branches) < len(schema["anyOf"]):
            return None
        for branch in branches:
            try:
                return coerce(value, branch, where)
            except ToolArgumentError as e:
                error = e
        if branches:
            raise error
    if "enum" in schema:
        for option in schema["enum"]:
            if value == option or str(value).strip().lower() == str(option).lower():
                return option
        raise ToolArgumentError(f"{where}: {value!r} is not one of {schema['enum']}")
    try:
        if kind == "string" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if kind == "integer" and not isinstance(value, bool):
            if isinstance(value, str):
                try:
                    value = int(value.strip())  # exact, even for long ids
                except ValueError:
                    value = float(value.strip())
            if isinstance(value, float) and value.is_integer():
                value = int(value)
        if kind == "number" and isinstance(value, str):
            value = float(value.strip())
        if kind == "number" and isinstance(value, float):
            value = float(f"{value:.15g}")  # a float's noise the model copied (24.000000000000004) is no part of it
        if kind == "boolean" and isinstance(value, str) and value.strip().lower() in ("true", "false"):
            value = value.strip().lower() == "true"
        if kind in ("array", "object") and isinstance(value, str):
            value = loads_lenient(value)
    except ValueError:
        pass  # reported below as a type mismatch
    if kind in _TYPE_NAMES and (not isinstance(value, _TYPE_NAMES[kind]) or
                                (kind in ("integer", "number") and isinstance(value, bool))):
        raise ToolArgumentError(f"{where}: expected {kind}, got {value!r}")
    if kind == "array" and "items" in schema:
        items = [coerce(v, schema["items"], f"{where}[{i}]") for i, v in enumerate(value)]
        if "enum" in schema["items"]:  # a list of options names each once (the 1.5B repeats one)
            items = [v for i, v in enumerate(items) if v not in items[:i]]
        return items
    if kind == "object" and "properties" in schema:
        props = schema["properties"]
        return {k: coerce(v, props.get(k, {}), f"{where}.{k}") for k, v in value.items()}
    return value


# --- building Tools from the three sources -------------------------------------------------

def _grounded(parameters: dict[str, Any], explicit: Any = None) -> set[str]:
    if explicit is not None:
        return set(explicit)
    return {k for k, s in parameters.get("properties", {}).items() if s.get("x-grounded") is True}


_MS_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean",
             "list": "array", "dict": "object"}


def _schema_from_param_list(params: list[dict[str, Any]]) -> dict[str, Any]:
    """modelscope-agent's `parameters` list -> a JSON Schema object."""
    properties, required = {}, []
    for p in params:
        kind = _MS_TYPES.get(p.get("type", "string"), p.get("type", "string"))
        prop = {"type": kind, "description": p.get("description", "")}
        if "enum" in p:
            prop["enum"] = p["enum"]
        properties[p["name"]] = prop
        if p.get("required"):
            required.append(p["name"])
    return {"type": "object", "properties": properties, "required": required}


def from_class(cls: type) -> Tool:
    """A modelscope-agent compatible tool class (a BaseTool subclass or any class of that shape)."""
    try:
        instance = cls()
    except TypeError:
        instance = cls({})  # modelscope-agent's BaseTool takes a cfg dict
    params = instance.parameters
    schema = params if isinstance(params, dict) else _schema_from_param_list(params)

    def run(arguments: dict[str, Any]) -> Any:
        return instance.call(json.dumps(arguments, ensure_ascii=False))

    return Tool(name=instance.name, description=instance.description, parameters=schema, run=run, source="modelscope",
                side_effect=bool(getattr(instance, "side_effect", False)),
                grounded_params=_grounded(schema, getattr(instance, "grounded_params", None)),
                timeout=_own_timeout(instance.name, getattr(instance, "timeout", None)))


def from_function(func: Callable[..., Any]) -> Tool:
    """A typed function: the docstring's first paragraph describes it, the hints give the schema."""
    signature = inspect.signature(func)
    try:  # resolves string annotations (a tool file with `from __future__ import annotations`)
        hints = typing.get_type_hints(func)
    except Exception:
        hints = func.__annotations__
    fields = {name: (hints.get(name, str), ... if p.default is p.empty else p.default)
              for name, p in signature.parameters.items()}
    model = create_model(f"{func.__name__}_args", __config__=ConfigDict(extra="forbid"), **fields)
    schema = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    doc = inspect.getdoc(func) or ""
    _add_param_docs(schema, doc)
    return Tool(name=getattr(func, "tool_name", func.__name__), description=doc.split("\n\n")[0].strip(),
                parameters=schema, run=lambda arguments: func(**arguments),
                side_effect=bool(getattr(func, "side_effect", False)),
                grounded_params=_grounded(schema, getattr(func, "grounded_params", None)),
                timeout=_own_timeout(func.__name__, getattr(func, "timeout", None)), source="function")


def _own_timeout(name: str, value: Any) -> float | None:
    """A tool's own time limit (a `timeout` attribute, seconds), if its file sets one."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{name}.timeout must be a positive number of seconds, got {value!r}")
    return float(value)


def _add_param_docs(schema: dict[str, Any], doc: str) -> None:
    """Take `name: text` lines of a docstring (Google/Sphinx style) as parameter descriptions."""
    for name, prop in schema.get("properties", {}).items():
        m = re.search(rf"^\s*(?::param\s+)?{re.escape(name)}\s*(?:\([^)]*\))?\s*:\s*(.+)$", doc, re.M)
        if m:
            prop.setdefault("description", m.group(1).strip())


def from_openai_json(path: Path) -> list[Tool]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ToolLoadError(f"{path}: not a JSON tools file ({e})") from None
    items = data if isinstance(data, list) else data.get("tools", [data])
    tools = []
    for item in items:
        fn = item.get("function", item)
        if "name" not in fn:
            raise ToolLoadError(f"{path}: a tool has no name")
        schema = fn.get("parameters") or {"type": "object", "properties": {}}
        tools.append(Tool(name=fn["name"], description=fn.get("description", ""), parameters=schema,
                          grounded_params=_grounded(schema), source="openai_json"))
    return tools


def _is_tool_class(obj: Any, module: str) -> bool:
    return (inspect.isclass(obj) and obj.__module__ == module and callable(getattr(obj, "call", None))
            and isinstance(getattr(obj, "name", None), str) and hasattr(obj, "parameters"))


def _is_tool_function(obj: Any, module: str) -> bool:
    return (inspect.isfunction(obj) and obj.__module__ == module and not obj.__name__.startswith("_")
            and bool(obj.__doc__))


def tools_in_module(module: Any) -> list[Tool]:
    """Every tool class and public documented function defined in the module (or in its __all__)."""
    names = getattr(module, "__all__", None) or list(vars(module))
    tools = []
    for name in names:
        obj = getattr(module, name, None)
        if _is_tool_class(obj, module.__name__):
            tools.append(from_class(obj))
        elif _is_tool_function(obj, module.__name__):
            tools.append(from_function(obj))
    return tools


def _import_file(path: Path) -> Any:
    name = f"localagent_user_tools.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_source(source: str) -> list[Tool]:
    """A .py file, a folder of them, a .json tools file, or an importable module name."""
    tools = [replace(t, origin=source) for t in _load(source)]
    for tool in tools:
        if not VALID_NAME.match(tool.name):
            raise ToolLoadError(f"{source}: tool name {tool.name!r} is not accepted by OpenAI-style servers "
                                f"(1 to 64 ASCII letters, digits, _ or -)")
    return tools


def _load(source: str) -> list[Tool]:
    path = Path(source)
    try:
        if path.is_dir():
            return [t for f in sorted(path.glob("*.py")) if not f.name.startswith("_")
                    for t in tools_in_module(_import_file(f))]
        if path.suffix in (".py", ".json") or "/" in source or os.sep in source:
            if not path.exists():
                raise ToolLoadError(f"{source}: tool file not found")
        if path.suffix == ".json":
            return from_openai_json(path)
        module = _import_file(path) if path.suffix == ".py" else importlib.import_module(source)
        tools = tools_in_module(module)
        if not tools:
            raise ToolLoadError(f"{source}: no tools found (a tool is a class with name, description, "
                                f"parameters and call(), or a public function with a docstring)")
        return tools
    except ToolLoadError:
        raise
    except ModuleNotFoundError as e:
        raise ToolLoadError(f"{source}: cannot import ({e})") from None
    except Exception as e:  # a user's tool file can fail in any way; report it in one line
        first_line = (str(e).strip().splitlines() or [""])[0]
        raise ToolLoadError(f"{source}: failed to load tools ({type(e).__name__}: {first_line})") from None


class Toolbox:
    """The tools offered to the model, by name. A later source's tool replaces an earlier one of
    the same name (a -t file may override a configured tool); `replaced` says which, once."""

    def __init__(self, tools: list[Tool], tool_timeout: float = DEFAULT_TOOL_TIMEOUT):
        self.tools: dict[str, Tool] = {}
        self.replaced: list[str] = []
        for tool in tools:
            earlier = self.tools.get(tool.name)
            if earlier is not None and earlier.origin != tool.origin:  # the same file twice replaces nothing
                self.replaced.append(replaced_message(earlier, tool))
            # a tool's own limit wins over agent.tool_timeout
            self.tools[tool.name] = tool if tool.timeout else replace(tool, timeout=tool_timeout)

    @classmethod
    def load(cls, sources: list[str], tool_timeout: float = DEFAULT_TOOL_TIMEOUT) -> "Toolbox":
        return cls([t for s in sources for t in load_source(s)], tool_timeout)

    def get(self, name: str) -> Tool | None:
        return self.tools.get(name) or next(
            (t for n, t in self.tools.items() if n.lower() == name.strip().lower()), None)

    def names(self) -> list[str]:
        return list(self.tools)

    def schemas(self) -> list[dict[str, Any]]:
        return [t.openai_schema() for t in self.tools.values()]

    def only(self, names: list[str]) -> "Toolbox":
        return Toolbox([self.tools[n] for n in names if n in self.tools])

    def __len__(self) -> int:
        return len(self.tools)


def replaced_message(earlier: Tool, later: Tool) -> str:
    def where(tool: Tool) -> str:
        return tool.origin or "an earlier source"
    return f"tool {later.name} from {where(later)} replaces the one from {where(earlier)}"
