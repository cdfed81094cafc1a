"""--doctor: what the CLI would use and whether it works, starting nothing but the MCP servers
(for a moment: their tools are known only once they run).

Checks the config, the endpoint (does it answer, how fast, which models, which server kind,
constrained JSON, tools=), whether autostart could serve the bundled model, the tools, and the
MCP servers.
Exit 0 when the endpoint answers or autostart could start a server, else 1.
"""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

from rich.console import Console
from rich.text import Text

from .config import Config, load_config, load_mcp_file
from .constrain import KINDS
from .errors import AgentError, ServerError
from .endpoint import endpoint_answers
from .llm import LLMClient, ServerInfo
from .render import tools_table
from .tools import Tool, load_source, replaced_message
from .transcript import data_dir
from .weights import BUNDLED, cache_dir, check_gguf

_MARKS = {"ok": ("✓", "green"), "bad": ("✗", "red"), "warn": ("!", "yellow"), "info": ("·", "dim")}
_PING_TOOL = {"type": "function", "function": {
    "name": "ping", "description": "Answer a health check.", "parameters": {"type": "object", "properties": {}}}}


class Report:
    def __init__(self, console: Console):
        self.console = console

    def line(self, status: str, label: str, detail: str) -> None:
        mark, style = _MARKS[status]
        text = Text()
        text.append(f"{mark} ", style=style).append(f"{label:<12}", style="bold").append(detail)
        self.console.print(text, soft_wrap=True)


def doctor(config_path: Path, extra_tools: list[str], console: Console | None = None,
           mcp_files: list[Path] = ()) -> int:
    report = Report(console or Console())
    try:
        config = load_config(config_path)
    except AgentError as e:
        report.line("bad", "config", str(e))
        return 1
    report.line("ok", "config", str(Path(config_path).resolve()))
    answers = check_endpoint(report, config)
    can_start = check_autostart(report, config, needed=not answers)
    check_kept(report)
    tools = check_tools(report, config, extra_tools)
    check_mcp(report, config, mcp_files, {t.name for t in tools})
    report.line("info", "data", f"history and transcripts in {data_dir()}"
                + ("" if config.transcript.enabled else " (transcript: off)"))
    return 0 if answers or can_start else 1


def check_endpoint(report: Report, config: Config) -> bool:
    api_base = config.llm_config.api_base
    if not api_base:
        report.line("info", "endpoint", "none configured (llm_config.api_base)")
        return False
    started = time.perf_counter()
    if not endpoint_answers(api_base, timeout=5.0):
        report.line("bad", "endpoint", f"{api_base}: no answer")
        return False
    report.line("ok", "endpoint", f"{api_base} answers ({(time.perf_counter() - started) * 1000:.0f} ms)")
    # A short timeout and no retries: a health check must not hang.
    llm_config = config.llm_config.model_copy(update={"timeout": min(config.llm_config.timeout, 30.0),
                                                      "max_retries": 0})
    llm = LLMClient(llm_config, api_base)
    try:
        info = llm.probe()
    except AgentError as e:
        report.line("warn", "models", f"/models failed ({e}); server kind unknown")
        info = ServerInfo(kind="unknown", models=[])
    else:
        served = ", ".join(info.models) or "none listed"
        configured = config.llm_config.model
        note = "" if configured in info.models or not info.models else \
            f" (llm_config.model is {configured}; llama.cpp answers to any name, others may not)"
        report.line("ok" if info.models else "warn", "models", served + note)
    report.line("info", "server", {"llama.cpp": "llama.cpp", "vllm": "vLLM"}.get(info.kind, "unknown (not llama.cpp or vLLM)"))
    constrained = config.agent.constrained
    if info.kind in KINDS:
        detail = "supported" + (" (agent.constrained: off)" if constrained == "off" else ", used for tool arguments")
        report.line("ok", "constrained", detail)
    else:
        status = "bad" if constrained == "on" else "info"
        report.line(status, "constrained", "not supported by this server"
                    + (" but agent.constrained is on: use auto or off" if constrained == "on" else
                       " (arguments are parsed and validated instead)"))
    check_tools_param(report, config, llm)
    return True


def check_tools_param(report: Report, config: Config, llm: LLMClient) -> None:
    """Whether the server accepts an OpenAI `tools=` request (one token, one dummy tool)."""
    mode = "used (llm_config.is_function_call: true)" if config.llm_config.is_function_call else \
        "not used (ReAct prompt; llm_config.is_function_call: false)"
    try:
        llm.chat([{"role": "user", "content": "ping"}], tools=[_PING_TOOL], max_tokens=1)
    except AgentError as e:
        status = "bad" if config.llm_config.is_function_call else "warn"
        report.line(status, "tools=", f"rejected ({e}); {mode}")
        return
    report.line("ok", "tools=", f"accepted; {mode}")


