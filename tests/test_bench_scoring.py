"""Tests for the accuracy bench: the BFCL-style matcher, the rates, and the case files."""
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from bench.scoring import match_call, score

BENCH = Path(__file__).resolve().parent.parent / "bench"
TOOLS = {t["function"]["name"]: t["function"] for t in json.loads((BENCH / "extra_tools.json").read_text())}
CASES = [json.loads(line) for line in (BENCH / "cases" / "tool_calls.jsonl").read_text().splitlines() if line.strip()]
BY_ID = {c["id"]: c for c in CASES}
JSON_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}
PY_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "array": list, "object": dict}

try:
    import jsonschema
except ImportError:  # the venv may not have it; fall back to a structural check
    jsonschema = None


def check_schema(node: dict) -> None:
    """A JSON Schema made of the keywords the bench uses, with only JSON Schema type names."""
    if jsonschema:
        jsonschema.Draft202012Validator.check_schema(node)
    assert isinstance(node, dict)
    if "type" in node:
        assert node["type"] in JSON_TYPES, node
    if "properties" in node:
        assert isinstance(node["properties"], dict)
        for sub in node["properties"].values():
            check_schema(sub)
    if "items" in node:
        check_schema(node["items"])
    if "required" in node:
        assert set(node["required"]) <= set(node.get("properties", {})), node
    if "enum" in node:
        assert isinstance(node["enum"], list)


def exp(case_id):
    return BY_ID[case_id]["expected"]


# ---------- match_call

def test_correct_call_seed():
    assert match_call("RenewInstance", {"instance_id": "i-rj90a7e840y5cde", "period": "22"}, exp("zh-renew-01"))
    assert match_call("RenewInstance", {"instance_id": "i-rj90a7e840y5cde", "period": 22}, exp("zh-renew-01"))


def test_wrong_value():
    assert not match_call("RenewInstance", {"instance_id": "i-rj90a7e840y5cde", "period": "12"}, exp("zh-renew-01"))
    assert not match_call("RenewInstance", {"instance_id": "i-xxxx", "period": "22"}, exp("zh-renew-01"))
    assert not match_call("RenewInstance", {"instance_id": "i-rj90a7e840y5cde", "period": "22个月"}, exp("zh-renew-01"))


def test_missing_required_and_unknown_argument():
    assert not match_call("RenewInstance", {"instance_id": "i-rj90a7e840y5cde"}, exp("zh-renew-01"))
    assert not match_call("RenewInstance", {"instance_id": "i-rj90a7e840y5cde", "period": "22", "auto_pay": True},
                          exp("zh-renew-01"))


def test_optional_absent_or_default():
    e = exp("en-stop-01")
    assert match_call("StopInstance", {"instance_id": "i-t4n8r2w6q1e9y3u7i5op"}, e)
    assert match_call("StopInstance", {"instance_id": "i-t4n8r2w6q1e9y3u7i5op", "force": False}, e)
    assert not match_call("StopInstance", {"instance_id": "i-t4n8r2w6q1e9y3u7i5op", "force": True}, e)
    # force=True is required by the question in the coercion case; 1 is not True
    assert not match_call("StopInstance", {"instance_id": "i-2ze8v4s6n1c9b3x7k5j"}, exp("en-stop-03"))
    assert not match_call("StopInstance", {"instance_id": "i-2ze8v4s6n1c9b3x7k5j", "force": 1}, exp("en-stop-03"))


def test_int_vs_float():
    e = exp("zh-currency-01")  # amount 500.0
    assert match_call("ConvertCurrency", {"amount": 500, "from_currency": "USD", "to_currency": "CNY"}, e)
    assert match_call("ConvertCurrency", {"amount": 500.0, "from_currency": "usd", "to_currency": "cny"}, e)
    assert not match_call("ConvertCurrency", {"amount": "500", "from_currency": "USD", "to_currency": "CNY"}, e)
    e = exp("zh-room-03")  # duration_minutes 90 (integer): a float is a type error, as in BFCL
    args = {"room": "C2", "start_time": "2025-03-15T10:00:00"}
    assert match_call("BookMeetingRoom", {**args, "duration_minutes": 90}, e)
    assert not match_call("BookMeetingRoom", {**args, "duration_minutes": 90.0}, e)


