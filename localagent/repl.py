"""The interactive chat: line editing and history, multi-turn memory, slash-commands.

Ctrl-C stops the current answer (or clears the line) and returns to the prompt; Ctrl-D or /exit
leaves. Nothing the user does prints a traceback: an unexpected error is one line, and the chat
goes on. Every exchange goes to the transcript as soon as it ends.
"""
from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from .memory import Conversation
from .cli import TERMINATED
from .config import Config
from .engines.base import RunResult, Timings, Usage
from .errors import AgentError
from .render import TerminalEvents, config_view, print_result, print_stats, stderr, stdout, tools_table
from .tools import Toolbox
from .transcript import Transcript, history_file, save_conversation

PROMPT = "› "

COMMANDS = {
    "/help": "this list",
    "/tools": "the tools the model may call",
    "/reset": "forget the conversation so far",
    "/config": "the config in use (api key masked)",
    "/save FILE": "write the conversation to FILE as JSONL (role, content)",
    "/stats": "token usage and timing of the last answer and of the session",
    "/exit": "leave (or Ctrl-D)",
}


@dataclass
class SessionStats:
    questions: int = 0
    turns: int = 0
    usage: Usage = field(default_factory=Usage)
    timings: Timings = field(default_factory=Timings)
    last: RunResult | None = None

    def add(self, result: RunResult) -> None:
        self.questions += 1
        self.turns += result.turns
        self.usage.add_usage(result.usage)
        for name in ("total_s", "llm_s", "tools_s"):
            setattr(self.timings, name, getattr(self.timings, name) + getattr(result.timings, name))
        self.last = result


