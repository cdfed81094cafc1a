"""Speculative decoding (server.speculative): the config's one-line errors, and a real llama.cpp
server started with it that drafts tokens and still answers."""
from __future__ import annotations

import httpx
import pytest

from localagent.config import Config, load_config
from localagent.errors import ConfigError
from localagent.server import EmbeddedServer
from localagent.weights import bundled_model_path


def config_with(tmp_path, server: str) -> object:
    path = tmp_path / "agent.yaml"
    path.write_text(f"llm_config: {{model: qwen, api_base: 'http://127.0.0.1:9/v1'}}\nserver: {server}\n",
                    encoding="utf-8")
    return load_config(path)


def test_a_size_the_kind_does_not_take_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        config_with(tmp_path, "{speculative: ngram-mod, speculative_sizes: {size_n: 4}}")
    message = str(info.value)
    assert "\n" not in message and "size_n" in message and "ngram-mod" in message and "n_match" in message


def test_an_unknown_kind_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        config_with(tmp_path, "{speculative: medusa}")
    assert "\n" not in str(info.value) and "server.speculative" in str(info.value)


@pytest.mark.slow
def test_a_server_started_with_speculation_drafts_and_answers(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALAGENT_CACHE", str(tmp_path))  # its log in this test's cache
    config = Config.model_validate({
        "llm_config": {"model": "qwen", "api_base": "http://127.0.0.1:9/v1"},
        "server": {"model_path": str(bundled_model_path()), "keep_alive": 0, "prompt_cache": False,
                   "speculative": "ngram-simple", "speculative_sizes": {"size_n": 2, "size_m": 8}}})
    server = EmbeddedServer(config)
    assert "ngram-simple" in server.settings()  # another setting: never the server of another config
    api_base = server.start()
    try:
        words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu"
        reply = httpx.post(f"{api_base}/chat/completions", timeout=300, json={
            "messages": [{"role": "user", "content": f"Repeat exactly, twice: {words}"}],
            "max_tokens": 48, "temperature": 0}).json()
    finally:
        server.stop()
    assert "gamma delta" in reply["choices"][0]["message"]["content"]
    assert reply["timings"]["draft_n"] > 0 and reply["timings"]["draft_n_accepted"] > 0
