"""End to end: the real CLI, the real llama.cpp server and the bundled model (slow: minutes on a CPU)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ECS_ZH = "请帮我续费一台ECS实例，实例id是：i-rj90a7e840y5cde，续费时长22个月"
ECS_EN = "Please renew ECS instance i-rj90a7e840y5cde for 22 months."

pytestmark = pytest.mark.slow


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp_path: Path, **server) -> tuple[Path, int]:
    """The shipped default config, pointed at a port where nothing answers, so the CLI autostarts."""
    config = yaml.safe_load((ROOT / "config" / "default.yaml").read_text())
    config["llm_config"]["api_base"] = f"http://127.0.0.1:{free_port()}/v1"
    port = free_port()
    config["server"].update({"port": port, "keep_alive": 0, **server})  # test_keep_alive.py keeps servers
    config["tools"] = [str(ROOT / "tools")]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path, port


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "agent_demo.py"), "--no-transcript", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, stdin=subprocess.DEVNULL)


def server_processes(port: int) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "localagent.llama_server" in line and f"--port {port}" in line]


@pytest.mark.parametrize("question", [ECS_ZH, ECS_EN], ids=["zh", "en"])
def test_autostart_answers_the_ecs_prompt_with_a_real_tool_call(tmp_path, question):
    config, port = write_config(tmp_path)
    run = cli("-c", str(config), "--json", "--yes", question)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["stopped"] == "answer"
    calls = [c for c in result["tool_calls"] if c["error"] is None]
    assert calls[0]["name"] == "RenewInstance"
    assert calls[0]["arguments"] == {"instance_id": "i-rj90a7e840y5cde", "period": "22"}
    assert "i-rj90a7e840y5cde" in calls[0]["result"]
    assert result["answer"].strip()
    assert result["usage"]["prompt_tokens"] > 0 and result["timings"]["llm_s"] > 0
    assert server_processes(port) == [], "the embedded server outlived the CLI"


def test_autostart_false_with_nothing_running_is_a_one_line_error(tmp_path):
    config, _ = write_config(tmp_path, autostart=False)
    run = cli("-c", str(config), "hello", timeout=60)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    lines = [l for l in run.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "server.autostart is false" in lines[0]


def test_a_missing_model_file_is_a_one_line_error(tmp_path):
    config, _ = write_config(tmp_path, model_path=str(tmp_path / "nope.gguf"))
    run = cli("-c", str(config), "hello", timeout=60)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert "model file not found" in run.stderr


def test_a_corrupted_model_file_is_a_one_line_error_and_leaves_no_server(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(4096))  # the magic is right, the rest is garbage
    config, port = write_config(tmp_path, model_path=str(bad))
    run = cli("-c", str(config), "hello", timeout=120)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert "exited while loading the model" in run.stderr
    assert server_processes(port) == []
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("not a model")
    config, _ = write_config(tmp_path, model_path=str(not_gguf))
    run = cli("-c", str(config), "hello", timeout=60)
    assert "is not a GGUF model file" in run.stderr


def test_a_follow_up_in_the_chat_calls_the_tool_again(tmp_path):
    """Memory keeps the earlier tool call: "renew it for 3 more months" is a second real call,
    not an answer claiming it was done (which the model wrote when memory held bare answers)."""
    config, _ = write_config(tmp_path)
    transcript = tmp_path / "chat.jsonl"
    run = subprocess.run([sys.executable, str(ROOT / "agent_demo.py"), "-c", str(config), "--yes",
                          "--transcript", str(transcript)], input=f"{ECS_ZH}\n再给它续3个月\n",
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    first, second = [json.loads(line) for line in transcript.read_text(encoding="utf-8").splitlines()]
    assert [c["arguments"] for c in first["tool_calls"]] == [{"instance_id": "i-rj90a7e840y5cde", "period": "22"}]
    assert [(c["name"], c["arguments"], c["error"]) for c in second["tool_calls"]] == [
        ("RenewInstance", {"instance_id": "i-rj90a7e840y5cde", "period": "3"}, None)]


# --- the native engine in this process, against one bundled-model server for the session ---------

def native_engine(api_base: str, tools: str = str(ROOT / "tools")):
    from localagent.engines.factory import create_engine
    from localagent.config import load_config
    from localagent.tools import Toolbox

    config = load_config(ROOT / "config" / "default.yaml")
    config.llm_config.api_base = api_base
    return create_engine(config, api_base, Toolbox.load([tools]), dry_run=True)


EVERYDAY = str(ROOT / "tests" / "fixtures" / "everyday_tools.py")  # tools with no annotations


def asks_or_answers_cleanly(result, language: str) -> None:
    """What the user reads: an answer in their language, no internal text, nothing that ran."""
    from bench.scoring import answer_language_ok, internal_text

    assert result.stopped == "answer" and result.answer.strip(), result
    assert not [c for c in result.tool_calls if c.executed], result.tool_calls
    assert not internal_text(result.answer) and answer_language_ok(result.answer, language), result.answer


@pytest.mark.parametrize("question", ["你好！", "Hi there, how are you?"])
def test_a_greeting_calls_no_tool(bundled_llm, question):
    result = native_engine(bundled_llm).run(question)
    assert (result.stopped, result.tool_calls) == ("answer", []) and result.answer.strip()


@pytest.mark.parametrize("question", ["帮我重启一下服务器", "Please stop my instance."])
def test_a_missing_id_is_asked_for_not_invented(bundled_llm, question):
    result = native_engine(bundled_llm).run(question)
    # the model may try a made-up id; grounding refuses it and the agent asks instead
    asks_or_answers_cleanly(result, "zh" if question.startswith("帮") else "en")


@pytest.mark.parametrize("question, language", [
    ("明天天气怎么样？", "zh"), ("What will the weather be like tomorrow?", "en"),
    ("帮我把钱换成美元", "zh"), ("Book a meeting room for me tomorrow afternoon.", "en")])
def test_a_missing_value_on_tools_without_annotations_is_asked_for(bundled_llm, question, language):
    result = native_engine(bundled_llm, EVERYDAY).run(question)
    asks_or_answers_cleanly(result, language)
    if language == "zh" and any(c.refusal == "missing" for c in result.tool_calls):
        # the tools describe their values in English only: the agent's question names them in Chinese
        assert result.answer.startswith("要继续") and not re.search("[A-Za-z]{2,}", result.answer), result.answer


@pytest.mark.parametrize("question, language", [("法国的首都是哪里？", "zh"), ("What is 17 plus 25?", "en")])
def test_a_question_no_tool_serves_runs_no_tool(bundled_llm, question, language):
    asks_or_answers_cleanly(native_engine(bundled_llm, EVERYDAY).run(question), language)


MARKET = str(ROOT / "tests" / "fixtures" / "market_tools.py")


@pytest.mark.parametrize("question, language", [("1到100的整数加起来是多少？", "zh"),
                                                ("Who wrote Pride and Prejudice?", "en")])
def test_a_tool_that_does_not_serve_the_question_is_neither_run_nor_asked_about(bundled_llm, question, language):
    result = native_engine(bundled_llm, MARKET).run(question)
    asks_or_answers_cleanly(result, language)
    assert not [c for c in result.tool_calls if c.refusal == "missing"], result.tool_calls  # no "which ticker?"


HOME = str(ROOT / "tests" / "fixtures" / "home_tools.py")


def test_an_option_named_in_another_language_runs(bundled_llm):
    """客厅 names the option "living room", which no spelling rule finds: the dictionary's gloss
    does (glossary.py), and the call runs. Words it does not gloss go to the model (below)."""
    result = native_engine(bundled_llm, HOME).run("把客厅的空调开到二十四度")
    [call] = [c for c in result.tool_calls if c.executed]
    assert (call.name, call.arguments) == ("set_air_conditioner", {"room": "living room", "temperature": 24})
    # a dry run: the user reads what would have run, not a result the model made up
    assert result.answer == "试运行：没有真正执行任何工具。会执行的调用：set_air_conditioner（room：living room，temperature：24）。"


TEA = str(ROOT / "tests" / "fixtures" / "tea_tools.py")


@pytest.mark.parametrize("tools, question, language, option", [
    (HOME, "把空调开到二十四度", "zh", "room"), (HOME, "Set the AC to 24 degrees.", "en", "room"),
    (TEA, "Order me a milk tea.", "en", "size")])
def test_an_option_the_user_did_not_name_is_asked_for(bundled_llm, tools, question, language, option):
    """The option is required and the user named none. Asked which option the user asked for, the
    model names the one it picked ("living room"); asked for the user's own words for it, chosen
    from what they said, it quotes none that name one (or words of the rest of the call: "a milk
    tea" for `order_milk_tea`'s size), and the agent asks for it."""
    result = native_engine(bundled_llm, tools).run(question)
    asks_or_answers_cleanly(result, language)
    [missing] = [c.missing for c in result.tool_calls if c.refusal == "missing"]
    assert option in missing, result.tool_calls


@pytest.mark.parametrize("question, reply, room", [("把空调开到二十四度", "卧室", "bedroom"),
                                                  ("Set the AC to 24 degrees.", "the bedroom", "bedroom")])
def test_the_users_answer_to_the_agents_question_runs_the_call(bundled_llm, question, reply, room):
    """The agent asked which room; the user's answer is the next question of the chat, and the call
    runs with it and the temperature said before (the model was shown only its question, it
    answered such replies itself: bench/README.md, "An answer to the agent's question")."""
    from localagent.memory import Conversation

    chat = Conversation(native_engine(bundled_llm, HOME))
    asked = chat.ask(question)
    assert [c.missing for c in asked.tool_calls if c.refusal == "missing"] == [["room"]], asked.tool_calls
    [call] = [c for c in chat.ask(reply).tool_calls if c.executed]
    assert (call.name, call.arguments) == ("set_air_conditioner", {"room": room, "temperature": 24})


def test_options_in_another_language_than_the_question_run(bundled_llm):
    """The options are Chinese, the question English: asked with the options in view, the model
    names the first one; from the user's own words ("large", "no sugar") it names the right ones."""
    result = native_engine(bundled_llm, TEA).run("Order me a large milk tea with no sugar.")
    [call] = [c for c in result.tool_calls if c.executed]
    assert (call.name, call.arguments) == ("order_milk_tea", {"size": "大杯", "sugar": "无糖"})


def test_a_length_of_time_is_converted_into_the_tools_unit(bundled_llm):
    """The period is in months; whatever the model writes for "one and a half years", 18 runs."""
    result = native_engine(bundled_llm).run("Renew i-uf6a3k9d2m8p1q5r7t0y for one and a half years.")
    [call] = [c for c in result.tool_calls if c.executed]
    assert (call.name, call.arguments) == ("RenewInstance", {"instance_id": "i-uf6a3k9d2m8p1q5r7t0y", "period": "18"})


def test_the_server_sends_how_likely_each_first_token_is(bundled_llm):
    """The relevance check reads yes against no from these probabilities (NativeEngine._yes_probability)."""
    from localagent.config import load_config
    from localagent.llm import LLMClient

    config = load_config(ROOT / "config" / "default.yaml")
    question = [{"role": "user", "content": "Is Paris the capital of France? Answer yes or no."},
                {"role": "assistant", "content": 'Answer: "'}]
    reply = LLMClient(config.llm_config, bundled_llm).chat(question, max_tokens=1, top_logprobs=20)
    assert 0.5 < sum(reply.first_token.values()) <= 1.0001 and len(reply.first_token) > 1, reply.first_token
    said = {token.strip().casefold(): p for token, p in reply.first_token.items()}
    assert said.get("yes", 0) > said.get("no", 0), reply.first_token
