"""Score tool calls the way BFCL's AST checker does, and sum them into rates.

`expected` is a list of acceptable calls, each {"name", "arguments": {arg: [allowed values]}};
"" among the allowed values means the argument may be left out (BFCL's convention).
Mirrors bfcl_eval/eval_checker/ast_eval/ast_checker.py (simple_function_checker and friends),
but infers the expected type from the allowed values, so it needs no schema.
"""
from __future__ import annotations

import re
from typing import Any

_STRIP = re.compile(r"[ ,./\-_*^]")  # BFCL's standardize_string drops these


def _std(s: str) -> str:
    # BFCL: "April 1, 2024" == "april 1 2024"; single quotes count as double.
    return _STRIP.sub("", s).lower().replace("'", '"')


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _dict_match(value: Any, spec: dict) -> bool:
    """A dict value against a BFCL dict spec {key: [allowed]} (dict_checker)."""
    if not isinstance(value, dict) or any(k not in spec for k in value):
        return False
    if any(k not in value and "" not in allowed for k, allowed in spec.items()):
        return False
    return all(value_ok(v, spec[k]) for k, v in value.items())


def _match(value: Any, allowed: Any, in_list: bool = False) -> bool:
    """One value against one allowed value."""
    if isinstance(allowed, bool) or isinstance(value, bool):  # True is not 1
        return type(value) is type(allowed) and value == allowed
    if isinstance(allowed, str):
        return isinstance(value, str) and _std(value) == _std(allowed)
    if isinstance(allowed, float) and not in_list:  # Python's int -> float auto conversion,
        return _is_num(value) and float(value) == allowed  # which BFCL applies at top level only
    if isinstance(allowed, (int, float)):  # a float where an int is expected is a type error
        return type(value) is type(allowed) and value == allowed
    if isinstance(allowed, dict):
        return _dict_match(value, allowed)
    if isinstance(allowed, list):  # elementwise, same length and order (list_checker)
        return (isinstance(value, (list, tuple)) and len(value) == len(allowed)
                and all(_match(v, a, True) for v, a in zip(value, allowed)))
    return value == allowed


def value_ok(value: Any, allowed: list) -> bool:
    return any(_match(value, a) for a in allowed)


def _call_ok(args: dict, exp_args: dict) -> bool:
    if any(k not in exp_args for k in args):  # unknown / hallucinated argument
        return False
    if any(k not in args and "" not in allowed for k, allowed in exp_args.items()):
        return False  # required argument missing
    return all(value_ok(v, exp_args[k]) for k, v in args.items())


def match_call(call_name: str, call_args: dict, expected: list[dict]) -> bool:
    """True if the call matches any one of the expected calls."""
    if not isinstance(call_args, dict):
        return False
    return any(e["name"] == call_name and _call_ok(call_args, e["arguments"]) for e in expected)


def _rate(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


# What a user must never read: the agent's internal refusals and errors, the ReAct format, raw
# argument JSON, the turn-limit message.
INTERNAL_TEXT = re.compile(r"\bError:|not executed|instead of guessing|Action( Input)?\s*:|Observation\s*:"
                           r"|\{\s*\"\w+\"\s*:|Stopped after \d+ turns", re.I)


def internal_text(answer: str) -> bool:
    return bool(INTERNAL_TEXT.search(answer or ""))


def answer_language_ok(answer: str, lang: str) -> bool:
    """The answer's prose is in the question's language, as the agent itself judges it."""
    from localagent.replies import written_in

    return written_in(answer, lang)


def user_reads_well(record: dict) -> bool:
    """A run that ended in an answer the user can read: no error, no turn limit, no internal text."""
    return record.get("stopped") == "answer" and bool((record.get("answer") or "").strip()) \
        and not internal_text(record.get("answer", ""))


def asked_for_values(record: dict) -> bool:
    """The run ended in the agent's question for values a call lacked: a refusal for them always
    ends it (older records: a refusal that names values not given)."""
    return any(c.get("refusal") == "missing" or ("refusal" not in c and "not given by the user" in (c.get("error") or ""))
               for c in record.get("refused") or [])


def score(records: list[dict]) -> dict:
    """records: {"case", "calls": [{"name", "arguments"}] (executed calls only), "answer", "stopped",
    "parsable", "error"}.

    Call rates are over cases that need a call (the first executed call counts, as BFCL's
    simple/multiple categories expect exactly one); the no-call rates over cases with
    expected == []: right only when nothing ran and the answer answers or asks without internal text.
    """
    need = [r for r in records if r["case"]["expected"]]
    no = [r for r in records if not r["case"]["expected"]]
    correct = wrong_tool = no_call = 0
    by_cat: dict[str, list[int]] = {}
    for r in records:
        exp, calls = r["case"]["expected"], r.get("calls") or []
        if exp:
            first = calls[0] if calls else None
            ok = bool(first) and match_call(first["name"], first.get("arguments"), exp)
            correct += ok
            no_call += first is None
            wrong_tool += bool(first) and first["name"] not in {e["name"] for e in exp}
        else:
            ok = not calls and user_reads_well(r)
        c = by_cat.setdefault(r["case"].get("category", "?"), [0, 0])
        c[0] += ok
        c[1] += 1
    called_needlessly = sum(bool(r.get("calls")) for r in no)
    right_no_call = sum(not r.get("calls") and user_reads_well(r) for r in no)
    answered = [r for r in records if r.get("stopped") == "answer"]
    # No tool serves the question, yet the user was asked for a tool's values: right as scored
    # (nothing ran, the answer asks), but not what the user wanted.
    no_tool = [r for r in no if r["case"].get("category") != "missing_info"]
    return {
        "n": len(records),
        "n_need_call": len(need),
        "n_no_call": len(no),
        "correct_call_rate": _rate(correct, len(need)),
        "wrong_tool_rate": _rate(wrong_tool, len(need)),
        "no_call_when_needed_rate": _rate(no_call, len(need)),
        "call_when_not_needed_rate": _rate(called_needlessly, len(no)),
        "right_no_call_rate": _rate(right_no_call, len(no)),
        # over every case whose run ended in an answer
        "language_rate": _rate(sum(answer_language_ok(r.get("answer", ""), r["case"].get("lang", "en"))
                                   for r in answered), len(answered)),
        "asked_when_no_tool_serves": sum(not r.get("calls") and asked_for_values(r) for r in no_tool),
        "n_no_tool": len(no_tool),
        "internal_text_count": sum(internal_text(r.get("answer", "")) for r in records),
        "parsable_rate": _rate(sum(bool(r.get("parsable")) for r in records), len(records)),
        "error_count": sum(bool(r.get("error")) for r in records),
        # per category: share of cases handled right (matching call, or rightly no call)
        "by_category": {k: _rate(ok, n) for k, (ok, n) in sorted(by_cat.items())},
    }
