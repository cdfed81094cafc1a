"""A deadline for a whole HTTP request, body included.

httpx's timeouts bound each wait for the next bytes, not the request: a server that streams for
ever, or trickles its body a byte at a time, would hold the caller for ever. `deadline_hooks`
are httpx event hooks (so they hold whatever transport or proxy the client uses): when the
response headers arrive, its body is wrapped in a DeadlineStream whose timer, when it fires,
shuts the connection's socket down; that wakes a read blocked on it, and the read fails as
DeadlineExceeded. Before the headers, the client's own timeouts bound the wait.
"""
from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any, Callable, Iterator

import httpx

HEAD_BYTES = 200  # how much of a body is kept for error messages
_STARTED = "localagent.started"  # a request extension: when it was sent


class DeadlineExceeded(httpx.ReadTimeout):
    """The whole request took longer than its deadline (not one wait: that is a ReadTimeout)."""


def deadline_hooks(seconds: float) -> dict[str, list[Callable[[Any], None]]]:
    """event_hooks for an httpx.Client: every request ends within `seconds` from its start."""
    def stamp(request: httpx.Request) -> None:
        request.extensions[_STARTED] = time.monotonic()

    def bound(response: httpx.Response) -> None:
        started = response.request.extensions.get(_STARTED, time.monotonic())
        network = response.extensions.get("network_stream")
        sock = network.get_extra_info("socket") if network is not None else None
        remaining = max(0.0, seconds - (time.monotonic() - started))
        response.stream = DeadlineStream(response.stream, remaining, sock, seconds)

    return {"request": [stamp], "response": [bound]}


class DeadlineStream(httpx.SyncByteStream):
    """A response body that ends in DeadlineExceeded when its time is up. Keeps the first bytes:
    what a server sent is the best clue when it is not what was expected."""

    def __init__(self, inner: Any, remaining: float, sock: socket.socket | None, seconds: float):
        self.inner, self.seconds = inner, seconds
        self.head = b""
        self.expired = False
        self.timer = threading.Timer(remaining, self._expire, args=(sock,))
        self.timer.daemon = True
        self.timer.start()

    def _expire(self, sock: socket.socket | None) -> None:
        self.expired = True
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _exceeded(self) -> DeadlineExceeded:
        return DeadlineExceeded(f"the whole request took longer than {self.seconds:g} s")

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self.inner:
                if self.expired:
                    raise self._exceeded()
                if len(self.head) < HEAD_BYTES:
                    self.head += chunk[:HEAD_BYTES - len(self.head)]
                yield chunk
        except httpx.TransportError as e:  # the shutdown shows as a broken connection
            if self.expired and not isinstance(e, DeadlineExceeded):
                raise self._exceeded() from None
            raise
        if self.expired:  # ... or, with `Connection: close`, as the end of the body
            raise self._exceeded()
        self.timer.cancel()

    def close(self) -> None:
        self.timer.cancel()
        self.inner.close()


def head_of(response: httpx.Response) -> bytes:
    """The first bytes of a response body read under deadline_hooks (b"" otherwise)."""
    return response.stream.head if isinstance(response.stream, DeadlineStream) else b""
