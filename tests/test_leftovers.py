"""Names and leftovers (issue 15): a tool says how it was made (no reading of closures' names), the
CLI's options are built by name, llama_server's help names the default model it runs."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from localagent.cli import Options
from localagent.render import tool_kind
from localagent.tools import Tool, from_openai_json, load_source

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tools"


def test_a_tool_says_how_it_was_made(tmp_path):
    [ms] = load_source(str(FIXTURES / "weather_ms.py"))
    typed = load_source(str(FIXTURES / "typed_funcs.py"))
    schemas = tmp_path / "tools.json"
    schemas.write_text(json.dumps([{"type": "function", "function": {"name": "Ping", "parameters": {}}}]))
    [schema] = from_openai_json(schemas)
    built = Tool("Echo", "", {"type": "object"}, run=lambda args: "")
    assert [ms.source, typed[0].source, schema.source, built.source] == ["modelscope", "function", "openai_json", "python"]
    assert [tool_kind(t) for t in (ms, typed[0], schema, built)] == ["class", "function", "schema only", "python"]
    assert ms.origin == str(FIXTURES / "weather_ms.py")


def test_options_are_built_by_name():
    with pytest.raises(TypeError):
        Options(None, Path("c.yaml"))  # type: ignore[misc]
    assert all(f.kw_only for f in dataclasses.fields(Options))


def test_llama_server_help_names_the_bundled_default():
    run = subprocess.run([sys.executable, "-m", "localagent.llama_server", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert "Qwen2.5-Coder-1.5B" in run.stdout and "0.5B" not in run.stdout
