"""The system prompt's KV state on disk (server.prompt_cache): real server, bundled model (slow),
except the pruning of the cache directory."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from localagent import prompt_cache
from test_keep_alive import Kept


def prompt_tokens_evaluated(log: Path) -> list[int]:
    """Per request, the prompt tokens llama.cpp evaluated (the rest came from its KV cache)."""
    return [int(n) for n in re.findall(r"prompt eval time =.*?/\s*(\d+) tokens", log.read_text(errors="replace"))]


@pytest.fixture
def kept(tmp_path):
    kept = Kept(tmp_path)
    yield kept
    kept.stop_all()


@pytest.mark.slow
def test_a_fresh_server_prefills_only_what_follows_the_saved_system_prompt(kept):
    config = kept.config(0)  # keep_alive 0: every command starts a fresh server
    saved = kept.cache / "prompt-cache"
    log = kept.cache / "logs" / "llama-server.log"
    kept.ask(config)
    [state] = saved.glob("*.bin")
    cold = prompt_tokens_evaluated(log)
    kept.ask(config)
    warm = prompt_tokens_evaluated(log)
    assert warm[0] < cold[0] / 4, (cold, warm)  # the restored state covered the system prompt
    assert list(saved.glob("*.bin")) == [state]  # saved once

    other = kept.ask(kept.config(0, agent={"instruction": "You are a terse assistant. Answer in one word."}))
    assert len(list(saved.glob("*.bin"))) == 2  # another system prompt: another state
    # nothing restored from the other prompt's file: every prompt token evaluated
    assert prompt_tokens_evaluated(log) == [json.loads(other.stdout)["usage"]["prompt_tokens"]]

    kept.ask(kept.config(0, prompt_cache=False))
    assert len(list(saved.glob("*.bin"))) == 2


TEA = str(Path(__file__).parent / "fixtures" / "tea_tools.py")


@pytest.mark.slow
def test_a_check_leaves_the_server_where_the_question_was(kept):
    """A check of a call starts from the question, so the server's one slot no longer holds the
    call. Its state, saved before the check and loaded back after (prompt_cache.SavedSlot), spares
    the answer's request evaluating the call again."""
    log = kept.cache / "logs" / "llama-server.log"
    evaluated = {}
    for saving in (True, False):  # the server saves slots only with the prompt cache
        config = kept.config(0, tools=[TEA], max_tokens=256, prompt_cache=saving)
        run = kept.run(config, "--json", "--dry-run", "Order me a large milk tea with no sugar.")
        assert run.returncode == 0, run.stderr
        [call] = json.loads(run.stdout)["tool_calls"]  # checked: "large" names 大杯 (the model is asked)
        assert (call["arguments"], call["status"]) == ({"size": "大杯", "sugar": "无糖"}, "dry_run")
        evaluated[saving] = prompt_tokens_evaluated(log)[-1]  # the answer's request
    assert evaluated[True] + 20 < evaluated[False], evaluated
    assert not list((kept.cache / "prompt-cache").glob("question-*")), "a question's state left behind"


def test_a_server_that_cannot_save_keeps_nothing_and_the_question_goes_on(tmp_path, monkeypatch):
    from scripted_server import ScriptedServer

    monkeypatch.setenv("LOCALAGENT_CACHE", str(tmp_path))
    with ScriptedServer([]) as server, prompt_cache.SavedSlot(server.api_base.removesuffix("/v1"), "q.bin") as saved:
        assert not saved.saved  # no /slots here: nothing to load back
    assert not list(tmp_path.rglob("*.bin"))


def test_the_cache_directory_is_bounded_oldest_out(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALAGENT_CACHE", str(tmp_path))
    directory = prompt_cache.prompt_cache_dir()
    directory.mkdir(parents=True)
    for age, name in enumerate(["new.bin", "mid.bin", "old.bin"]):
        path = directory / name
        path.write_bytes(b"x" * 1000)
        os.utime(path, (1_000_000 - age * 100, 1_000_000 - age * 100))
    prompt_cache.prune(max_bytes=2500)
    assert sorted(p.name for p in directory.iterdir()) == ["mid.bin", "new.bin"]
    prompt_cache.prune(max_bytes=2500)
    assert len(list(directory.iterdir())) == 2


EVERYDAY = str(Path(__file__).parent / "fixtures" / "everyday_tools.py")  # described in English only


@pytest.mark.slow
def test_a_name_put_into_chinese_is_kept_for_the_next_command(kept):
    """The agent asks a Chinese user for a value the tool names in English only, by the Chinese
    name the model gave it: asked in the first command, read from the cache in the next one."""
    config = kept.config("5m", tools=[EVERYDAY], max_tokens=256)
    first = kept.run(config, "--json", "--dry-run", "明天天气怎么样？")
    assert first.returncode == 0, first.stderr
    answer = json.loads(first.stdout)["answer"]
    [file] = (kept.cache / "names").glob("*.json")
    names = json.loads(file.read_text(encoding="utf-8"))
    [(key, chinese)] = names.items()
    assert answer.startswith("要继续") and chinese in answer, (answer, names)
    file.write_text(json.dumps({key: "要查天气的城市"}, ensure_ascii=False), encoding="utf-8")
    again = kept.run(config, "--json", "--dry-run", "明天天气怎么样？")
    assert "要查天气的城市" in json.loads(again.stdout)["answer"]  # from the file: the model was not asked
