"""Shared test setup: tests/ on sys.path (for scripted_server) and one modelscope_agent import per session."""
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
