"""Shared test setup: tests/ on sys.path (for scripted_server), one modelscope_agent import per
session, and servers probed afresh in each test."""
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


@pytest.fixture(scope="session")
def modelscope_loaded(tmp_path_factory):
    """Import modelscope_agent once per session (it takes seconds), from an empty cwd and with the
    cache dir (where it unzips nltk data) in a temp dir, so no test writes outside tmp."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        mp.chdir(tmp_path_factory.mktemp("import_cwd"))
        from localagent.engines import roleplay

        return roleplay._modelscope()


@pytest.fixture(scope="session")
def bundled_llm():
    """The api_base of a real llama.cpp server with the bundled model: $LOCALAGENT_TEST_LLM if set
    (a server you keep running), else one started for the session as the CLI would start it."""
    import os

    if os.environ.get("LOCALAGENT_TEST_LLM"):
        yield os.environ["LOCALAGENT_TEST_LLM"]
        return
    from localagent.config import load_config
    from localagent.server import running_server

    config = load_config(TESTS.parent / "config" / "default.yaml")
    config.server.port = 0
    config.server.keep_alive = 0  # stopped with the session, not kept
    with running_server(config) as server:
        yield server.api_base


@pytest.fixture(autouse=True)
def servers_probed_afresh():
    """The kind of server behind an address is remembered per process, but a test's scripted
    server may get the port an earlier test's server had: each test probes its own."""
    from localagent import endpoint

    endpoint._server_kinds.clear()
