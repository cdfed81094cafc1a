"""localagent.parsing against a corpus of real (and synthetic) small-model outputs.

tests/fixtures/model_outputs.jsonl: one reply a line,
  {"id", "source": "qwen2.5-coder-0.5b|qwen2.5-coder-1.5b|synthetic", "text",
   "expect": {"calls": [{"name", "arguments", "error"?}], "answer": str|null, "thought"?}}
The real ones were produced by Qwen2.5-Coder-0.5B/1.5B-Instruct (Q4 GGUF) on llama.cpp, with a
ReAct system prompt or with the OpenAI `tools=` parameter (their calls then come back as text in
`content`), at temperature 0 and 0.7; `mode`, `temperature` and `question` record how.
"""
import json
from pathlib import Path

import pytest

from localagent.lenient_json import json_span, loads_lenient
from localagent.parsing import parse_reply
from localagent.react import last_action_start

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "model_outputs.jsonl"
CASES = [json.loads(line) for line in FIXTURES.read_text(encoding="utf-8").splitlines() if line.strip()]
SOURCES = {"qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "synthetic"}


def test_corpus_shape():
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)), "duplicate ids"
    for case in CASES:
        assert case["source"] in SOURCES, case["id"]
        assert isinstance(case["text"], str)
        expect = case["expect"]
        assert set(expect) <= {"calls", "answer", "thought"}
        assert (expect["answer"] is None) == bool(expect["calls"]), case["id"]
        for call in expect["calls"]:
            assert set(call) <= {"name", "arguments", "error"} and "name" in call and "arguments" in call
    real = [c for c in CASES if c["source"] != "synthetic"]
    assert len(real) >= 20
    assert {c["mode"] for c in real} == {"react", "tools"}
    assert any(not c["expect"]["calls"] for c in real)  # some questions needed no tool


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_parse_reply_corpus(case):
    expect = case["expect"]
    reply = parse_reply(case["text"])
    assert [{"name": c.name, "arguments": c.arguments} for c in reply.calls] == \
        [{"name": c["name"], "arguments": c["arguments"]} for c in expect["calls"]]
    for got, want in zip(reply.calls, expect["calls"]):
        if want.get("error"):
            assert got.error, f"{got.name}: an error was expected"
        else:
            assert got.error is None, got.error
    if expect["answer"] is None:
        assert reply.answer == ""
    else:
        assert reply.answer == expect["answer"]
    if "thought" in expect:
        assert reply.thought == expect["thought"]


def test_real_react_outputs_stop_at_the_first_action_input():
    """Small models write on past Action Input: a made-up Observation and Final Answer."""
    case = next(c for c in CASES if c["id"] == "q05-react-zh-describe-t07-json-observation")
    assert "Observation:" in case["text"]
    reply = parse_reply(case["text"])
    assert [c.arguments for c in reply.calls] == [{"instance_id": "i-7f3e9"}]


# --- error messages of calls that did not parse --------------------------------------------

def test_action_without_input_error():
    [call] = parse_reply("Action: DescribeInstance").calls
    assert (call.name, call.arguments) == ("DescribeInstance", {})
    assert call.error == "no Action Input after the Action line"


def test_action_input_not_json_error_shows_the_text():
    [call] = parse_reply("Action: DescribeInstance\nAction Input: i-123 please\nmore").calls
    assert call.arguments == "i-123 please"
    assert call.error == "Action Input is not a JSON object: 'i-123 please'"


def test_call_ids_are_unset_in_text_mode():
    assert all(c.id is None for c in parse_reply('{"name": "a", "arguments": {}}').calls)


# --- json_span ------------------------------------------------------------------------------

@pytest.mark.parametrize("text,start,span", [
    ('{"a": 1}', 0, (0, 8)),
    ('Action Input: {"a": {"b": [1, 2]}} tail', 0, (14, 34)),
    ('x [1, [2], 3] y', 0, (2, 13)),
    ('{"a": "}"} z', 0, (0, 10)),          # a brace inside a string
    ("{'a': '}'}", 0, (0, 10)),            # single-quoted strings
    ('{"a": "\\"}"}', 0, (0, 12)),         # an escaped quote
    ("{“a”：“}”}", 0, (0, 9)),            # full-width quotes
    ("｛“a”：1｝", 0, (0, 7)),              # full-width braces
    ("a{b}c{d}", 2, (5, 8)),               # from start
    ("a{b}c{d}", 1, (1, 4)),
    ("{unclosed", 0, None),
    ('{"a": "}', 0, None),
    ("no json here", 0, None),
    ("", 0, None),
])
def test_json_span(text, start, span):
    assert json_span(text, start) == span


# --- loads_lenient --------------------------------------------------------------------------

@pytest.mark.parametrize("text,value", [
    ('{"a": 1, "b": [true, null]}', {"a": 1, "b": [True, None]}),
    ("{'a': 'x', 'b': 2,}", {"a": "x", "b": 2}),
    ("{a: 1, /* note */ b: 'y'}", {"a": 1, "b": "y"}),
    ("[1, 2,]", [1, 2]),
    ("{“instance_id”：“i-1”，“period”：22}", {"instance_id": "i-1", "period": 22}),
    ("｛“a”：【1，2】｝", {"a": [1, 2]}),
    ('{"text": "你好，世界"}', {"text": "你好，世界"}),  # valid JSON: full-width text inside is kept
])
def test_loads_lenient(text, value):
    assert loads_lenient(text) == value


@pytest.mark.parametrize("text", ["", "nope", "{a: }", '{"a": 1', "i-123"])
def test_loads_lenient_raises_value_error(text):
    with pytest.raises(ValueError):
        loads_lenient(text)


# --- last_action_start ----------------------------------------------------------------------

def test_last_action_start():
    text = ('Thought: a\nAction: DescribeInstance\nAction Input: {"instance_id": "i-1"}\nObservation: x\n'
            'Action: RenewInstance\nAction Input: {}')
    assert last_action_start(text) == text.index("Action: RenewInstance")
    assert text[last_action_start(text):].startswith("Action: RenewInstance")


def test_last_action_start_single_and_none():
    assert last_action_start("Action: A\nAction Input: {}") == 0
    assert last_action_start("Thought: x\n  Action: A") == len("Thought: x\n")
    assert last_action_start("no action here") == len("no action here")
    assert last_action_start("Action Input: {}") == len("Action Input: {}")  # not an Action line
    assert last_action_start("") == 0


def test_last_action_start_ignores_mid_line_mentions():
    text = "I could use the Action: Calculator tool"
    assert last_action_start(text) == len(text)