def test_string_standardisation():
    # BFCL ignores case, spaces and ,./-_*^ in strings
    assert match_call("GetWeather", {"city": " london ", "unit": "Celsius"}, exp("en-weather-01"))
    assert match_call("SearchFlights", {"origin": "boston", "destination": "SFO", "date": "2025/06/12"},
                      exp("en-flight-01"))
    assert not match_call("GetWeather", {"city": "Londres"}, exp("en-weather-01"))


def test_wrong_tool():
    assert not match_call("StopInstance", {"instance_id": "i-rj90a7e840y5cde"}, exp("zh-reboot-02"))
    assert not match_call("RebootInstance", {"instance_id": "i-rj90a7e840y5cde"}, [])


def test_nested_values():
    e = [{"name": "f", "arguments": {"xs": [[1.0, 2.0]], "d": [{"a": ["x"], "b": [1, ""]}]}}]
    assert match_call("f", {"xs": [1.0, 2.0], "d": {"a": "X"}}, e)
    assert not match_call("f", {"xs": [2.0, 1.0], "d": {"a": "x"}}, e)  # order matters
    assert not match_call("f", {"xs": [1.0, 2.0], "d": {"a": "x", "c": 1}}, e)  # unknown key
    assert not match_call("f", {"xs": [1.0, 2.0], "d": {"b": 1}}, e)  # missing key


# ---------- score

def rec(case_id, calls=(), parsable=True, error=None, answer="好的。", stopped="answer"):
    return {"case": BY_ID[case_id], "calls": list(calls), "parsable": parsable, "error": error,
            "answer": answer, "stopped": stopped}


def test_score_rates_and_denominators():
    ok = {"name": "RenewInstance", "arguments": {"instance_id": "i-rj90a7e840y5cde", "period": "22"}}
    records = [
        rec("zh-renew-01", [ok]),  # correct
        rec("en-renew-01", [{"name": "DescribeInstance", "arguments": {"instance_id": "i-rj90a7e840y5cde"}}, ok]),
        rec("zh-reboot-02", [], parsable=False),  # needed a call, made none
        rec("zh-stop-02", [{"name": "StopInstance", "arguments": {"instance_id": "i-uf6a3k9d2m8p1q5r7t0y", "force": 1}}]),
        rec("zh-chat-01"),  # rightly no call
        rec("en-chat-01"),
        rec("zh-reboot-04", [{"name": "RebootInstance", "arguments": {"instance_id": "i-unknown"}}]),  # guessed
    ]
    s = score(records)
    assert (s["n"], s["n_need_call"], s["n_no_call"]) == (7, 4, 3)
    assert s["correct_call_rate"] == 0.25  # only the first call counts
    assert s["wrong_tool_rate"] == 0.25
    assert s["no_call_when_needed_rate"] == 0.25
    assert s["call_when_not_needed_rate"] == round(1 / 3, 4)
    assert s["right_no_call_rate"] == round(2 / 3, 4)
    assert s["parsable_rate"] == round(6 / 7, 4)
    assert s["by_category"]["no_tool"] == 1.0 and s["by_category"]["missing_info"] == 0.0


def test_a_no_call_is_right_only_when_the_user_reads_a_clean_answer():
    internal = "Error: not executed: instance_id='i-x' was not given by the user."
    s = score([rec("zh-chat-01"), rec("zh-reboot-04", answer=internal), rec("en-chat-01", stopped="max_turns"),
               rec("zh-chat-01", answer="")])
    assert s["right_no_call_rate"] == 0.25 and s["internal_text_count"] == 1


