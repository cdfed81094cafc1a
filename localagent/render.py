"""Rich terminal output: a streamed answer, a spinner while the model thinks, tool-call panels.

Everything but the answer goes to stderr, so `agent_demo.py "…" > answer.txt` keeps only the answer.
"""
from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.markdown import Markdown
from rich.panel import Panel
from rich.spinner import Spinner
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from .engines.base import Events, RunResult, ToolCallRecord
from .tools import Tool

stderr = Console(stderr=True)
stdout = Console()
# What the live view shows of a streamed reply: its end. Rendering all of a long reply at every
# refresh stalls the terminal (a 10 MB reply); the whole answer is printed when it is done.
LIVE_TAIL = 4000


def _args(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, ensure_ascii=False)


class TerminalEvents(Events):
    """Streams the model's text live (transient) and prints each tool call as a panel."""

    def __init__(self, console: Console = stderr, verbose: bool = False):
        self.console, self.verbose = console, verbose
        self.streams = console.is_terminal
        self.live: Live | None = None
        self.text = ""

    def _show(self, renderable) -> None:
        if self.live is None:
            self.live = Live(renderable, console=self.console, transient=True, refresh_per_second=12)
            self.live.start()
        else:
            self.live.update(renderable)

    def stop_live(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def on_turn(self, turn: int) -> None:
        self.text = ""
        if self.console.is_terminal:
            self._show(Spinner("dots", text=Text(" thinking…" if turn == 1 else f" thinking (turn {turn})…",
                                                 style="dim")))

    def on_text(self, delta: str) -> None:
        self.text = (self.text + delta)[-LIVE_TAIL:]
        self._show(Group(Text(self.text, style="dim"), Spinner("dots")))

    def on_tool_start(self, record: ToolCallRecord) -> None:
        self.stop_live()
        if self.console.is_terminal:
            self._show(Spinner("dots", text=Text(f" running {record.name}…", style="dim")))

    def on_tool_end(self, record: ToolCallRecord) -> None:
        self.stop_live()
        self.console.print(tool_panel(record))

    def approve(self, tool: Tool, arguments: dict[str, Any]) -> str | None:
        """Ask y/N before a side-effecting tool runs."""
        from rich.prompt import Confirm

        self.stop_live()
        question = f"[bold yellow]{tool.name}[/] changes real resources: run it with {_args(arguments)}?"
        try:
            if Confirm.ask(question, console=self.console, default=False):
                return None
        except EOFError:
            pass
        return f"not executed: the user declined to run {tool.name}. Tell the user it was not done."


def tool_panel(record: ToolCallRecord) -> Panel:
    body = Text()
    body.append("arguments ", style="dim").append(_args(record.arguments) + "\n")
    if record.error:
        body.append("error     ", style="dim").append(record.error, style="red")
    else:
        result = record.result or ""
        body.append("result    ", style="dim").append(result if len(result) < 600 else result[:600] + " …")
    return Panel(body, title=f"[bold]{record.name}[/]", title_align="left",
                 border_style="red" if record.error else "cyan", expand=False)


def print_result(result: RunResult, verbose: bool = False) -> None:
    if result.stopped == "error":
        stderr.print(f"[red]error:[/] {result.error}", highlight=False, soft_wrap=True)
        return
    if result.stopped == "interrupted":
        stderr.print("[yellow]interrupted[/]")
        return
    if stdout.is_terminal:
        stdout.print(Markdown(result.answer or "(no answer)"))
    else:
        print(result.answer)
    if result.stopped == "max_turns":
        stderr.print(f"[yellow]stopped after {result.turns} turns (agent.max_turns)[/]")
    if verbose:
        print_stats(result)


def print_stats(result: RunResult) -> None:
    t, u = result.timings, result.usage
    uncounted = f" (and {u.uncounted_requests} request(s) the server did not count)" if u.uncounted_requests else ""
    stderr.print(f"[dim]{result.turns} turn(s) · {u.prompt_tokens} prompt + {u.completion_tokens} completion "
                 f"tokens{uncounted} · {t.total_s:.2f} s total ({t.llm_s:.2f} s model, {t.tools_s:.2f} s tools)[/]")


def tool_kind(tool: Tool) -> str:
    """Where the tool comes from: an MCP server, or how it was written (a modelscope-agent style
    class, a typed function, a JSON schema)."""
    if tool.source == "mcp":
        return f"MCP {tool.server}"
    if tool.run is None:
        return "schema only"
    return {"modelscope": "class", "function": "function"}.get(tool.source, "python")


def tools_table(tools: list[Tool], title: str | None = None) -> Table:
    """Name, how it is written, whether it changes real resources, and its parameters (* required)."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("tool", style="bold", no_wrap=True)
    table.add_column("source")
    table.add_column("side effect")
    table.add_column("parameters (* required)")
    for tool in tools:
        props = tool.parameters.get("properties", {})
        required = set(tool.parameters.get("required", []))
        params = ", ".join(f"{name}{'*' if name in required else ''}: {schema.get('type', 'any')}"
                           for name, schema in props.items())
        table.add_row(tool.name, tool_kind(tool), "[yellow]yes[/]" if tool.side_effect else "no",
                      params or "[dim]none[/]")
    return table


def config_view(config: Any) -> Syntax:
    """The config in use as YAML, the api key masked."""
    import yaml

    data = config.model_dump(mode="json")
    data.get("llm_config", {})["api_key"] = "********"
    header = f"# {config.path}\n" if getattr(config, "path", None) else ""
    return Syntax(header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "yaml",
                  theme="ansi_dark", background_color="default")
