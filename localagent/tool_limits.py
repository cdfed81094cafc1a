"""A tool's own code, contained: a time limit, its prints captured, its exits turned into failures.

The code runs in a thread of its own. Past the limit the caller goes on with ToolTimeoutError
and the thread is abandoned (Python cannot kill it): its result and whatever it prints from then
on go nowhere, so it cannot write into a later answer. What a tool prints would otherwise go to
stdout, which holds only the answer (or the --json object). SystemExit and KeyboardInterrupt
raised by the tool's code are failed calls; a real Ctrl-C still reaches the main thread.
"""
from __future__ import annotations

import io
import sys
import threading
from typing import Any, Callable


class ToolError(Exception):
    """A tool call that failed by the tool's doing; the message is what the model reads."""


class ToolTimeoutError(ToolError):
    """The tool did not return within its time limit."""


class _Captured(io.StringIO):
    """What one call printed; once the call is abandoned, it takes no more."""

    abandoned = False

    def write(self, text: str) -> int:
        return len(text) if self.abandoned else super().write(text)


class PrintRouter:
    """Stands in for sys.stdout: what a tool's thread prints goes into that call's buffer,
    everything else to the real stdout (every other attribute is the real stdout's)."""

    def __init__(self, stdout: Any):
        self.stdout = stdout
        self.buffers: dict[int, _Captured] = {}

    def write(self, text: str) -> int:
        buffer = self.buffers.get(threading.get_ident())
        return (buffer or self.stdout).write(text)

    def flush(self) -> None:
        if threading.get_ident() not in self.buffers:
            self.stdout.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stdout, name)


def _router() -> PrintRouter:
    if not isinstance(sys.stdout, PrintRouter):
        sys.stdout = PrintRouter(sys.stdout)
    return sys.stdout


def call_contained(fn: Callable[[], Any], seconds: float, on_print: Callable[[str], None]) -> Any:
    """fn() in its own thread: its value, or the ToolError it caused; what it printed goes to on_print."""
    router = _router()
    buffer = _Captured()
    outcome: dict[str, Any] = {}

    def target() -> None:
        router.buffers[threading.get_ident()] = buffer
        try:
            outcome["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - SystemExit too: reported to the caller
            outcome["error"] = e
        finally:
            router.buffers.pop(threading.get_ident(), None)

    thread = threading.Thread(target=target, name="tool", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        buffer.abandoned = True  # from now on it prints nowhere
        _show(buffer, on_print)
        raise ToolTimeoutError(f"timed out after {seconds:g} s")
    _show(buffer, on_print)
    error = outcome.get("error")
    if isinstance(error, SystemExit):
        raise ToolError(f"called sys.exit({'' if error.code is None else repr(error.code)})") from None
    if isinstance(error, KeyboardInterrupt):
        raise ToolError("raised KeyboardInterrupt") from None
    if error is not None:
        raise error
    return outcome["value"]


def _show(buffer: _Captured, on_print: Callable[[str], None]) -> None:
    if buffer.getvalue():
        on_print(buffer.getvalue())