def test_answer_language_is_scored_for_every_answered_case():
    s = score([rec("zh-chat-01", answer="你好！"), rec("zh-chat-01", answer="Hello there, how can I help?"),
               rec("en-chat-01", answer="Hello there!"), rec("en-chat-01", answer="7006652"),
               rec("en-chat-01", answer="x", stopped="error")])
    assert s["language_rate"] == 0.75  # the errored run ended in no answer


def test_the_language_of_an_answer_is_its_prose_not_its_asides():
    from bench.scoring import answer_language_ok

    asked = "To do that I need size (中杯, 大杯 or 超大杯) from you. Could you tell me?"
    assert answer_language_ok(asked, "en") and not answer_language_ok(asked, "zh")
    english = "The instance has been stopped.\n\n（试运行：没有真正执行任何工具，以上不是工具返回的真实结果。）"
    assert not answer_language_ok(english, "zh")  # the agent's note is Chinese, the answer is not
    assert answer_language_ok("要继续，我还需要您告诉我：room（living room、bedroom或office）。", "zh")
    assert answer_language_ok("（试运行：没有真正执行任何工具。）", "zh")  # nothing but an aside


@pytest.mark.parametrize("answer, language", [
    ('I need to know the title of the song "晴天" to search the library catalogue.', "en"),  # a quotation
    ("《晴天》是周杰伦唱的。", "zh"),
    ("The weather in 北京 is sunny today.", "en"),  # a name is no answer in Chinese
    ("股票的市盈率是指股票价格与每股收益的比率，P/E Ratio越高，预期越高。", "zh"),  # an English term in it
    ("请在 Settings 里打开 Wi-Fi。", "zh"),
])
def test_an_answer_is_in_the_language_most_of_its_prose_is_in(answer, language):
    from bench.scoring import answer_language_ok

    other = "en" if language == "zh" else "zh"
    assert answer_language_ok(answer, language) and not answer_language_ok(answer, other)


@pytest.mark.parametrize("question, language", [
    ("How do you say 谢谢 in English?", "en"),
    ('What does "你好" mean?', "en"),
    ("《晴天》是谁唱的？", "zh"),
    ("请用Python写一个hello world程序", "zh"),
    ("帮我续费 i-rj90a7e840y5cde，22个月", "zh"),
])
def test_the_users_language_is_the_one_most_of_the_question_is_in(question, language):
    """The agent answers in it (replies.conversation_language), as answers are read."""
    from localagent.replies import conversation_language

    assert conversation_language(question, []) == language
    assert conversation_language("i-rj90a7e840y5cde", [{"role": "user", "content": question}]) == language


def test_score_empty_denominators():
    s = score([rec("zh-chat-01")])
    assert s["correct_call_rate"] is None and s["right_no_call_rate"] == 1.0


# ---------- the case file

def test_extra_tools_are_valid():
    assert {"RenewInstance", "DescribeInstance", "StopInstance", "RebootInstance", "Calculator"} <= set(TOOLS)
    for fn in TOOLS.values():
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", fn["name"]) and fn["description"]
        assert fn["parameters"]["type"] == "object"
        check_schema(fn["parameters"])


def test_case_file_shape():
    assert len(CASES) >= 64 and len(BY_ID) == len(CASES)
    langs = Counter(c["lang"] for c in CASES)
    assert langs["zh"] == langs["en"] == len(CASES) // 2
    cats = Counter(c["category"] for c in CASES)
    assert set(cats) == {"single", "choice", "coercion", "missing_info", "no_tool"}
    assert any(c["question"] == "请帮我续费一台ECS实例，实例id是：i-rj90a7e840y5cde，续费时长22个月" for c in CASES)


