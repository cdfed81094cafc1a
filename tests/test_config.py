"""localagent.config.load_config: shipped files, one-line errors, ${ENV} expansion, secret hygiene."""
from pathlib import Path

import pytest

from localagent.config import Config, load_config
from localagent.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "config").glob("*.yaml"))
FAKE_KEY = "sk-fake-CONFIGTEST-7d1e4b9a0c55"  # distinctive: must never show up anywhere

MINIMAL = """\
llm_config:
  model: qwen
  api_base: http://127.0.0.1:9/v1
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "LA_TEST_MODEL", "LA_TEST_BASE", "LA_TEST_UNSET",
                 "LA_TEST_TIMEOUT", "LA_TEST_EMPTY"):
        monkeypatch.delenv(name, raising=False)


def write(tmp_path, text, name="agent.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message, repr(message)
    assert FAKE_KEY not in message
    return message


# --- the shipped files -----------------------------------------------------------------------

def test_shipped_configs_exist():
    assert {p.name for p in SHIPPED} >= {"default.yaml", "llamacpp.yaml", "api-for-open-llm.yaml"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_config_loads(path):
    config = load_config(path)
    assert isinstance(config, Config)
    assert config.path == path
    assert config.llm_config.model
    assert config.llm_config.api_base or config.server.autostart
    assert config.tools == ["tools"]
    # the tools entry resolves to the project's tools folder from any cwd
    assert Path(config.resolve("tools")).resolve() == (ROOT / "tools").resolve()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_config_key_comes_from_env(path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    config = load_config(path)
    secret = config.llm_config.api_key.get_secret_value()
    assert secret in (FAKE_KEY, "EMPTY")
    if "${OPENAI_API_KEY" in path.read_text(encoding="utf-8"):
        assert secret == FAKE_KEY
    assert FAKE_KEY not in repr(config) and FAKE_KEY not in str(config)


def test_minimal_config_defaults(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    assert config.llm_config.model == "qwen"
    assert config.llm_config.api_key.get_secret_value() == "EMPTY"
    assert config.llm_config.timeout == 120.0
    assert config.agent.engine == "native" and config.agent.max_turns == 3
    assert config.server.autostart is False
    # no `tools` key, as in the seed's configs: the tools/ folder (here: this checkout's)
    assert config.tools is None and [Path(p).resolve() for p in config.tool_sources()] == [ROOT / "tools"]


def test_an_empty_tools_list_means_no_tools(tmp_path):
    for text in ("tools: []", "tools:"):
        config = load_config(write(tmp_path, MINIMAL + text + "\n"))
        assert config.tools == [] and config.tool_sources() == []


def test_tools_null_is_empty(tmp_path):
    assert load_config(write(tmp_path, MINIMAL + "tools:\n")).tools == []


# --- errors: one line, naming the file and the key -------------------------------------------

def test_file_not_found(tmp_path):
    missing = tmp_path / "nope.yaml"
    message = error_of(missing)
    assert str(missing) in message and "not found" in message


def test_directory_instead_of_file(tmp_path):
    message = error_of(tmp_path)
    assert str(tmp_path) in message and "cannot read" in message


def test_bad_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "llm_config:\n  model: qwen\n  api_base: [unclosed\n  timeout: 3\nagent: {\n")
    message = error_of(path)
    assert str(path) in message and "invalid YAML" in message
    assert "line " in message
    line = int(message.split("line ")[1].split(":")[0].split()[0])
    assert 3 <= line <= 6


def test_bad_yaml_tab_indent_line_number(tmp_path):
    path = write(tmp_path, "llm_config:\n  model: qwen\n\tapi_base: x\n")
    assert "at line 3" in error_of(path)


def test_bad_yaml_mapping_value_line_number(tmp_path):
    path = write(tmp_path, "llm_config:\n  model: qwen\n  api_key: " + FAKE_KEY + ": oops\n")
    message = error_of(path)
    assert "at line 3" in message


def test_binary_file_is_a_config_error(tmp_path):
    path = tmp_path / "agent.yaml"
    path.write_bytes(b"\xff\xfe\x00llm_config:\x80\x81\n")
    message = error_of(path)
    assert str(path) in message


def test_empty_file(tmp_path):
    message = error_of(write(tmp_path, ""))
    assert "llm_config" in message


def test_not_a_mapping(tmp_path):
    message = error_of(write(tmp_path, "- a\n- b\n"))
    assert "mapping" in message


def test_missing_llm_config(tmp_path):
    path = write(tmp_path, "agent:\n  max_turns: 2\n")
    message = error_of(path)
    assert str(path) in message
    assert "llm_config: required key is missing" in message


def test_missing_model(tmp_path):
    path = write(tmp_path, f"llm_config:\n  api_base: http://x/v1\n  api_key: {FAKE_KEY}\n")
    message = error_of(path)
    assert str(path) in message
    assert "llm_config.model: required key is missing" in message


def test_wrong_type_timeout(tmp_path):
    path = write(tmp_path, MINIMAL + "  timeout: abc\n")
    message = error_of(path)
    assert str(path) in message
    assert "llm_config.timeout" in message and "'abc'" in message


def test_out_of_range_max_turns(tmp_path):
    message = error_of(write(tmp_path, MINIMAL + "agent:\n  max_turns: 0\n"))
    assert "agent.max_turns" in message and "0" in message


def test_bad_literal(tmp_path):
    message = error_of(write(tmp_path, MINIMAL + "agent:\n  engine: turbo\n"))
    assert "agent.engine" in message and "turbo" in message


def test_unknown_key(tmp_path):
    path = write(tmp_path, MINIMAL + "  temprature: 0.5\n")
    message = error_of(path)
    assert str(path) in message
    assert "llm_config.temprature: unknown key" in message


def test_unknown_top_level_key(tmp_path):
    assert "llm: unknown key" in error_of(write(tmp_path, MINIMAL + "llm:\n  model: x\n"))


def test_several_errors_are_counted_on_one_line(tmp_path):
    message = error_of(write(tmp_path, MINIMAL + "  timeout: abc\n  max_tokens: -1\n  foo: 1\n"))
    assert "(and 2 more)" in message


def test_api_base_required_without_autostart(tmp_path):
    path = write(tmp_path, "llm_config:\n  model: qwen\n")
    message = error_of(path)
    assert str(path) in message and "llm_config.api_base" in message


def test_autostart_needs_no_api_base(tmp_path):
    config = load_config(write(tmp_path, "llm_config:\n  model: qwen\nserver:\n  autostart: true\n"))
    assert config.llm_config.api_base is None and config.server.autostart


# --- ${ENV} expansion and the OpenAI variables -----------------------------------------------

@pytest.mark.parametrize("value, seconds", [("5m", 300), ("30s", 30), ("1h", 3600), ("2.5m", 150),
                                            ("0", 0), ('"0"', 0), ("45", 45), ("1.5", 1.5)])
def test_keep_alive_durations(tmp_path, value, seconds):
    config = load_config(write(tmp_path, MINIMAL + f"server:\n  keep_alive: {value}\n"))
    assert config.server.keep_alive == seconds


def test_keep_alive_defaults_to_five_minutes(tmp_path):
    assert load_config(write(tmp_path, MINIMAL)).server.keep_alive == 300


@pytest.mark.parametrize("value", ["5 minutes", "-1", "1d", "soon"])
def test_bad_keep_alive_is_one_line(tmp_path, value):
    message = error_of(write(tmp_path, MINIMAL + f"server:\n  keep_alive: \"{value}\"\n"))
    assert "server.keep_alive" in message


def test_env_expansion(tmp_path, monkeypatch):
    monkeypatch.setenv("LA_TEST_MODEL", "qwen2.5-7b")
    monkeypatch.setenv("LA_TEST_BASE", "http://10.0.0.5:8000")
    monkeypatch.setenv("LA_TEST_TIMEOUT", "33")
    path = write(tmp_path, "llm_config:\n  model: ${LA_TEST_MODEL}\n  api_base: ${LA_TEST_BASE}/v1\n"
                           "  timeout: ${LA_TEST_TIMEOUT}\n")
    config = load_config(path)
    assert config.llm_config.model == "qwen2.5-7b"
    assert config.llm_config.api_base == "http://10.0.0.5:8000/v1"
    assert config.llm_config.timeout == 33.0


def test_env_default_used_when_unset(tmp_path):
    path = write(tmp_path, "llm_config:\n  model: ${LA_TEST_MODEL:-fallback-model}\n"
                           "  api_base: ${LA_TEST_BASE:-http://127.0.0.1:8012/v1}\n  api_key: ${LA_TEST_UNSET:-}\n")
    config = load_config(path)
    assert config.llm_config.model == "fallback-model"
    assert config.llm_config.api_base == "http://127.0.0.1:8012/v1"


def test_env_default_used_when_empty(tmp_path, monkeypatch):
    # ${VAR:-default}, as in the shell, takes the default when VAR is unset *or empty*
    monkeypatch.setenv("LA_TEST_EMPTY", "")
    config = load_config(write(tmp_path, "llm_config:\n  model: ${LA_TEST_EMPTY:-m}\n  api_base: http://x/v1\n"))
    assert config.llm_config.model == "m"


def test_env_value_overrides_default(tmp_path, monkeypatch):
    monkeypatch.setenv("LA_TEST_MODEL", "from-env")
    config = load_config(write(tmp_path, "llm_config:\n  model: ${LA_TEST_MODEL:-m}\n  api_base: http://x/v1\n"))
    assert config.llm_config.model == "from-env"


def test_env_in_lists_and_nested(tmp_path, monkeypatch):
    monkeypatch.setenv("LA_TEST_BASE", "/opt/tools")
    config = load_config(write(tmp_path, MINIMAL + "tools:\n  - ${LA_TEST_BASE}/a.py\n  - b\n"))
    assert config.tools == ["/opt/tools/a.py", "b"]


def test_unset_env_var_is_an_error(tmp_path):
    path = write(tmp_path, "llm_config:\n  model: ${LA_TEST_UNSET}\n  api_base: http://x/v1\n")
    message = error_of(path)
    assert str(path) in message
    assert "LA_TEST_UNSET" in message and "not set" in message


def test_openai_api_key_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    config = load_config(write(tmp_path, MINIMAL))
    assert config.llm_config.api_key.get_secret_value() == FAKE_KEY


def test_file_api_key_wins_over_env(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    config = load_config(write(tmp_path, MINIMAL + "  api_key: file-key\n"))
    assert config.llm_config.api_key.get_secret_value() == "file-key"


def test_openai_base_url_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://10.1.2.3:8000/v1")
    config = load_config(write(tmp_path, "llm_config:\n  model: qwen\n"))
    assert config.llm_config.api_base == "http://10.1.2.3:8000/v1"


def test_file_api_base_wins_over_env(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://10.1.2.3:8000/v1")
    assert load_config(write(tmp_path, MINIMAL)).llm_config.api_base == "http://127.0.0.1:9/v1"


# --- the api key never leaks ----------------------------------------------------------------

def test_api_key_not_in_repr(tmp_path):
    config = load_config(write(tmp_path, MINIMAL + f"  api_key: {FAKE_KEY}\n"))
    assert config.llm_config.api_key.get_secret_value() == FAKE_KEY
    for text in (repr(config), str(config), repr(config.llm_config), config.model_dump_json()):
        assert FAKE_KEY not in text


LEAKY = {
    "key_of_wrong_type": f"llm_config:\n  model: q\n  api_base: http://x/v1\n  api_key: [{FAKE_KEY}]\n",
    "key_as_mapping": f"llm_config:\n  model: q\n  api_base: http://x/v1\n  api_key: {{k: {FAKE_KEY}}}\n",
    "other_field_bad": f"llm_config:\n  model: q\n  api_base: http://x/v1\n  api_key: {FAKE_KEY}\n  timeout: abc\n",
    "unknown_key_beside": f"llm_config:\n  model: q\n  api_base: http://x/v1\n  api_key: {FAKE_KEY}\n  x: 1\n",
    "missing_model": f"llm_config:\n  api_base: http://x/v1\n  api_key: {FAKE_KEY}\n",
    "llm_config_as_list": f"llm_config:\n  - {FAKE_KEY}\n",
    "llm_config_as_string": f"llm_config: {FAKE_KEY}\n",
    "no_api_base": f"llm_config:\n  model: q\n  api_key: {FAKE_KEY}\n",
    "bad_yaml_on_key_line": f"llm_config:\n  model: q\n  api_key: \"{FAKE_KEY}\n",
    "bad_yaml_after_key": f"llm_config:\n  api_key: {FAKE_KEY}\n  model: [q\n",
}


@pytest.mark.parametrize("text", LEAKY.values(), ids=LEAKY.keys())
def test_api_key_never_in_error_message(tmp_path, text):
    error_of(write(tmp_path, text))  # error_of asserts FAKE_KEY is absent and the message is one line


def test_api_key_from_env_never_in_error_message(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    error_of(write(tmp_path, "llm_config:\n  model: q\n  api_base: http://x/v1\n  timeout: -1\n"))
    error_of(write(tmp_path, "llm_config:\n  model: q\n"))
