"""localagent: let a local LLM use custom tools through an OpenAI-style endpoint."""

__version__ = "0.1.0"