def _value_fits(value, prop):
    if "type" in prop and not isinstance(value, PY_TYPES[prop["type"]]):
        return False
    if isinstance(value, bool) and prop.get("type") in ("integer", "number"):
        return False
    return "enum" not in prop or value in prop["enum"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"])
def test_case_is_valid(case):
    assert case["lang"] in ("zh", "en") and case["question"].strip()
    assert 2 <= len(case["tools"]) <= 5 and set(case["tools"]) <= set(TOOLS)
    if case["category"] in ("missing_info", "no_tool"):
        assert case["expected"] == []
        return
    assert case["expected"]
    for e in case["expected"]:
        assert e["name"] in case["tools"]
        params = TOOLS[e["name"]]["parameters"]
        props, required = params["properties"], params.get("required", [])
        assert set(e["arguments"]) <= set(props), "expected argument not in the schema"
        for name in required:  # a required argument must be expected, and not optional
            assert name in e["arguments"] and "" not in e["arguments"][name]
        for name, allowed in e["arguments"].items():
            assert isinstance(allowed, list) and allowed
            # each allowed value fits the schema; a number for the string `period` is the one leniency
            for v in allowed:
                if v != "" and not (name == "period" and isinstance(v, int)):
                    assert _value_fits(v, props[name]), (name, v)


# ---------- BFCL

@pytest.mark.parametrize("category,n,cat", [("simple_python", 400, "bfcl_simple"), ("multiple", 200, "bfcl_multiple")])
def test_load_bfcl(category, n, cat):
    pytest.importorskip("bfcl_eval")
    from bench.bfcl import load_bfcl

    cases = load_bfcl(category)
    assert len(cases) == n and len(load_bfcl(category, limit=5)) == 5
    for c in cases:
        assert c["category"] == cat and c["lang"] == "en" and c["question"].strip()
        names = [t["function"]["name"] for t in c["tool_schemas"]]
        assert names == c["tools"] and set(c["name_map"]) == set(names)
        for t in c["tool_schemas"]:
            assert t["type"] == "function"
            assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", t["function"]["name"])
            assert t["function"]["parameters"]["type"] == "object"
            check_schema(t["function"]["parameters"])
        assert len(c["expected"]) == 1 and c["expected"][0]["name"] in names
        props = next(t for t in c["tool_schemas"] if t["function"]["name"] == c["expected"][0]["name"])
        assert set(c["expected"][0]["arguments"]) <= set(props["function"]["parameters"]["properties"])


def _realise(allowed):
    """A concrete value from an allowed value (dicts in BFCL answers are {key: [allowed]})."""
    if isinstance(allowed, dict):
        return {k: _realise(next(x for x in v if x != "")) for k, v in allowed.items() if any(x != "" for x in v)}
    return [_realise(x) for x in allowed] if isinstance(allowed, list) else allowed


def test_bfcl_ground_truth_matches_itself():
    pytest.importorskip("bfcl_eval")
    from bench.bfcl import load_bfcl

    for c in load_bfcl("simple_python") + load_bfcl("multiple"):
        e = c["expected"][0]
        args = {k: _realise(next(x for x in v if x != "")) for k, v in e["arguments"].items() if any(x != "" for x in v)}
        assert match_call(e["name"], args, c["expected"]), c["id"]
        assert not match_call(e["name"] + "_x", args, c["expected"])


def test_a_question_for_a_tool_that_serves_nothing_asked_counts_on_its_own():
    """Asking for values is right as scored, but where no tool serves the question it is counted."""
    def rec(category, refusal):
        refused = [{"name": "pay_bill", "arguments": {}, "status": "refused", "error": "x", "refusal": refusal}]
        return {"case": {"id": category, "lang": "en", "category": category, "question": "q", "expected": []},
                "calls": [], "refused": refused, "answer": "To do that I need account from you. Could you tell me?",
                "stopped": "answer", "parsable": True, "error": None}
    out = score([rec("no_tool", "missing"), rec("no_tool", "unrelated"), rec("missing_info", "missing")])
    assert (out["asked_when_no_tool_serves"], out["n_no_tool"], out["right_no_call_rate"]) == (1, 2, 1.0)
