"""MCP servers' tools as plain `Tool`s: start the configured servers, list their tools, call them.

The `mcp` SDK is async and the engines are not (batch mode even calls from several threads), so
one background thread runs an event loop that holds every server's session; a tool's `run`
hands its call to that loop and waits. Servers start together, once per process, and stop
together with their whole process group (the SDK's shutdown: close stdin, SIGTERM, SIGKILL).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import re
import sys
import tempfile
import threading
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
import mcp_types
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client
from mcp.shared.exceptions import MCPError

from .config import McpServerConfig
from .tools import Tool, _grounded

# A stdio server is started through this guard on Linux: prctl(PR_SET_PDEATHSIG) kills it when
# this process dies without cleaning up (SIGKILL, os._exit); it survives the exec of the server.
_DIE_WITH_PARENT = ("import ctypes, os, signal, sys\n"
                    "ctypes.CDLL(None).prctl(1, signal.SIGKILL)\n"
                    "if os.getppid() != int(sys.argv[1]): sys.exit(1)\n"
                    "try: os.execvp(sys.argv[2], sys.argv[2:])\n"
                    "except OSError as e: sys.exit(f'cannot run {sys.argv[2]}: {e.strerror}')")
_MAX_PAGES = 100  # of a tools/list answer: a paginator that never ends cannot hang the start

# The SDK logs a server's stray stdout lines and shutdown noise with tracebacks, which Python's
# last-resort handler would print; what matters reaches the user as one line from here.
logging.getLogger("mcp").addHandler(logging.NullHandler())


class MCPToolError(Exception):
    """An MCP call that gave no result: the tool said isError, time ran out, or the server is gone."""


@dataclass
class McpServer:
    """One configured server: what it offers once started, or why it is not running."""
    name: str
    config: McpServerConfig
    tools: list[Tool] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)  # the server's name -> the name offered
    error: str | None = None
    startup_s: float = 0.0
    client: Client | None = None  # while running
    listed: list[mcp_types.Tool] = field(default_factory=list)
    stderr: Any = None  # a temp file with the server's stderr (stdio)
    task: asyncio.Task | None = None  # holds the session open

    @property
    def transport(self) -> str:
        return "http" if self.config.url else "stdio"

    def secrets(self) -> list[str]:
        """Env and header values, and a URL's credentials and query (where API keys go)."""
        c = self.config
        values = [v.get_secret_value() for v in (*c.env.values(), *c.headers.values())]
        if c.url:
            parts = urlsplit(c.url)
            values += [p for p in (parts.password, parts.username, parts.query) if p]
        return values

    def redact(self, text: str) -> str:
        for secret in sorted((s for s in self.secrets() if len(s) >= 4), key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def last_stderr_line(self) -> str:
        if self.stderr is None:
            return ""
        fd = self.stderr.fileno()
        size = os.fstat(fd).st_size
        tail = os.pread(fd, 4096, max(0, size - 4096)).decode("utf-8", "replace")
        lines = [line.strip() for line in tail.splitlines() if line.strip()]
        return self.redact(lines[-1]) if lines else ""


class McpServers:
    """The MCP servers of this process, a context manager: `start()` them, use their tools, exit."""

    def __init__(self, configs: dict[str, McpServerConfig], tool_timeout: float = 60.0):
        self.servers = [McpServer(name, c) for name, c in configs.items() if not c.disabled]
        self.tool_timeout = tool_timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mcp-servers", daemon=True)
        self._stopping = asyncio.Event()  # bound to the loop on first use (Python >= 3.10)

    def __enter__(self) -> "McpServers":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- start and stop ------------------------------------------------------------------

    def start(self, taken: set[str] | None = None) -> list[Tool]:
        """Start every server at once; their tools, renamed where a name in `taken` is used."""
        self._thread.start()
        self._submit(self._start_all()).result()
        return self._offer(set(taken or ()))

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            self._submit(self._stop_all()).result(timeout=30)
        except concurrent.futures.TimeoutError:
            pass  # the guard above still kills the servers with this process
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            for server in self.servers:
                if server.stderr is not None:
                    server.stderr.close()

    def warnings(self) -> list[str]:
        """One line per server that is not running, and per server whose tools were renamed."""
        lines = [f"MCP server {s.name!r} is not used: {s.error}" for s in self.servers if s.error]
        for s in self.servers:
            if s.renamed:
                pairs = ", ".join(f"{old} as {new}" for old, new in s.renamed.items())
                lines.append(f"MCP server {s.name!r}: tool name(s) already taken, offered as {pairs}")
        return lines

    def _submit(self, coroutine) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    async def _start_all(self) -> None:
        await asyncio.gather(*(self._start(server) for server in self.servers))

    async def _stop_all(self) -> None:
        self._stopping.set()  # a running server's session closes: the SDK stops its process group
        for server in self.servers:
            if server.task is not None and server.client is None:
                server.task.cancel()  # still in initialize (Ctrl-C during the start)
        # What is left (the start itself) ends here, not destroyed with the loop.
        rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in rest:
            if not any(task is s.task for s in self.servers):
                task.cancel()
        if rest:
            await asyncio.wait(rest, timeout=20)

    async def _start(self, server: McpServer) -> None:
        started = time.perf_counter()
        ready = asyncio.get_running_loop().create_future()
        task = server.task = asyncio.create_task(self._serve(server, ready))
        timeout = server.config.startup_timeout
        try:
            await asyncio.wait_for(asyncio.shield(ready), timeout)
        except asyncio.TimeoutError:
            task.cancel()  # the SDK stops the process on the way out
            await asyncio.wait([task])
            server.error = f"no answer to initialize within {timeout:g} s (startup_timeout)"
        except Exception as e:  # noqa: BLE001 - any failure to start is one line
            server.error = "it exited before answering initialize" if _closed(e) else server.redact(_describe(e))
        if server.error and (line := server.last_stderr_line()):
            server.error += f"; its stderr: {line}"
        server.startup_s = time.perf_counter() - started

    async def _serve(self, server: McpServer, ready: asyncio.Future) -> None:
        """Holds the server's session open until the process stops using it."""
        try:
            async with AsyncExitStack() as stack:
                transport = await self._transport(server, stack)
                client = await stack.enter_async_context(Client(transport))
                server.listed = await _list_tools(client)
                server.client = client
                ready.set_result(None)
                await self._stopping.wait()
        except Exception as e:  # noqa: BLE001 - reported by _start, or by the next call
            if not ready.done():
                ready.set_exception(e)
        finally:
            server.client = None

    async def _transport(self, server: McpServer, stack: AsyncExitStack):
        c = server.config
        if c.url:
            headers = {k: v.get_secret_value() for k, v in c.headers.items()}
            http = await stack.enter_async_context(create_mcp_http_client(headers=headers))
            return streamable_http_client(c.url, http_client=http)
        server.stderr = tempfile.TemporaryFile(mode="a+b")  # O_APPEND: the server's writes go to the end
        command, args = c.command, list(c.args)
        if sys.platform == "linux":
            command, args = sys.executable, ["-S", "-c", _DIE_WITH_PARENT, str(os.getpid()), command, *args]
        env = {k: v.get_secret_value() for k, v in c.env.items()}
        return stdio_client(StdioServerParameters(command=command, args=args, env=env, cwd=c.cwd),
                            errlog=server.stderr)

    # --- tools and calls ------------------------------------------------------------------

    def _offer(self, taken: set[str]) -> list[Tool]:
        tools = []
        for server in self.servers:
            for listed in server.listed:
                name = listed.name
                if name in taken:
                    name = f"{re.sub(r'[^A-Za-z0-9_-]', '_', server.name)}_{listed.name}"
                    server.renamed[listed.name] = name
                taken.add(name)
                server.tools.append(self._tool(server, listed, name))
            tools += server.tools
        return tools

    def _tool(self, server: McpServer, listed: mcp_types.Tool, name: str) -> Tool:
        read_only = server.config.read_only
        if read_only is None:
            read_only = bool(listed.annotations and listed.annotations.read_only_hint)
        schema = listed.input_schema or {"type": "object", "properties": {}}
        derived = set(server.config.derived_params) & set(schema.get("properties", {}))
        if derived:
            schema = {**schema, "properties": {k: {**p, "x-grounded": False} if k in derived else p
                                               for k, p in schema["properties"].items()}}

        def run(arguments: dict[str, Any]) -> str:
            return self.call(server, listed.name, arguments)

        return Tool(name=name, description=listed.description or listed.title or "", parameters=schema,
                    run=run, side_effect=not read_only, grounded_params=_grounded(schema), server=server.name,
                    origin=f"MCP server {server.name}", source="mcp")

    def call(self, server: McpServer, name: str, arguments: dict[str, Any]) -> str:
        """The tool's result as text, or MCPToolError. Ctrl-C cancels the call at the server."""
        future = self._submit(self._call(server, name, arguments))
        try:
            # The call ends itself at tool_timeout; the margin only bounds a stuck event loop.
            return future.result(timeout=self.tool_timeout + 30)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise MCPToolError(f"no result within {self.tool_timeout:g} s (agent.tool_timeout)") from None
        except KeyboardInterrupt:
            future.cancel()
            raise

    async def _call(self, server: McpServer, name: str, arguments: dict[str, Any]) -> str:
        client = server.client
        if client is None:
            raise MCPToolError(self._gone(server))
        try:
            result = await client.call_tool(name, arguments, read_timeout_seconds=self.tool_timeout)
        except MCPError as e:
            if e.code == mcp_types.REQUEST_TIMEOUT:
                raise MCPToolError(f"no result within {self.tool_timeout:g} s (agent.tool_timeout); "
                                   f"the call was cancelled") from None
            raise MCPToolError(self._gone(server) if _closed(e) else server.redact(e.message)) from None
        except Exception as e:  # noqa: BLE001 - the transport broke under the call
            raise MCPToolError(self._gone(server) if _closed(e) else server.redact(_describe(e))) from None
        text = result_text(result)
        if result.is_error:
            raise MCPToolError(text or "the tool reported an error")
        return text

    def _gone(self, server: McpServer) -> str:
        line = server.last_stderr_line()
        return f"MCP server {server.name!r} is not running" + (f" (its stderr: {line})" if line else "")


async def _list_tools(client: Client) -> list[mcp_types.Tool]:
    tools, cursor = [], None
    for _ in range(_MAX_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools += page.tools
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


def result_text(result: mcp_types.CallToolResult) -> str:
    """What the model reads: structured content as JSON, else the text blocks joined; images,
    audio and resources as one line each, never their bytes."""
    parts = []
    if result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    for block in result.content:
        kind = getattr(block, "type", "")
        if kind == "text":
            if result.structured_content is None:
                parts.append(block.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind}: {block.mime_type}, {_base64_size(block.data)} bytes]")
        elif kind == "resource":
            r = block.resource
            what = f"{len(r.text)} characters" if hasattr(r, "text") else f"{_base64_size(r.blob)} bytes"
            parts.append(f"[resource: {r.uri}, {r.mime_type or 'unknown type'}, {what}]")
        elif kind == "resource_link":
            parts.append(f"[resource link: {block.uri} ({block.name})]")
        else:
            parts.append(f"[{kind or 'unknown'} content]")
    return "\n".join(parts)


def _base64_size(data: str) -> int:
    return len(data) * 3 // 4 - data[-2:].count("=")


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(getattr(error, "exceptions", None), tuple):  # an ExceptionGroup (Python 3.10: anyio's backport)
        return [leaf for e in error.exceptions for leaf in _leaves(e)]
    return [error]


def _describe(error: BaseException) -> str:
    """An error (maybe a task group's ExceptionGroup) as one line."""
    leaf = _leaves(error)[0]
    text = (str(leaf).strip().splitlines() or [""])[0]
    if isinstance(leaf, FileNotFoundError) and leaf.filename:
        return f"command not found: {leaf.filename}"
    return f"{type(leaf).__name__}: {text}" if text else type(leaf).__name__


def _closed(error: BaseException) -> bool:
    leaves = _leaves(error)
    return any(isinstance(e, (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream,
                              ConnectionError)) or "closed" in str(e).lower() for e in leaves)

