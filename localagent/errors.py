"""Errors a user can cause or fix; the CLI prints each as one line, without a traceback.

What went wrong is the class, and the class says how the command ends (`exit_code`): nothing
reads an error's text to find out what kind it was.
"""
from __future__ import annotations

from typing import Callable, TypeVar

E = TypeVar("E", bound="AgentError")


class AgentError(Exception):
    """Base class: anything here is reported as a one-line message."""

    exit_code = 1

    def redacted(self: E, redact: Callable[[str], str]) -> E:
        """The same error (class and attributes) with `redact` applied to its message."""
        other = type(self).__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.args = (redact(str(self)),)
        return other


# --- what the user gave: exit 2 ----------------------------------------------------------------

class UsageError(AgentError):
    """What the user gave cannot be used (a config, a tool, a file): fix it and run again."""

    exit_code = 2


class ConfigError(UsageError):
    """The config file is missing, is not YAML, or does not fit the schema."""


class ToolLoadError(UsageError):
    """A tool file or module could not be imported or has no usable tool."""


class TranscriptError(UsageError):
    """A transcript or saved conversation cannot be read or written."""


class BatchError(UsageError):
    """The batch file, or its results file, cannot be used."""


# --- what happened around us: exit 1 -----------------------------------------------------------

class ServerError(AgentError):
    """The embedded llama.cpp server could not start or the model is missing."""


class ResultsNotSaved(AgentError):
    """A batch result line could not be written (a full disk): the batch stops."""


class EndpointError(AgentError):
    """The LLM endpoint failed to give a usable reply (each kind below says how)."""


class EndpointDown(EndpointError):
    """Nothing answers at the endpoint (connection refused, no route, no /models)."""


class EndpointTimeout(EndpointError):
    """The endpoint did not answer, or did not finish its reply, within llm_config.timeout."""


class EndpointHTTPError(EndpointError):
    """The endpoint answered with an HTTP error status."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class ContextOverflow(EndpointHTTPError):
    """The prompt does not fit the model's context (the server refused it)."""


class IncompleteReply(EndpointError):
    """The reply broke off (a dropped or stalled stream, a deadline); `partial` is what had arrived."""

    def __init__(self, message: str, partial: str = ""):
        super().__init__(message)
        self.partial = partial

    def redacted(self, redact: Callable[[str], str]) -> "IncompleteReply":
        other = super().redacted(redact)
        other.partial = redact(self.partial)
        return other