class Repl:
    def __init__(self, conversation: Conversation, config: Config, toolbox: Toolbox, events: TerminalEvents,
                 transcript: Transcript, verbose: bool = False, debug: bool = False):
        self.conversation, self.config, self.toolbox = conversation, config, toolbox
        self.events, self.transcript = events, transcript
        self.verbose, self.debug = verbose, debug
        self.stats = SessionStats()
        self.running = True
        self.commands: dict[str, Callable[[list[str]], None]] = {
            "/help": self.cmd_help, "/?": self.cmd_help, "/tools": self.cmd_tools, "/reset": self.cmd_reset,
            "/config": self.cmd_config, "/save": self.cmd_save, "/stats": self.cmd_stats,
            "/exit": self.cmd_exit, "/quit": self.cmd_exit}

    # --- the loop -------------------------------------------------------------------------

    def run(self, read_line: Callable[[], str] | None = None) -> int:
        read_line = read_line or line_reader()
        self.banner()
        while self.running and not TERMINATED.is_set():
            try:
                line = read_line().strip()
            except KeyboardInterrupt:  # Ctrl-C at the prompt: a fresh line
                continue
            except EOFError:  # Ctrl-D
                break
            if not line:
                continue
            try:
                self.handle(line)
            except KeyboardInterrupt:
                self.events.stop_live()
                stderr.print("[yellow]interrupted[/]")
            except Exception as e:  # noqa: BLE001 - the chat survives anything
                self.events.stop_live()
                self.report(e)
        return 130 if TERMINATED.is_set() else 0

    def handle(self, line: str) -> None:
        if line.startswith("/") and line[1:2].isalpha() or line in ("/", "/?"):
            name, _, rest = line.partition(" ")
            command = self.commands.get(name.lower())
            if command is None:
                stderr.print(f"[red]unknown command {name}[/] (/help lists them)", highlight=False)
                return
            command(shlex.split(rest) if rest.strip() else [])
            return
        self.ask(line)

    def ask(self, question: str) -> RunResult:
        try:
            result = self.conversation.ask(question)
        except KeyboardInterrupt:  # an engine that let it through
            result = RunResult(stopped="interrupted", error="interrupted by the user")
        finally:
            self.events.stop_live()
        if self.conversation.forgotten:
            stderr.print(f"[dim]forgot the oldest {self.conversation.forgotten} exchange(s): "
                         "the conversation no longer fit the model's context[/]")
        self.transcript.add(question, result)
        self.stats.add(result)
        print_result(result, self.verbose)
        return result

    def banner(self) -> None:
        llm = self.config.llm_config
        stderr.print(f"[bold]localagent[/] · {llm.model} · {len(self.toolbox)} tool(s) · "
                     f"[dim]/help for commands, Ctrl-D to leave[/]", highlight=False)
        if self.conversation.history:
            stderr.print(f"[dim]resumed {len(self.conversation.history) // 2} exchange(s)[/]")
        if self.transcript.path:
            stderr.print(f"[dim]transcript: {self.transcript.path}[/]", highlight=False)

    def report(self, error: BaseException) -> None:
        if self.debug:
            stderr.print_exception()
            return
        text = str(error).strip().splitlines()[0] if str(error).strip() else ""
        if not isinstance(error, AgentError):
            text = f"{type(error).__name__}: {text}" if text else type(error).__name__
        stderr.print(f"[red]error:[/] {text}", highlight=False, soft_wrap=True)

    # --- slash-commands -------------------------------------------------------------------

    def cmd_help(self, args: list[str]) -> None:
        width = max(map(len, COMMANDS))
        for name, text in COMMANDS.items():
            stderr.print(f"  [bold]{name.ljust(width)}[/]  {text}", highlight=False)
        stderr.print("  [dim]anything else is a question; Ctrl-C stops an answer, Ctrl-D leaves[/]")

    def cmd_tools(self, args: list[str]) -> None:
        if not len(self.toolbox):
            stderr.print("no tools loaded (config `tools:` or --tools)")
            return
        stdout.print(tools_table(list(self.toolbox.tools.values())))

    def cmd_reset(self, args: list[str]) -> None:
        self.conversation.reset()
        self.transcript.reset()
        stderr.print("[dim]conversation cleared[/]")

    def cmd_config(self, args: list[str]) -> None:
        stdout.print(config_view(self.config))

    def cmd_save(self, args: list[str]) -> None:
        if len(args) != 1:
            stderr.print("usage: /save FILE")
            return
        path = save_conversation(args[0], self.conversation.history)
        stderr.print(f"saved {len(self.conversation.history)} message(s) to {path}", highlight=False)

    def cmd_stats(self, args: list[str]) -> None:
        if self.stats.last is None:
            stderr.print("no answer yet")
            return
        stderr.print("[bold]last answer[/]")
        print_stats(self.stats.last)
        s = self.stats
        stderr.print(f"[bold]session[/] · {s.questions} question(s)", highlight=False)
        print_stats(RunResult(turns=s.turns, usage=s.usage, timings=s.timings))

    def cmd_exit(self, args: list[str]) -> None:
        self.running = False


def line_reader() -> Callable[[], str]:
    """prompt_toolkit at a terminal (editing, persistent history); plain lines from a pipe."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        def read_plain() -> str:
            line = sys.stdin.readline()
            if not line:
                raise EOFError
            return line
        return read_plain

    from prompt_toolkit import PromptSession
    from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
    from prompt_toolkit.formatted_text import FormattedText
    from prompt_toolkit.history import FileHistory, History, InMemoryHistory

    path = history_file()
    history: History
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
        history = FileHistory(str(path))
    except OSError:
        history = InMemoryHistory()
    session: Any = PromptSession(history=history, auto_suggest=AutoSuggestFromHistory())
    message = FormattedText([("ansicyan bold", PROMPT)])
    return lambda: session.prompt(message)


def repl(conversation: Conversation, config: Config, toolbox: Toolbox, events: TerminalEvents,
         transcript: Transcript, verbose: bool = False, debug: bool = False) -> int:
    return Repl(conversation, config, toolbox, events, transcript, verbose, debug).run()
