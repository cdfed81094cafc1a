"""Shape of the suites with tool files of their own (`everyday`, `errands`, `chores`: cases and tools), of
`follow_ups` (on their tools), and of the BFCL irrelevance suite."""
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from bench.scoring import match_call
from bench.suites import CHORES_TOOLS, ERRANDS_TOOLS, EVERYDAY_TOOLS, SUITES, load_suite, parse_suites

ROOT = Path(__file__).resolve().parent.parent
TOOL_FILES = {"everyday": EVERYDAY_TOOLS, "errands": ERRANDS_TOOLS, "chores": CHORES_TOOLS}
TOOL_LISTS = {name: json.loads(path.read_text(encoding="utf-8")) for name, path in TOOL_FILES.items()}
TOOLS = {name: {t["function"]["name"]: t["function"] for t in tools} for name, tools in TOOL_LISTS.items()}
ALL_TOOLS = {n: fn for tools in TOOLS.values() for n, fn in tools.items()}
TOOLS["follow_ups"] = ALL_TOOLS
CASES = {name: load_suite(name) for name in [*TOOL_FILES, "follow_ups"]}
ALL_CASES = [(name, case) for name, cases in CASES.items() for case in cases]
PY_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "array": list, "object": dict}
NO_CALL = {"missing_info", "no_tool"}


def _keys(node):
    """Every dict key anywhere in a JSON value."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield k
            yield from _keys(v)
    elif isinstance(node, list):
        for v in node:
            yield from _keys(v)


def _fits(value, prop):
    if isinstance(value, bool) and prop.get("type") in ("integer", "number"):
        return False
    if "type" in prop and not isinstance(value, PY_TYPES[prop["type"]]):
        return False
    return "enum" not in prop or value in prop["enum"]


def test_registered():
    assert {"everyday", "errands", "chores", "bfcl_irrelevance"} <= set(SUITES)
    assert parse_suites("everyday,bfcl_irrelevance") == ["everyday", "bfcl_irrelevance"]
    assert {"everyday", "errands", "chores", "bfcl_irrelevance"} <= set(parse_suites("all"))


@pytest.mark.parametrize("suite", TOOL_FILES)
def test_tool_file(suite):
    tool_list = TOOL_LISTS[suite]
    assert len(tool_list) >= 12 and len(TOOLS[suite]) == len(tool_list)
    for t in tool_list:
        assert t["type"] == "function"
        fn = t["function"]
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", fn["name"]) and fn["description"].strip()
        params = fn["parameters"]
        assert params["type"] == "object" and params["properties"]
        assert set(params.get("required", [])) <= set(params["properties"])
        for name, prop in params["properties"].items():  # as users write them: some undescribed
            assert prop["type"] in PY_TYPES, (fn["name"], name)
            for v in prop.get("enum", []):
                assert _fits(v, {"type": prop["type"]}), (fn["name"], name, v)
            if "default" in prop:
                assert _fits(prop["default"], prop) and name not in params.get("required", [])
    # as users write tools: no annotations
    assert not [k for k in _keys(tool_list) if k.startswith("x-")]


@pytest.mark.parametrize("suite", TOOL_FILES)
def test_tools_in_no_other_file(suite):
    """A suite's tools are new to the repository: in no other tool file, fixture or case file."""
    others = [ROOT / "bench" / "extra_tools.json", ROOT / "bench" / "cases" / "tool_calls.jsonl",
              *(ROOT / "tools").rglob("*.py"), *(p for p in (ROOT / "tests" / "fixtures").rglob("*") if p.is_file()),
              *(path for name, path in TOOL_FILES.items() if name != suite),
              *(ROOT / "bench" / "cases" / f"{name}.jsonl" for name in TOOL_FILES if name != suite)]
    for path in others:
        text = path.read_text(encoding="utf-8")
        found = [n for n in TOOLS[suite] if re.search(rf"\b{re.escape(n)}\b", text)]
        assert not found, (path, found)


