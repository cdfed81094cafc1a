"""Errors a user can cause or fix; the CLI prints each as one line, without a traceback."""


class AgentError(Exception):
    """Base class: anything here is reported as a one-line message."""


class ConfigError(AgentError):
    """The config file is missing, is not YAML, or does not fit the schema."""


class EndpointError(AgentError):
    """The LLM endpoint is down, timed out, or answered with an HTTP error."""


class ToolLoadError(AgentError):
    """A tool file or module could not be imported or has no usable tool."""


class ServerError(AgentError):
    """The embedded llama.cpp server could not start or the model is missing."""


class IncompleteReply(EndpointError):
    """The reply broke off (a dropped or stalled stream, a deadline); `partial` is what had arrived."""

    def __init__(self, message: str, partial: str = ""):
        super().__init__(message)
        self.partial = partial
