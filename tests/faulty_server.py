"""OpenAI-style endpoints that misbehave, one way each, for the fault tests (issue 12).

`FaultyServer(behaviour)` is a real HTTP server on 127.0.0.1: GET /models answers like llama.cpp,
and every POST is answered by `behaviour(handler, body)`, one of the functions below (or any of
that shape). The POSTs it received are in `posts`.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable

from scripted_server import LoopbackServer, QuietHandler, _chunks, _completion

Behaviour = Callable[[BaseHTTPRequestHandler, dict], None]


class FaultyServer(LoopbackServer):
    def __init__(self, behaviour: Behaviour):
        self.behaviour = behaviour
        self.posts: list[dict[str, Any]] = []
        self.stop = threading.Event()  # set on exit: endless behaviours end
        super().__init__()

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        super().__exit__(*exc)

    def _handler(self):
        server = self

        class Handler(QuietHandler):

            def do_GET(self) -> None:
                send_json(self, 200, {"object": "list", "data": [
                    {"id": "faulty", "object": "model", "owned_by": "other"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                server.posts.append(body)
                self.server_stop = server.stop
                try:
                    server.behaviour(self, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up: what the test wanted
                self.close_connection = True

        return Handler


def send_json(handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _start_stream(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Connection", "close")  # no length: the body ends when the connection does
    handler.end_headers()


def _event(handler: BaseHTTPRequestHandler, chunk: dict) -> None:
    handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
    handler.wfile.flush()


def _text_chunks(text: str) -> list[dict]:
    """The role delta and the content deltas of `text`; no finishing chunk, usage or [DONE]."""
    deltas = [c for c in _chunks({"content": text}) if c["choices"] and c["choices"][0]["delta"]]
    first = {"object": "chat.completion.chunk", "model": "faulty",
             "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    return [first, *deltas]


# --- behaviours -------------------------------------------------------------------------------

def answer(text: str) -> Behaviour:
    """A well-behaved reply, streamed or not as asked."""
    def behaviour(handler, body):
        if not body.get("stream"):
            send_json(handler, 200, _completion({"content": text}))
            return
        _start_stream(handler)
        for chunk in _chunks({"content": text}):
            _event(handler, chunk)
        handler.wfile.write(b"data: [DONE]\n\n")
    return behaviour


def stream_forever(handler, body) -> None:
    """A stream that never ends: a delta every 50 ms."""
    _start_stream(handler)
    while not handler.server_stop.is_set():
        _event(handler, _text_chunks("tick ")[-1])
        time.sleep(0.05)


def trickle(handler, body) -> None:
    """A complete, valid answer sent one byte every 50 ms (never a pause long enough for a read timeout)."""
    data = json.dumps(_completion({"content": "a long answer " * 20})).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    for i in range(len(data)):
        if handler.server_stop.is_set():
            return
        handler.wfile.write(data[i:i + 1])
        handler.wfile.flush()
        time.sleep(0.05)


def drop_after(text: str) -> Behaviour:
    """Streams `text`, then the connection drops: no finish_reason, no [DONE]."""
    def behaviour(handler, body):
        _start_stream(handler)
        for chunk in _text_chunks(text):
            _event(handler, chunk)
    return behaviour


def stall_after(text: str) -> Behaviour:
    """Streams `text`, then sends nothing more until the test ends."""
    def behaviour(handler, body):
        _start_stream(handler)
        for chunk in _text_chunks(text):
            _event(handler, chunk)
        handler.server_stop.wait()
    return behaviour


def not_json(content_type: str = "application/json") -> Behaviour:
    """HTTP 200 with a body that is not JSON (a proxy's error page)."""
    def behaviour(handler, body):
        data = b"<html><body>502 Bad Gateway: upstream went away</body></html>"
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    return behaviour


def echo_key(handler, body) -> None:
    """HTTP 401 whose message repeats the key the client sent (some proxies do)."""
    send_json(handler, 401, {"error": {"message": f"invalid credentials: {handler.headers.get('Authorization')}",
                                       "type": "invalid_request_error"}})


def in_turn(*behaviours: Behaviour) -> Behaviour:
    """The first POST gets the first behaviour, the second the second, ...; then the last again."""
    count = iter(range(10**9))

    def behaviour(handler, body):
        behaviours[min(next(count), len(behaviours) - 1)](handler, body)
    return behaviour
