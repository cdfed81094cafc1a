"""A real MCP server written with the SDK, for the tests: `python mcp_test_server.py [MODE]`.

Modes: `stdio` (default) serves the tools below over stdin/stdout; `http PORT TOKEN` serves them
over Streamable HTTP on 127.0.0.1:PORT/mcp to requests with `Authorization: Bearer TOKEN`;
`mute` reads stdin and never answers (not even `initialize`); `noisy` prints a line that is
not JSON-RPC on stdout first.

Tools: `lookup` (read-only), `delete_file` (destructive), `nap` (read-only, sleeps), `fail`
(answers isError), `crash` (the process exits mid-call), `hang` (never returns), `picture`
(an image and a resource). A cancelled call appends a line to $MCP_TEST_LOG.
"""
from __future__ import annotations

import os
import sys
import time

if sys.argv[1:2] == ["mute"]:  # before the SDK's import, which takes a second or two
    print("warming up forever", file=sys.stderr, flush=True)
    for _ in sys.stdin:
        pass
    time.sleep(3600)

import anyio  # noqa: E402
from mcp.server.mcpserver import MCPServer  # noqa: E402
from mcp.server.mcpserver.exceptions import ToolError  # noqa: E402
from mcp.server.mcpserver.utilities.types import Image  # noqa: E402
from mcp_types import EmbeddedResource, TextResourceContents, ToolAnnotations  # noqa: E402

READ_ONLY = ToolAnnotations(read_only_hint=True)
server = MCPServer("localagent-test")


def log(line: str) -> None:
    if os.environ.get("MCP_TEST_LOG"):
        with open(os.environ["MCP_TEST_LOG"], "a", encoding="utf-8") as f:
            f.write(line + "\n")


@server.tool(annotations=READ_ONLY)
def lookup(key: str) -> str:
    """Look a key up in the test table."""
    return f"value of {key} is 42"


@server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True))
def delete_file(path: str) -> str:
    """Delete a file."""
    log(f"deleted {path}")
    return f"deleted {path}"


@server.tool(annotations=READ_ONLY)
async def nap(seconds: float) -> str:
    """Sleep, then say so."""
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        log("nap cancelled")
        raise
    return f"slept {seconds} s"


@server.tool(annotations=READ_ONLY)
def fail(reason: str) -> str:
    """Always fails (an isError result)."""
    raise ToolError(f"cannot do it: {reason}")


@server.tool(annotations=READ_ONLY)
def crash() -> str:
    """The server dies while answering."""
    print("about to crash", file=sys.stderr, flush=True)
    os._exit(3)


@server.tool(annotations=READ_ONLY)
def hang() -> str:
    """Never returns (and ignores cancellation: a blocking call)."""
    log("hang started")
    while True:
        time.sleep(1)


@server.tool(annotations=READ_ONLY)
def picture() -> list:
    """An image and an embedded resource."""
    return [Image(data=b"\x89PNG" + b"0" * 96, format="png"),
            EmbeddedResource(type="resource", resource=TextResourceContents(
                uri="file:///notes.txt", mime_type="text/plain", text="x" * 500))]


def serve_http(port: int, token: str) -> None:
    import uvicorn

    app = server.streamable_http_app()

    async def guarded(scope, receive, send):
        headers = dict(scope.get("headers") or [])
        if scope["type"] == "http" and headers.get(b"authorization") != f"Bearer {token}".encode():
            await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"unauthorized"})
            return
        await app(scope, receive, send)

    uvicorn.run(guarded, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    if mode == "noisy":  # a line on stdout that is not JSON-RPC, as careless servers print
        print("server starting", flush=True)
    if mode == "http":
        serve_http(int(sys.argv[2]), sys.argv[3])
    else:
        server.run()
