"""The command line: one question, an interactive chat (repl.py), a file of questions (batch.py)
or a health check (doctor.py). This module only parses options and wires the parts together."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import typer

from .errors import AgentError

PROJECT_DIR = Path(__file__).resolve().parent.parent
EXIT_CODES = {"answer": 0, "error": 1, "max_turns": 3, "interrupted": 130}
TERMINATED = threading.Event()  # SIGTERM arrived

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


def warn(message: str) -> None:
    from .render import stderr

    stderr.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def note(message: str) -> None:
    from .render import stderr

    stderr.print(f"[dim]note:[/] {message}", highlight=False, soft_wrap=True)


@dataclass(kw_only=True)  # built by name: sixteen options in a row are easy to shift by one
class Options:
    prompt: Optional[str]
    config: Path
    tools: list[str]
    engine: Optional[str]
    json_out: bool
    yes: bool
    dry_run: bool
    verbose: bool
    debug: bool
    transcript: Optional[Path]
    no_transcript: bool
    resume: Optional[Path]
    batch: Optional[Path]
    out: Optional[Path]
    concurrency: int
    doctor: bool
    mcp: list[Path] = field(default_factory=list)
    stop_server: bool = False


FILES, BATCH = "Transcript", "Batch mode"


@app.command()
def main(
    prompt: Optional[str] = typer.Argument(None, help="The question. Without it (and without --batch), an interactive chat starts."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config (default: config/default.yaml)."),
    tools: list[str] = typer.Option([], "--tools", "-t", help="More tools: a .py file, a folder, a module or an OpenAI tools .json. Repeatable."),
    mcp: list[Path] = typer.Option([], "--mcp", metavar="FILE", help='MCP servers whose tools to use: a JSON file {"mcpServers": {...}} as Claude Desktop, Cursor and others write it. Repeatable.'),
    engine: Optional[str] = typer.Option(None, "--engine", "-e", help="native or roleplay (overrides agent.engine)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object (answer, stopped, turns, tool_calls, usage, timings, error, partial). Needs a prompt."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Run side-effecting tools without asking (in batch mode they are refused without it)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Run no tool: the answer says which calls would have run, with which values."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show token usage and timings per answer."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
    transcript: Optional[Path] = typer.Option(None, "--transcript", metavar="FILE", rich_help_panel=FILES,
                                              help="Append every exchange to FILE (JSONL; default: a new file in the user's data dir, e.g. ~/.local/share/localagent/transcripts/)."),
    no_transcript: bool = typer.Option(False, "--no-transcript", rich_help_panel=FILES, help="Write no transcript."),
    resume: Optional[Path] = typer.Option(None, "--resume", metavar="FILE", rich_help_panel=FILES,
                                          help="Continue the conversation saved in FILE (a transcript or a /save file), appending to it."),
    batch: Optional[Path] = typer.Option(None, "--batch", metavar="FILE", rich_help_panel=BATCH,
                                         help='Answer every line of FILE: {"id": ..., "prompt": ...} or plain text (id = line number).'),
    out: Optional[Path] = typer.Option(None, "--out", metavar="FILE", rich_help_panel=BATCH,
                                       help="Batch results, one JSON line each, appended; ids answered there are skipped, failed ones asked again (default: <batch file>.results.jsonl)."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, max=256, rich_help_panel=BATCH,
                                    help="Batch questions answered at once."),
    doctor: bool = typer.Option(False, "--doctor", help="Check the config, the endpoint, autostart, the tools and MCP servers; start no model. Exit 0 when a model can answer."),
    stop_server: bool = typer.Option(False, "--stop-server", help="Stop the llama.cpp servers kept loaded by earlier commands (server.keep_alive) now."),
) -> None:
    """Let a local LLM answer with your tools, through an OpenAI-style endpoint.

    With nothing running at llm_config.api_base and server.autostart: true (the default config), the bundled Qwen2.5-Coder model is served by llama.cpp, and stays loaded for server.keep_alive (5 min) after the command for the next one.

    Exit codes: 0 answered, 1 error, 2 bad config/options/input, 3 stopped at agent.max_turns, 130 interrupted (Ctrl-C or SIGTERM).
    """
    opts = Options(prompt=prompt, config=config or default_config(), tools=tools, engine=engine, json_out=json_out,
                   yes=yes, dry_run=dry_run, verbose=verbose, debug=debug, transcript=transcript,
                   no_transcript=no_transcript, resume=resume, batch=batch, out=out, concurrency=concurrency,
                   doctor=doctor, mcp=mcp, stop_server=stop_server)
    try:
        code = run(opts)
    except AgentError as e:
        if debug:
            raise
        fail(str(e), e.exit_code)
    except KeyboardInterrupt:
        if debug:
            raise
        fail("interrupted", 130)
    except typer.Exit:
        raise
    except Exception as e:  # noqa: BLE001 - a bug is one line too; --debug shows where
        if debug:
            raise
        fail(f"unexpected {type(e).__name__}: {e} (--debug shows the traceback)", 1)
    raise typer.Exit(code)


def run(opts: Options) -> int:
    check_options(opts)
    if opts.doctor:
        from .doctor import doctor

        return doctor(opts.config, list(opts.tools), mcp_files=list(opts.mcp))
    if opts.stop_server:
        return stop_servers()
    with contextlib.ExitStack() as stack:  # holds the MCP servers until the command ends
        config, toolbox = prepare(opts, stack)
        if opts.batch:
            return run_batch(opts, config, toolbox)
        return run_chat(opts, config, toolbox)


def check_options(opts: Options) -> None:
    modes = [name for name, on in (("a prompt", opts.prompt is not None), ("--batch", opts.batch),
                                   ("--doctor", opts.doctor), ("--stop-server", opts.stop_server)) if on]
    if len(modes) > 1:
        fail(f"give only one of {' and '.join(modes)}")
    if opts.prompt is not None and not opts.prompt.strip():
        fail("the prompt is empty: give a question, or none for an interactive chat")
    if opts.out and not opts.batch:
        fail("--out goes with --batch")
    if opts.json_out and opts.prompt is None:
        fail("--json needs a prompt (for many prompts: --batch)")
    if opts.no_transcript and opts.transcript:
        fail("--transcript and --no-transcript contradict each other")
    if opts.batch and (opts.transcript or opts.resume):
        fail("--transcript and --resume are for chats; batch results go to --out")
    if opts.engine and opts.engine not in ("native", "roleplay"):
        fail(f"--engine: expected native or roleplay, got {opts.engine!r}")


def prepare(opts: Options, stack: contextlib.ExitStack):
    from .config import load_config, load_mcp_file
    from .tools import Toolbox

    config = load_config(opts.config)
    if opts.engine:
        config.agent.engine = opts.engine
    toolbox = Toolbox.load(config.tool_sources() + list(opts.tools), tool_timeout=config.agent.tool_timeout)
    for message in toolbox.replaced:
        warn(message)
    servers = dict(config.mcp_servers)
    for path in opts.mcp:
        servers.update(load_mcp_file(path))
    if servers:
        toolbox = Toolbox([*toolbox.tools.values(), *start_mcp_servers(servers, config, toolbox, stack)],
                          tool_timeout=config.agent.tool_timeout)
    if not len(toolbox) and not opts.doctor:
        warn(f"no tools: {opts.config} lists none (tools: []) and no --tools was given; the model answers without them")
    return config, toolbox


def start_mcp_servers(servers, config, toolbox, stack: contextlib.ExitStack) -> list:
    """Start the MCP servers for the rest of the command; their tools. Problems are warnings."""
    from .mcp_tools import McpServers

    running = stack.enter_context(McpServers(servers, config.agent.tool_timeout))
    with status_line(enabled=True) as on_status:
        on_status(f"starting MCP server(s): {', '.join(s.name for s in running.servers)}…")
        tools = running.start(taken=set(toolbox.names()))
    for line in running.warnings():
        warn(line)
    return tools


def open_transcript(opts: Options, config):
    """Where this chat's exchanges go: --transcript, else the --resume file, else a new file."""
    from .transcript import Transcript, default_path

    if opts.no_transcript:
        path = None
    elif opts.transcript or opts.resume:
        path = opts.transcript or opts.resume
    else:
        path = default_path(config.transcript.dir) if config.transcript.enabled else None
    return Transcript(path, on_warning=warn)


