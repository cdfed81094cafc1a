"""The command line: one question, an interactive REPL, or (see batch.py) a file of questions."""
from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from .errors import AgentError

PROJECT_DIR = Path(__file__).resolve().parent.parent
EXIT_CODES = {"answer": 0, "error": 1, "max_turns": 3, "interrupted": 130}

app = typer.Typer(add_completion=False, rich_markup_mode="rich", context_settings={
    "help_option_names": ["-h", "--help"]})


def default_config() -> Path:
    """config/default.yaml in the working directory, else the one shipped beside this package."""
    local = Path("config/default.yaml")
    return local if local.exists() else PROJECT_DIR / "config" / "default.yaml"


def fail(message: str, code: int = 2) -> None:
    from .render import stderr

    stderr.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.command()
def main(
    prompt: Optional[str] = typer.Argument(None, help="The question. Without it, an interactive chat starts."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config (default: config/default.yaml)."),
    tools: list[str] = typer.Option([], "--tools", "-t", help="More tools: a .py file, a folder, a module or an OpenAI tools .json. Repeatable."),
    engine: Optional[str] = typer.Option(None, "--engine", "-e", help="native or roleplay (overrides agent.engine)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object (answer, stopped, turns, tool_calls, usage, timings)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Run side-effecting tools without asking."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Record tool calls and answer them with a neutral 'ok'; run nothing."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show token usage and timings per answer."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
) -> None:
    """Let a local LLM answer with your tools, through an OpenAI-style endpoint.

    With nothing running at llm_config.api_base and server.autostart: true (the default config),
    the bundled Qwen2.5-Coder model is served by llama.cpp for the duration of the command.
    """
    try:
        code = run(prompt, config or default_config(), tools, engine, json_out, yes, dry_run, verbose)
    except AgentError as e:
        if debug:
            raise
        fail(str(e), 2 if e.__class__.__name__ in ("ConfigError", "ToolLoadError") else 1)
    except KeyboardInterrupt:
        if debug:
            raise
        fail("interrupted", 130)
    raise typer.Exit(code)


def run(prompt, config_path, extra_tools, engine, json_out, yes, dry_run, verbose) -> int:
    from .agent import Conversation, create_engine, open_endpoint
    from .config import load_config
    from .render import TerminalEvents, print_result
    from .tools import Toolbox

    config = load_config(config_path)
    if engine:
        if engine not in ("native", "roleplay"):
            fail(f"--engine: expected native or roleplay, got {engine!r}")
        config.agent.engine = engine
    toolbox = Toolbox.load([config.resolve(t) for t in config.tools] + list(extra_tools))
    events = TerminalEvents(verbose=verbose) if not json_out else None
    with contextlib.ExitStack() as stack:
        with status_line(enabled=events is not None) as on_status:
            api_base = stack.enter_context(open_endpoint(config, on_status))
            agent = create_engine(config, api_base, toolbox, approve=approver(yes, events),
                                  dry_run=dry_run, events=events)
        if prompt is None:
            from .repl import repl

            return repl(Conversation(agent), config, toolbox, events, verbose)
        result = agent.run(prompt)
        if events:
            events.stop_live()
        if json_out:
            print(json.dumps(result.to_json(), ensure_ascii=False))
        else:
            print_result(result, verbose)
        return EXIT_CODES[result.stopped]


@contextlib.contextmanager
def status_line(enabled: bool):
    """A spinner with a status text on a terminal (model loading can take seconds); silent otherwise."""
    from .render import stderr

    if not (enabled and stderr.is_terminal):
        yield lambda text: None
        return
    with stderr.status("starting…", spinner="dots") as status:
        yield lambda text: status.update(text)


def approver(yes: bool, events):
    """Who decides whether a side-effecting tool may run: --yes, the user at a terminal, or nobody."""
    if yes:
        return lambda tool, args: None
    if events is not None and sys.stdin.isatty():
        return events.approve

    def refuse(tool, args) -> str:
        return (f"not executed: {tool.name} changes real resources and needs the user's confirmation, "
                f"which cannot be asked here (no terminal); the user can rerun with --yes.")
    return refuse


def entry() -> None:
    """The console script and agent_demo.py both come here."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app()
