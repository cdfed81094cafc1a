"""A deadline for a whole HTTP request, body included.

httpx's timeouts bound each wait for the next bytes, not the request: a server that streams for
ever, or trickles its body a byte at a time, would hold the caller for ever. This transport
starts a timer when the response headers arrive and, when it fires, shuts the connection's
socket down, which wakes a read blocked on it; the read then fails as `DeadlineExceeded`.
"""
from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Iterator

import httpx

HEAD_BYTES = 200  # how much of a body is kept for error messages


class DeadlineExceeded(httpx.ReadTimeout):
    """The whole request took longer than its deadline (not one wait: that is a ReadTimeout)."""


class DeadlineTransport(httpx.BaseTransport):
    """Bounds every request to `seconds` from its start. Before the headers arrive the client's
    own timeouts (each at most `seconds` too) bound the wait; after, the timer does."""

    def __init__(self, seconds: float, inner: httpx.BaseTransport | None = None):
        self.seconds = seconds
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.monotonic()
        response = self.inner.handle_request(request)
        network = response.extensions.get("network_stream")
        sock = network.get_extra_info("socket") if network is not None else None
        remaining = max(0.0, self.seconds - (time.monotonic() - started))
        body = DeadlineStream(response.stream, remaining, sock, self.seconds)
        return httpx.Response(response.status_code, headers=response.headers, stream=body,
                              extensions={**response.extensions, "deadline": body})

    def close(self) -> None:
        self.inner.close()


class DeadlineStream(httpx.SyncByteStream):
    """A response body that ends in DeadlineExceeded when its time is up. Keeps the first bytes:
    what a server sent is the best clue when it is not what was expected."""

    def __init__(self, inner: httpx.SyncByteStream, remaining: float, sock: socket.socket | None,
                 seconds: float):
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

    def close(self) -> None:
        self.timer.cancel()
        self.inner.close()


def head_of(response: httpx.Response) -> bytes:
    """The first bytes of a response body read through a DeadlineTransport (b"" otherwise)."""
    body = response.extensions.get("deadline")
    return body.head if isinstance(body, DeadlineStream) else b""