def run_chat(opts: Options, config, toolbox) -> int:
    """One question (a prompt) or the REPL (none)."""
    from .endpoint import open_endpoint
    from .engines.factory import create_engine
    from .memory import Conversation
    from .transcript import load_exchanges

    history = load_exchanges(opts.resume) if opts.resume else []
    transcript = open_transcript(opts, config)
    events = None
    if not opts.json_out:  # rich's live display: not imported for --json, before the first request
        from .render import TerminalEvents

        events = TerminalEvents(verbose=opts.verbose)
    with contextlib.ExitStack() as stack:
        with status_line(enabled=events is not None) as on_status:
            api_base = stack.enter_context(open_endpoint(config, on_status, on_notice=note))
            agent = create_engine(config, api_base, toolbox, approve=approver(opts.yes, events),
                                  dry_run=opts.dry_run, events=events)
        conversation = Conversation(agent, history, max_exchanges=config.agent.memory)
        if opts.prompt is None:
            from .repl import repl

            return repl(conversation, config, toolbox, events, transcript, opts.verbose, opts.debug)
        try:
            result = conversation.ask(opts.prompt)
        finally:
            if events:
                events.stop_live()
        transcript.add(opts.prompt, result)
        if opts.json_out:
            print(json.dumps(result.to_json(), ensure_ascii=False))
        else:
            from .render import print_result

            print_result(result, opts.verbose)
        return EXIT_CODES[result.stopped]


