"""The bench harness end to end against a scripted server (not the model), so it cannot rot."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import scripted_server
from scripted_server import ScriptedServer

from bench.__main__ import main
from bench.accuracy import run_accuracy, time_ratio
from bench.modes import UNCHECKED
from bench.suites import load_suite
from bench.plot import plot
from bench.speed import run_speed
from bench.startup import cli_startup, warm_cli
from localagent.config import load_config

ROOT = Path(__file__).resolve().parent.parent
CASES = ["zh-renew-01", "zh-reboot-04", "zh-chat-01"]
WARM = "."  # the reply to the request that has the server evaluate a case's system prompt first
SCRIPT = [
    # zh-renew-01: the right call (constrained: the arguments come from a second, prefilled request)
    WARM, 'Action: RenewInstance\nAction Input: {"instance_id": "i-rj90a7e840y5cde", "period": "22"}',
    "Answer: 已续费22个月。",  # the whole run is scored: the answer after the call too
    # zh-reboot-04 (missing_info): an invented id, which grounding refuses: the agent asks
    WARM, 'Action: RebootInstance\nAction Input: {"instance_id": "i-abc123"}',
    " reboot an instance",  # before asking: the request in the model's own words, then the tool is asked about
    "ECS实例ID",  # the value's name, described only in English, in the user's language
    # zh-chat-01 (no_tool): a plain answer
    WARM, "Answer: 你好！有什么可以帮你？",
]


TIMINGS = {"cache_n": 8, "prompt_n": 2, "prompt_ms": 1.0, "predicted_n": 3, "predicted_ms": 2.0,
           "prompt_per_second": 2000.0, "predicted_per_second": 1500.0}


@pytest.fixture
def llama_like(monkeypatch):
    """The scripted server's replies carry llama.cpp's timings and cached-token count, streamed
    (in the usage chunk, as llama.cpp sends them) or not."""
    plain, plain_chunks = scripted_server._completion, scripted_server._chunks

    def with_timings(item):
        reply = plain(item)
        reply["usage"]["prompt_tokens_details"] = {"cached_tokens": 8}
        reply["timings"] = dict(TIMINGS)
        return reply

    def chunks_with_timings(item):
        for chunk in plain_chunks(item):
            if "usage" in chunk:
                chunk["usage"]["prompt_tokens_details"] = {"cached_tokens": 8}
                chunk["timings"] = dict(TIMINGS)
            yield chunk

    monkeypatch.setattr(scripted_server, "_completion", with_timings)
    monkeypatch.setattr(scripted_server, "_chunks", chunks_with_timings)


def config_for(tmp_path: Path, api_base: str) -> Path:
    data = yaml.safe_load((ROOT / "config" / "default.yaml").read_text(encoding="utf-8"))
    data["llm_config"]["api_base"] = api_base
    data["server"]["autostart"] = False
    data["tools"] = [str(ROOT / "tools")]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_accuracy_three_cases_scored_saved_and_plotted(tmp_path, llama_like):
    with ScriptedServer(SCRIPT) as server:
        code = main(["accuracy", "-c", str(config_for(tmp_path, server.api_base)), "--suite", "ours",
                     "--case", ",".join(CASES), "--engine", "native", "--out-dir", str(tmp_path), "-q"])
    assert code == 0
    # the server reads its vocabulary for grammars before the first case, once, not in a timed one
    grammars = [r["grammar"] for r in server.requests if "grammar" in r]
    assert sum('"enum": ["ok"]' in g for g in grammars) == 1 and '"enum": ["ok"]' in grammars[0]
    [path] = tmp_path.glob("*-accuracy-full.json")
    results = json.loads(path.read_text(encoding="utf-8"))
    ours = results["accuracy"]["ours"]["native"]
    score, records = ours["score"], {r["case"]["id"]: r for r in ours["records"]}
    assert score["n"] == 3 and score["correct_call_rate"] == 1.0 and score["right_no_call_rate"] == 1.0
    assert score["parsable_rate"] == 1.0 and score["refused_no_call"] == 1
    assert records["zh-renew-01"]["calls"][0]["arguments"] == {"instance_id": "i-rj90a7e840y5cde", "period": "22"}
    assert records["zh-reboot-04"]["calls"] == [] and records["zh-reboot-04"]["refused"]
    assert records["zh-reboot-04"]["answer"] == "要继续，我还需要您告诉我：ECS实例ID。请提供后我再为您处理。"
    assert records["zh-renew-01"]["server_s"] == pytest.approx(0.012)  # call, check, arguments, answer: x 3 ms
    assert [p.name for p in plot(path, tmp_path)] == ["accuracy.png"]


def test_each_mode_goes_first_in_turn_and_is_timed_against_the_unchecked_one(tmp_path):
    cases = {c["id"]: c for c in load_suite("ours")}
    suite = {"ours": [cases["zh-renew-01"], cases["zh-chat-01"]]}
    renew = [WARM, 'Action: RenewInstance\nAction Input: {"instance_id": "i-rj90a7e840y5cde", "period": "22"}',
             "Answer: 已续费22个月。"]
    script = [*renew, *renew, WARM, "Answer: 你好！", WARM, "Answer: 你好！"]
    order = []
    with ScriptedServer(script) as server:
        config = load_config(config_for(tmp_path, server.api_base))
        out = run_accuracy(config, server.api_base, suite, ["native", UNCHECKED],
                           lambda _, mode, rec: order.append((rec["case"]["id"], mode)))
    assert order == [("zh-renew-01", "native"), ("zh-renew-01", UNCHECKED),
                     ("zh-chat-01", UNCHECKED), ("zh-chat-01", "native")]
    native, unchecked = (out["ours"][m] for m in ("native", UNCHECKED))
    assert native["score"]["correct_call_rate"] == unchecked["score"]["correct_call_rate"] == 1.0
    assert native["score"]["time_vs_unchecked_need_call"] == time_ratio(native["records"], unchecked["records"])
    assert unchecked["score"]["time_vs_unchecked_need_call"] == 1.0


def test_time_ratio_counts_only_the_cases_that_need_a_call():
    def rec(expected, wall_s):
        return {"case": {"expected": expected}, "wall_s": wall_s}

    call = [{"name": "f", "arguments": {}}]
    checked = [rec(call, 3.0), rec([], 50.0), rec(call, 9.0)]
    unchecked = [rec(call, 2.0), rec([], 1.0), rec(call, 8.0)]
    assert time_ratio(checked, unchecked) == 1.2
    assert time_ratio([rec([], 1.0)], [rec([], 1.0)]) is None


def test_speed_records_time_split_and_prompt_economy(tmp_path, llama_like):
    ecs = 'Action: RenewInstance\nAction Input: {"instance_id": "i-rj90a7e840y5cde", "period": "22"}'
    # the agent's run: call up to its arguments, relevance check (yes), arguments, answer; then their replay
    with ScriptedServer([ecs, "Answer: 已续费22个月。", ecs, "Answer: 已续费22个月。"]) as server:
        config = load_config(config_for(tmp_path, server.api_base))
        speed = run_speed(config, server.api_base, ["native"], repeat=1, do_raw=False)
    run = speed["runs"]["native"][0]
    assert run["correct"] and run["stopped"] == "answer" and len(run["requests"]) == 4
    assert run["model_s"] == pytest.approx(0.012) and run["replay"]["server_s"] == pytest.approx(0.012)
    native = speed["modes"]["native"]
    assert native["per_request"][0]["cached_tokens"] == 8 and native["per_request"][0]["saved_ms"] is not None
    assert speed["throughput"]["in_agent"]["prompt_per_second"] == pytest.approx(2000.0)
    results = tmp_path / "speed.json"
    results.write_text(json.dumps({"speed": speed}), encoding="utf-8")
    assert [p.name for p in plot(results, tmp_path)] == ["time_split.png"]


def test_cli_startup_against_the_stub(tmp_path):
    config = load_config(config_for(tmp_path, "http://127.0.0.1:9/v1"))
    out = cli_startup(config, ["native"], repeat=1)
    native = out["modes"]["native"]
    assert native["failures"] == 0, out["runs"]
    assert 0 < native["first_request_s"] <= native["first_chat_s"] <= native["exit_s"]


def test_warm_cli_against_a_scripted_server(tmp_path):
    ecs = 'Action: RenewInstance\nAction Input: {"instance_id": "i-rj90a7e840y5cde", "period": "22"}'
    with ScriptedServer([ecs, "Answer: 已续费22个月。", "Answer: 我不调用工具。"]) as server:
        config = load_config(config_for(tmp_path, server.api_base))
        out = warm_cli(config, server.api_base, ["native", "native-unconstrained"], repeat=1)
    native, other = out["modes"]["native"], out["modes"]["native-unconstrained"]
    assert (native["correct"], native["failures"], native["vs_native"]) == ("1/1", 0, 1.0)
    assert (other["correct"], other["failures"]) == ("0/1", 0) and other["vs_native"] > 0


def test_a_follow_up_case_sends_the_users_reply_in_the_same_chat(tmp_path):
    """`follow_ups`: the agent asks for the city; the case's reply is the next question of the same
    chat, and the call it leads to is what is scored."""
    [case] = [c for c in load_suite("follow_ups") if c["id"] == "en-air-01"]
    script = [WARM, 'Action: air_quality\nAction Input: {"city": "New York"}', " know the air quality",
              'Action: air_quality\nAction Input: {"city": "Seattle"}', "Answer: It is good."]
    with ScriptedServer(script) as server:
        config = load_config(config_for(tmp_path, server.api_base))
        out = run_accuracy(config, server.api_base, {"follow_ups": [case]}, ["native"])
    [record] = out["follow_ups"]["native"]["records"]
    assert [(c["arguments"], c["status"]) for c in record["refused"]] == [({"city": "New York"}, "refused")]
    assert [(c["arguments"], c["status"]) for c in record["calls"]] == [({"city": "Seattle"}, "dry_run")]
    assert out["follow_ups"]["native"]["score"]["correct_call_rate"] == 1.0
    assert record["case"]["reply"] == "Seattle" and record["answer"].startswith("Dry run")
    second = [r for r in server.chat_requests() if r["messages"][-1]["content"].startswith("Seattle")]
    assert second and second[0]["messages"][-2]["content"].endswith("Could you tell me?")