@pytest.mark.parametrize("suite", TOOL_FILES)
def test_case_file_shape(suite):
    cases, tools = CASES[suite], TOOLS[suite]
    assert len(cases) >= 48 and len({c["id"] for c in cases}) == len(cases)
    langs = Counter(c["lang"] for c in cases)
    assert set(langs) == {"zh", "en"} and langs["zh"] == langs["en"]
    cats = Counter(c["category"] for c in cases)
    assert {"single", "missing_info", "no_tool"} <= set(cats) <= {"single", "choice", "missing_info", "no_tool"}
    no_call = sum(cats[k] for k in NO_CALL)
    assert abs(no_call - len(cases) / 2) <= len(cases) / 10  # about half need no call
    for lang in ("zh", "en"):  # each language has every category
        assert {c["category"] for c in cases if c["lang"] == lang} == set(cats)
    assert not [k for c in cases for k in _keys(c) if str(k).startswith("x-")]
    # every tool is offered somewhere, and every tool is the right call somewhere
    assert {n for c in cases for n in c["tools"]} == set(tools)
    assert {e["name"] for c in cases for e in c["expected"]} == set(tools)


@pytest.mark.parametrize("suite, case", ALL_CASES, ids=lambda c: c if isinstance(c, str) else c["id"])
def test_case_is_valid(suite, case):
    tools = TOOLS[suite]
    assert case["id"].startswith(case["lang"] + "-") and case["question"].strip()
    if case["lang"] == "zh":
        assert re.search(r"[\u4e00-\u9fff]", case["question"])
    else:
        assert not re.search(r"[\u4e00-\u9fff]", case["question"])
    assert 1 <= len(case["tools"]) <= 3 and len(set(case["tools"])) == len(case["tools"])
    assert set(case["tools"]) <= set(tools)
    assert [t["function"]["name"] for t in case["tool_schemas"]] == case["tools"]
    if case["category"] in NO_CALL:
        assert case["expected"] == []
        return
    assert case["expected"]
    if case["category"] == "choice":
        assert len(case["tools"]) >= 2
    for e in case["expected"]:
        assert e["name"] in case["tools"]
        params = tools[e["name"]]["parameters"]
        props, required = params["properties"], params.get("required", [])
        assert set(e["arguments"]) <= set(props), "expected argument not in the schema"
        for name in required:  # a required argument must be expected, and not optional
            assert name in e["arguments"] and "" not in e["arguments"][name], name
        for name, allowed in e["arguments"].items():
            assert isinstance(allowed, list) and allowed
            for v in allowed:
                assert v == "" or _fits(v, props[name]), (name, v)
        # the expected call, realised with its first allowed values, is a right call
        args = {k: next(v for v in vals if v != "") for k, vals in e["arguments"].items() if vals != [""]}
        assert match_call(e["name"], args, case["expected"])


def test_follow_ups_file_shape():
    """Each case lacks a value the user then gives in `reply`, or (missing_info) still does not."""
    cases = CASES["follow_ups"]
    assert len(cases) >= 30 and len({c["id"] for c in cases}) == len(cases)
    langs = Counter(c["lang"] for c in cases)
    assert set(langs) == {"zh", "en"} and langs["zh"] == langs["en"]
    assert {c["category"] for c in cases} == {"follow_up", "missing_info"}
    assert all(c["reply"].strip() for c in cases)


@pytest.mark.parametrize("suite", [*TOOL_FILES, "follow_ups"])
def test_expected_calls_survive_validation(suite):
    """What the agent would execute (after Tool.validate's coercion) still matches: the bench scores that."""
    from bench.accuracy import case_toolbox
    from localagent.tools import Toolbox

    for case in CASES[suite]:
        if not case["expected"]:
            continue
        box = case_toolbox(case, Toolbox([]))
        assert sorted(box.names()) == sorted(case["tools"])
        for e in case["expected"]:
            first = {k: next(x for x in vals if x != "") for k, vals in e["arguments"].items() if vals != [""]}
            for k, vals in e["arguments"].items():  # each allowed value in turn, the others at their first
                for v in vals:
                    if v != "":
                        args = box.get(e["name"]).validate({**first, k: v})
                        assert match_call(e["name"], args, case["expected"]), (case["id"], k, v)


def test_load_bfcl_irrelevance():
    pytest.importorskip("bfcl_eval")
    from bench.bfcl import load_bfcl

    cases = load_suite("bfcl_irrelevance")
    assert len(cases) == 240 and len(load_bfcl("irrelevance", limit=5)) == 5
    assert len({c["id"] for c in cases}) == len(cases)
    for c in cases:
        assert c["category"] == "bfcl_irrelevance" and c["lang"] == "en" and c["question"].strip()
        assert c["expected"] == []
        names = [t["function"]["name"] for t in c["tool_schemas"]]
        assert names == c["tools"] and names and set(c["name_map"]) == set(names)
        for t in c["tool_schemas"]:
            assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", t["function"]["name"])
            assert t["function"]["parameters"]["type"] == "object"