def run_batch(opts: Options, config, toolbox) -> int:
    from .endpoint import open_endpoint
    from .engines.factory import create_engine
    from .batch import BatchError, read_prompts
    from .batch import run_batch as answer_all
    from .render import stderr

    items = read_prompts(opts.batch)
    out = opts.out or opts.batch.with_name(opts.batch.name.removesuffix(".jsonl") + ".results.jsonl")
    if out.exists() and out.resolve() == opts.batch.resolve():
        raise BatchError(f"--out {out} is the batch file itself")
    refuse = approver(opts.yes, None)  # no prompting in batch mode
    with contextlib.ExitStack() as stack:
        with status_line(enabled=True) as on_status:
            api_base = stack.enter_context(open_endpoint(config, on_status, on_notice=note))
        summary = answer_all(items, out, lambda: create_engine(config, api_base, toolbox, approve=refuse,
                                                               dry_run=opts.dry_run),
                             opts.concurrency, console=stderr)
    style = "yellow" if summary.interrupted else "red" if summary.errors else "green"
    stderr.print(f"[{style}]batch:[/] {summary.line(out)}", highlight=False, soft_wrap=True)
    if summary.interrupted:
        sys.stdout.flush()
        stderr.file.flush()
        os._exit(130)  # abandoned workers may still wait on the model; every written line is fsynced
    return 1 if summary.errors else 0


def stop_servers() -> int:
    from .kept_server import stop_kept_servers

    stopped = stop_kept_servers()
    for state in stopped:
        note(f"stopped the llama.cpp server on {state.host}:{state.port} (pid {state.pid}, {Path(state.model).name})")
    if not stopped:
        note("no kept llama.cpp server was running")
    return 0


@contextlib.contextmanager
def status_line(enabled: bool):
    """A spinner with a status text on a terminal (model loading can take seconds); silent otherwise."""
    if not enabled:
        yield lambda text: None
        return
    from .render import stderr

    if not stderr.is_terminal:
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
    if sys.stdin.isatty():
        # Started from a shell script's background job, SIGINT arrives ignored (SIG_IGN is
        # inherited); at a terminal, Ctrl-C must still stop the answer.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    app()


def _terminate(signum, frame) -> None:
    """SIGTERM ends like Ctrl-C: the answer stops, the exchange so far is recorded, exit 130
    (and the chat leaves rather than going back to its prompt)."""
    TERMINATED.set()
    raise KeyboardInterrupt