def check_autostart(report: Report, config: Config, needed: bool) -> bool:
    """Whether `server.autostart` could serve a model here (nothing is started)."""
    server = config.server
    if not server.autostart:
        report.line("bad" if needed else "info", "autostart", "off (server.autostart: false)")
        return False
    problems = []
    if importlib.util.find_spec("xllamacpp") is None:
        problems.append("xllamacpp is not installed (pip install -r requirements.txt)")
    if server.model_path:
        model = Path(server.model_path).expanduser()
        try:
            check_gguf(model)
            what = str(model)
        except ServerError as e:
            problems.append(str(e))
            what = str(model)
    else:
        bundled = BUNDLED[server.bundled]
        assembled = cache_dir() / "models" / f"{bundled.name}.gguf"
        missing = [p for p in bundled.packages if importlib.util.find_spec(p) is None]
        what = f"the bundled {bundled.name}"
        if assembled.is_file() and assembled.stat().st_size == bundled.size:
            what += f" (assembled at {assembled})"
        elif missing:
            problems.append(f"{len(missing)} of its {len(bundled.packages)} packages are missing "
                            f"({missing[0]}…): {bundled.install_hint}")
        else:
            what += f" (packages installed; assembled into {assembled} on first use)"
    if problems:
        report.line("bad" if needed else "warn", "autostart", f"cannot start {what}: {'; '.join(problems)}")
        return False
    if needed:
        report.line("ok", "autostart", f"would start llama.cpp with {what} (not started by --doctor)")
    else:
        report.line("info", "autostart", f"not needed (the endpoint answers); possible with {what}")
    return True


def check_kept(report: Report) -> None:
    """The llama.cpp servers that earlier commands left loaded (server.keep_alive)."""
    from .kept_server import idle_seconds, kept_servers
    from .server import duration, stop_hint

    for path, state in kept_servers():
        idle = min(idle_seconds(path), state.keep_alive)
        report.line("info", "kept server", f"{Path(state.model).name} on {state.api_base} (pid {state.pid}), "
                    f"idle {duration(round(idle))} of {duration(state.keep_alive)}; `{stop_hint()}` stops it")


def check_tools(report: Report, config: Config, extra_tools: list[str]) -> list[Tool]:
    tools: dict[str, Tool] = {}
    for source in config.tool_sources() + list(extra_tools):
        try:
            loaded = load_source(source)
        except AgentError as e:
            report.line("bad", "tools", str(e))
            continue
        report.line("ok" if loaded else "warn", "tools", f"{source}: {len(loaded)} tool(s)")
        for tool in loaded:
            if tool.name in tools and tools[tool.name].origin != tool.origin:
                report.line("warn", "tools", replaced_message(tools[tool.name], tool))
            tools[tool.name] = tool
    if tools:
        report.console.print(tools_table(list(tools.values())))
    else:
        report.line("warn", "tools", "none loaded: the model can only answer from what it knows")
    return list(tools.values())


def check_mcp(report: Report, config: Config, mcp_files: list[Path], taken: set[str]) -> None:
    """Each MCP server: started (then stopped again: listing tools needs a running server) or why
    not, and its tools with their read-only status."""
    from .mcp_tools import McpServers

    servers = dict(config.mcp_servers)
    for path in mcp_files:
        try:
            servers.update(load_mcp_file(path))
        except AgentError as e:
            report.line("bad", "mcp", str(e))
    if not servers:
        return
    with McpServers(servers, config.agent.tool_timeout) as running:
        tools = running.start(taken)
    for name, server in servers.items():
        if server.disabled:
            report.line("info", "mcp", f"{name}: disabled")
    for server in running.servers:
        if server.error:
            report.line("bad", "mcp", f"{server.name} ({server.transport}): {server.error}")
            continue
        override = "" if server.config.read_only is None else f", read_only: {str(server.config.read_only).lower()}"
        renamed = f"; offered as {', '.join(server.renamed.values())}" if server.renamed else ""
        read_only = sum(not t.side_effect for t in server.tools)
        report.line("ok", "mcp", f"{server.name} ({server.transport}): {len(server.tools)} tool(s), {read_only} "
                    f"read-only{override}; started in {server.startup_s:.1f} s{renamed}")
    if tools:
        report.console.print(tools_table(tools))
