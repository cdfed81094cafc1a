"""A real OpenAI-compatible HTTP server on 127.0.0.1 that replies from a script.

Each script item is what "the model" writes for one turn: a string, or a dict with
`content`, `tool_calls`, `status` (an HTTP error), `delay` (seconds before answering),
`constrained` (the arguments written when the engine continues `Action Input:` under a schema),
`finish_reason` (non-streamed: "length" for a reply cut at max_tokens), `certainty` (how likely
the model found the whole reply, sent as its tokens' probabilities to a request for them; without
it none are sent) and `pace` (seconds between the deltas of a streamed reply, as a model writes).
A client that closes a stream midway is recorded in `hung_up`: how many of the reply's characters
(text and arguments) had been sent.
Like llama.cpp it applies `stop` strings, and when the last message is an assistant prefill
that ends in `Action Input:` it continues the last scripted call of that tool from there: as
scripted after the relevance check, with the item's `constrained` text when the arguments are asked
for again (another tool's arguments are the next item).
A request constrained to a choice of strings (a grammar over a string enum) is answered with the
next text in `choices`, else the first option as JSON. A request for the first tokens'
probabilities (`top_logprobs`: the engine's yes/no relevance check) takes the next of `choices` too: `'"no"'`
makes "No" the likelier first token (0.9 against 0.1 for "Yes"), else "Yes" is; a dict gives the
probabilities themselves. A server made with `logprobs=False` sends none, as some servers do;
with `logprobs="reject"` it answers HTTP 400 to a request for them.
Every request body is recorded in `requests`, the path of every GET in `gets`.
"""
from __future__ import annotations

import json
import math
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive, as real servers), no request log on stderr."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass


class _BackloggedServer(ThreadingHTTPServer):
    """Real servers queue many connections (llama.cpp, uvicorn: hundreds); the standard library's 5
    reset some of a batch's 16 workers connecting at once on a busy machine."""

    request_queue_size = 128


class LoopbackServer:
    """An HTTP server on 127.0.0.1 in a thread, as a context manager; `_handler()` says how it answers."""

    def __init__(self) -> None:
        self.httpd = _BackloggedServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)  # quick shutdown()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError


class ScriptedServer(LoopbackServer):
    def __init__(self, script: list[Any] | None = None, owned_by: str = "llamacpp", reject_grammar: bool = False,
                 choices: list[str] | None = None, logprobs: bool | str = True):
        self.script = list(script or [])
        self.choices = list(choices or [])
        self.owned_by = owned_by
        self.reject_grammar = reject_grammar  # like a llama.cpp built without llguidance
        self.logprobs = logprobs
        self.requests: list[dict[str, Any]] = []
        self.gets: list[str] = []
        self.hung_up: list[int] = []
        self._last_text = ""
        self._constrained: str | None = None
        self._pace = 0.0
        self._lock = threading.Lock()
        super().__init__()

    def wait_hung_up(self, streams: int, timeout: float = 10) -> list[int]:
        """`hung_up` once it holds `streams` entries: a handler sees the client gone at its next write."""
        deadline = time.monotonic() + timeout
        while len(self.hung_up) < streams and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.hung_up

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if "messages" in r]

    def _next(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.requests.append(body)
            if self.reject_grammar and "grammar" in body:
                return {"status": 400, "message": "Failed to parse grammar"}
            messages = body.get("messages", [])
            prefill = messages[-1]["content"] if messages and messages[-1]["role"] == "assistant" else ""
            if body.get("logprobs") and self.logprobs == "reject":
                return {"status": 400, "message": "logprobs is not supported"}
            if body.get("top_logprobs"):
                if not self.logprobs:
                    return {"content": "Yes"}  # a token, and nothing about how likely it was
                return _first_token(self.choices.pop(0) if self.choices else '"yes"')
            if options := _string_choice(body.get("grammar")):
                return {"content": self.choices.pop(0) if self.choices else json.dumps(options[0])}
            if (prefill or "").rstrip().endswith("Action Input:") and "Action Input:" in self._last_text \
                    and _action(prefill) == _action(self._last_text):
                own = self._last_text.split("Action Input:", 1)[-1]
                # A reply continued after the relevance check goes on as scripted; arguments asked
                # for again (from "Action Input: ", under a schema or not) are `constrained`.
                rest = own if prefill.endswith(":") else (self._constrained or own.lstrip())
                return {"content": _apply_stop(rest, body.get("stop")), "pace": self._pace}
            if not self.script:
                return {"status": 500, "message": "script exhausted: the engine made an unexpected request"}
            item = self.script.pop(0)
            item = {"content": item} if isinstance(item, str) else dict(item)
            constrained = item.pop("constrained", None)
            if not (body.get("logprobs") and self.logprobs):
                item.pop("certainty", None)
            if "Action Input:" in (item.get("content") or ""):  # the call that a continued `Action Input:` gets
                self._last_text, self._constrained, self._pace = item["content"], constrained, item.get("pace", 0)
            item["content"] = _apply_stop(item.get("content") or "", body.get("stop"))
            return item

    def _handler(self):
        server = self

        class Handler(QuietHandler):

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                server.gets.append(self.path)
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [
                        {"id": "scripted", "object": "model", "owned_by": server.owned_by}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                item = server._next(body)
                time.sleep(item.get("delay", 0))
                if item.get("status", 200) != 200:
                    self._send(item["status"], {"error": {"message": item.get("message", "scripted failure"),
                                                          "type": "server_error"}})
                    return
                self.sent = 0
                try:
                    if body.get("stream"):
                        self._stream(item)
                    else:
                        self._send(200, _completion(item))
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (a timeout, Ctrl-C): nothing to say
                    if body.get("stream"):
                        server.hung_up.append(self.sent)

            def _stream(self, item: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for chunk in _chunks(item):
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                    self.sent += sum(len(c["delta"].get("content") or "") + sum(
                        len(t["function"]["arguments"]) for t in c["delta"].get("tool_calls") or [])
                        for c in chunk["choices"])
                    time.sleep(item.get("pace", 0))
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        return Handler


def _string_choice(grammar: str | None) -> list[str] | None:
    """The options of an llguidance grammar that allows one JSON string of an enum."""
    if not grammar or "%json" not in grammar:
        return None
    schema = json.loads(grammar.split("%json", 1)[1])
    return schema.get("enum") if schema.get("type") == "string" else None


def _first_token(choice: str | dict[str, float]) -> dict[str, Any]:
    """A one-token reply and the probabilities of the likeliest first tokens."""
    if isinstance(choice, str):
        said = json.loads(choice).capitalize()
        choice = {said: 0.9, "Yes" if said == "No" else "No": 0.1}
    return {"content": max(choice, key=choice.get), "first_token": choice}


def _action(text: str) -> str:
    """The tool of the last `Action:` line of a text."""
    return text.rsplit("Action:", 1)[-1].split("\n", 1)[0].strip()


def _apply_stop(text: str, stop: Any) -> str:
    for s in ([stop] if isinstance(stop, str) else stop or []):
        if s in text:
            text = text[:text.index(s)]
    return text


def _tool_calls(item: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"id": f"call_{i}", "type": "function",
             "function": {"name": c["name"], "arguments": c["arguments"] if isinstance(c["arguments"], str)
                          else json.dumps(c["arguments"])}}
            for i, c in enumerate(item.get("tool_calls") or [])]


def _usage(item: dict[str, Any]) -> dict[str, int]:
    return {"prompt_tokens": 10, "completion_tokens": max(1, len(item.get("content") or "") // 4),
            "total_tokens": 10 + max(1, len(item.get("content") or "") // 4)}


def _completion(item: dict[str, Any]) -> dict[str, Any]:
    calls = _tool_calls(item)
    message = {"role": "assistant", "content": item.get("content") or None}
    if calls:
        message["tool_calls"] = calls
    finish = item.get("finish_reason") or ("tool_calls" if calls else "stop")
    choice = {"index": 0, "message": message, "finish_reason": finish}
    if first := item.get("first_token"):
        choice["logprobs"] = {"content": [{
            "token": item["content"], "logprob": math.log(first[item["content"]]), "bytes": None,
            "top_logprobs": [{"token": t, "logprob": math.log(p), "bytes": None} for t, p in first.items()]}]}
    elif "certainty" in item:  # the whole reply as one token
        choice["logprobs"] = {"content": [{"token": item["content"], "logprob": math.log(item["certainty"]),
                                           "bytes": None, "top_logprobs": []}]}
    return {"id": f"chatcmpl-{uuid.uuid4().hex[:8]}", "object": "chat.completion", "created": int(time.time()),
            "model": "scripted", "usage": _usage(item), "choices": [choice]}


def _chunks(item: dict[str, Any]):
    base = {"id": "chatcmpl-stream", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": "scripted"}
    text = item.get("content") or ""
    for i in range(0, len(text), 7):  # several deltas, as a real server sends
        choice = {"index": 0, "delta": {"content": text[i:i + 7]}, "finish_reason": None}
        if "certainty" in item:  # all of the reply's doubt on its first token
            p = item["certainty"] if i == 0 else 1.0
            choice["logprobs"] = {"content": [{"token": text[i:i + 7], "logprob": math.log(p), "bytes": None,
                                               "top_logprobs": []}]}
        yield {**base, "choices": [choice]}
    calls = _tool_calls(item)
    for i, call in enumerate(calls):  # the name first, then the arguments in pieces, as a real server sends them
        arguments = call["function"]["arguments"]
        head = {**call, "index": i, "function": {"name": call["function"]["name"], "arguments": ""}}
        yield {**base, "choices": [{"index": 0, "delta": {"tool_calls": [head]}, "finish_reason": None}]}
        for j in range(0, len(arguments), 7):
            more = {"index": i, "function": {"arguments": arguments[j:j + 7]}}
            yield {**base, "choices": [{"index": 0, "delta": {"tool_calls": [more]}, "finish_reason": None}]}
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls" if calls else "stop"}]}
    yield {**base, "choices": [], "usage": _usage(item)}
