"""The constrained-decoding designs the native engine's choice is measured against (issue #4).

The native engine lets the model choose freely (answer, ask, or name a tool) and constrains only
the arguments of the tool it named. The alternatives, as NativeEngine subclasses for the bench:
- whole-reply grammar: one grammar over the whole reply, "a call with schema-valid arguments
  OR a final answer", so the format can never break;
- forced call (schema only, like tool_choice=required): the reply must be a call of some tool.
Both need llama.cpp (llguidance grammar).
"""
from __future__ import annotations

import json

from localagent.constrain import arguments_schema
from localagent.engines.native import NativeEngine, _Question
from localagent.parsing import ParsedCall, parse_reply


def reply_grammar(engine: NativeEngine, allow_answer: bool) -> str:
    tools = list(engine.toolbox.tools.values())
    calls = [f'"Action: {t.name}\\nAction Input: " args{i}' for i, t in enumerate(tools)]
    rules = [f"args{i}: %json {json.dumps(arguments_schema(t.parameters), ensure_ascii=False)}"
             for i, t in enumerate(tools)]
    start = " | ".join(calls + (['"Final Answer: " /(.|\\n)+/'] if allow_answer else []))
    return "%llguidance {}\nstart: " + start + "\n" + "\n".join(rules) + "\n"


class WholeReplyGrammarEngine(NativeEngine):
    allow_answer = True

    def _react_turn(self, q: _Question) -> tuple[list[ParsedCall], str]:
        messages = q.messages + ([{"role": "assistant", "content": q.scratchpad}] if q.scratchpad else [])
        text = self._chat(q, messages, extra_body={"grammar": reply_grammar(self, self.allow_answer)}).content
        if q.scratchpad and text.startswith(q.scratchpad):
            text = text[len(q.scratchpad):]
        parsed = parse_reply(text)
        q.scratchpad += text.strip() + "\n"
        return parsed.calls, parsed.answer


class ForcedCallEngine(WholeReplyGrammarEngine):
    allow_answer = False

    def _react_turn(self, q: _Question) -> tuple[list[ParsedCall], str]:
        if q.result.tool_calls:  # one forced call per question; then the model answers freely
            return NativeEngine._react_turn(self, q)
        return super()._react_turn(q)


class UncheckedEngine(NativeEngine):
    """The native engine without the checks before a call (grounding, its enum confirmation, the
    relevance question): what those checks cost in time is measured against it."""

    def __init__(self, endpoint, toolbox, agent, **kwargs):
        super().__init__(endpoint, toolbox, agent.model_copy(update={"grounding": False}), **kwargs)

    def _checks_relevance(self) -> bool:
        return False  # no relevance question, so no reply stopped where a tool's arguments go


UNCHECKED = "native-unchecked"  # the baseline that the checks' time is measured against
ALTERNATIVES = {"native-whole-grammar": WholeReplyGrammarEngine, "native-forced": ForcedCallEngine,
                UNCHECKED: UncheckedEngine}
