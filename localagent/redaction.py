"""Secrets out of what a server sent, before it is shown or stored: some proxies echo the key of
a request they reject (`401 invalid key sk-…`), and the CLI prints, returns and saves that text."""
from __future__ import annotations

import re
from typing import Iterable

REDACTED = "***"
MIN_SECRET = 8  # "EMPTY", "none": the placeholders of local servers are no secrets
# A credential in the shape of a header, whoever's it is: `Bearer sk-…`, `api-key: …`.
_HEADER_SECRET = re.compile(
    r"(?i)(\b(?:bearer|basic)\s+|\b(?:x-)?api[-_]?key[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9._~+/=-]{8,}")


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()):
        # longest first, so that a secret containing another is replaced whole
        self.secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return _HEADER_SECRET.sub(lambda m: m.group(1) + REDACTED, text)
