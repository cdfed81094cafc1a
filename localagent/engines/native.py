"""The native engine: a lean ReAct / function-calling loop with constrained tool arguments.

ReAct mode keeps one assistant message per question, the scratchpad (`Action:` / `Action Input:`
/ `Observation:` ...), and asks the server to continue it. The prompt then grows only at its
end, so llama.cpp's prompt cache re-evaluates only the new tokens; and small models, which
lose the format when an observation arrives as a new user turn, keep it.

Constrained decoding: the model writes freely until it has named a tool (`Action: X`); only then
are the arguments generated under the JSON schema of X's parameters. The model keeps the choice
to answer or ask (a grammar over the whole reply made small models call a tool for a greeting);
the arguments it writes are always valid JSON of the right shape.
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
from datetime import date
from dataclasses import dataclass, field
from typing import Any, Callable

from ..config import AgentConfig
from ..constrain import KINDS, Constraint, arguments_schema
from ..endpoint import Endpoint
from ..errors import EndpointHTTPError
from ..grounding import first_named, found, names_nothing_of, normalise, options_named, phrases
from ..replies import in_language, written_in
from ..llm import LLMClient, Reply
from .. import prompt_cache, react
from ..lenient_json import loads_lenient
from ..parsing import ParsedCall, parse_reply
from ..prompts import dated
from ..tools import Tool, ToolArgumentError, Toolbox
from ..translation import ParameterNames
from .base import Approver, Events, History, RunResult, Stopwatch, ToolCallRecord, approve_all
from .execution import echoes_an_error, no_answer, refuse_unrelated, would_have_run
from .question import Question

NOT_SAID = "not said"
# How the model is asked for the words the user said for a value.
OWN_WORDS = f'The user\'s own words for it, or "{NOT_SAID}": '
# How likely a yes must be, against a no, for a tool to serve the request: asked first, and asked
# again after the model has put the request in its own words (bench/README.md, "relevance").
YES, YES_AGAIN = 0.5, 0.7
# How likely the model must have found its reply up to a tool's arguments (`Action: X`) for the
# relevance check to be left out: an unrelated tool is reached for less surely (bench/README.md,
# "relevance").
SURE = 0.93
# Replies of at most this many tokens are read whole: too short for a loop to cost much.
SHORT = 64


@dataclass
class _Question(Question):
    """One question, with what the native engine sends the model for it."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    scratchpad: str = ""  # ReAct steps so far, continued by the server (prefill)
    trace: list[str] = field(default_factory=list)  # every ReAct step of the question, for memory
    asked: int = 0  # how many of `messages` lead up to the question (the system prompt, memory, it)
    turn_start: str = ""  # the scratchpad before this turn's reply: where a relevance check goes
    # tool -> "" when the model said it serves the request (or wrote its call surely), else the
    # check that found it did not
    judged: dict[str, str] = field(default_factory=dict)
    wanted: set[str] = field(default_factory=set)  # tools the model said serve once it restated the request
    shown: set[str] = field(default_factory=set)  # tools whose "no" the model has read in its scratchpad
    chosen: str | None = None  # the tool the next turn calls, chosen by the model under a grammar


class NativeEngine:
    def __init__(self, endpoint: Endpoint, toolbox: Toolbox, agent: AgentConfig, *, approve: Approver = approve_all,
                 dry_run: bool = False, events: Events | None = None):
        self.llm, self.toolbox, self.agent = LLMClient(endpoint.config, endpoint.api_base), toolbox, agent
        self.function_calling = endpoint.config.is_function_call
        # Continuing an assistant message (prefill) and constraining it need a known server.
        self.prefill = Constraint(endpoint.kind) if endpoint.kind in KINDS else None
        self.constraint = self.prefill if agent.constrained != "off" else None
        self.token_probabilities = True  # until the server rejects a request for them
        self.approve, self.dry_run, self.events = approve, dry_run, events or Events()
        # A server whose slot state can be saved (ours, with the prompt cache): checks keep the
        # question's state there meanwhile (`_aside`).
        self.slot_server: str | None = None
        self._kept_file = f"question-{os.getpid()}-{id(self):x}.bin"
        self.names = ParameterNames()  # kept on disk for a server of ours (factory.py)

    def system_prompt(self, today: date | None = None) -> str:
        instruction = dated(self.agent.instruction, today or date.today(), self.toolbox)
        if self.function_calling:
            return instruction
        return react.system_prompt(instruction, self.toolbox)

    def run(self, question: str, history: History | None = None) -> RunResult:
        q = _Question.start(question, history, self.toolbox, self.agent, approve=self.approve,
                            dry_run=self.dry_run, events=self.events)
        q.messages = [{"role": "system", "content": self.system_prompt(q.today)}, *q.history,
                      {"role": "user", "content": in_language(question, q.language)}]
        q.asked = len(q.messages)
        with q.ending():
            while q.next_turn():
                calls, answer = self._fc_turn(q) if self.function_calling else self._react_turn(q)
                if not calls and q.held and not self.function_calling and normalise(answer) == normalise(question):
                    # The user answered the agent's question with the value alone ("卧室"), and the
                    # model repeated it as its answer: the held tool is called, its arguments written
                    # by the model (bench/README.md, "An answer to the agent's question").
                    q.chosen, q.held, q.scratchpad = q.held, None, q.turn_start
                    q.trace.pop()
                    q.retake_turn()
                    continue
                if not calls:
                    self._answered(q, answer, self._readable(q, answer))
                    break
                records = self._run_calls(q, calls)
                refused = records[-1] if records[-1].status == "refused" else None
                if refused and refused.refusal == "missing" and not self.wanted_before_asking(q, refused.name):
                    refuse_unrelated(refused)
                if refused and refused.refusal == "unrelated":
                    # The model reads its own check instead of the call and answers or picks another
                    # tool; it answers at once when it insists on that tool or none is left.
                    insisted = refused.name in q.shown
                    q.shown.add(refused.name)
                    q.scratchpad = q.turn_start if insisted else q.turn_start + q.judged[refused.name]
                    q.trace[-1] = q.judged[refused.name].strip()
                    if insisted and (chosen := self._another_tool(q)):
                        q.chosen = chosen
                        q.retake_turn()
                        continue
                    if insisted or all(q.judged.get(name) for name in self.toolbox.tools):
                        answer = self._continue(q, f"{q.scratchpad}{react.FINAL_ANSWER} ", stop=react.STOPS).strip()
                        q.trace.append(react.final_answer(answer))
                        self._answered(q, answer, self._readable(q, answer))
                        break
                    continue
                if refused:
                    q.ask_for_missing(refused, functools.partial(self.names.get, functools.partial(self._chat_aside, q)),
                                      earlier=None if self.function_calling else q.trace[:-1])
                    break
                self._add_observations(q, calls[:len(records)], records)
            else:
                q.at_turn_limit()
        return q.result

    def _another_tool(self, q: _Question) -> str | None:
        """When the model insists on a tool found unrelated: the tool it picks, under a grammar,
        from those not yet judged, or None when it picks "none" (or none is left). Free, the bundled
        1.5B reached for a train ticket search twice for "Get me 2 tickets for 'Dune: Part Three'
        at Cinemark Downtown", next to a movie ticket tool described in Chinese, and then asked the
        user where the train went (bench/README.md, "A fourth suite, written unseen")."""
        others = [name for name in self.toolbox.tools if name not in q.judged]
        if self.function_calling or not others:
            return None
        name = self._choose(q, f"{q.scratchpad}{react.ACTION} ", [*others, "none"], "none")
        return name if name in others else None

    def _answered(self, q: _Question, said: str, answer: str) -> None:
        """The question ends in `answer` (the model's, or its answer asked again for one it `said`
        that was none); memory keeps what the user read where the agent's own words replace the
        model's (a dry run's account, "cannot"), so the next question does not start from a result
        the model made up ("The TV volume was set to 30.")."""
        q.answered(answer, "")  # function calling: memory keeps the answer itself
        if not self.function_calling:
            if q.result.answer != said and q.trace:
                q.trace[-1] = react.final_answer(q.result.answer)
            q.result.trace = "\n".join(q.trace)

    def _readable(self, q: _Question, answer: str) -> str:
        """The model's answer; or, when no tool ran and the answer is empty, writes out a call
        instead of answering or is not in the user's language, its answer to the question asked
        again with no tools in view (kept, for a wrong language, only where it is in the user's).
        After its tool was refused, the bundled 1.5B answered "What does the color purple represent
        in computer vision?" with `psychology_color_representation({"color": "purple", …})`, "Who
        won the game of Monopoly last night?" with nothing (bench/README.md, "Answers that are no
        answer"), and "家里一个月用三百度电算多吗？", next to tools described in Chinese, in English."""
        records = q.result.tool_calls
        unanswered = no_answer(answer, records, self.toolbox.names())
        if not unanswered and (written_in(answer, q.language) or any(r.executed for r in records)
                               or echoes_an_error(answer, records)):  # the agent says it cannot, in the user's language
            return answer
        plain = [{"role": "system", "content": self.agent.instruction}, *q.messages[1:q.asked]]
        with self._aside():
            again = self._chat(q, plain, stream=True).content.strip()
        return again if unanswered or written_in(again, q.language) else answer

    # --- one LLM request ------------------------------------------------------------------

    def _chat(self, q: _Question, messages: list[dict], stream: bool = False, **kwargs: Any) -> Reply:
        # After a dry-run call the model's words are not what the user reads (user_answer): not shown
        # while written either, where they would flash "The TV volume was set to 30." on the screen.
        shown = stream and self.events.streams and not would_have_run(q.result.tool_calls)
        # A reply that may run long is read as a stream, shown or not: where the model falls into a
        # loop, the stream is stopped (llm.py, repetition.py) instead of waiting for max_tokens.
        long = not kwargs.get("top_logprobs") and (kwargs.get("max_tokens") or self.llm.config.max_tokens) > SHORT
        on_text = self.events.on_text if shown else _unseen if long else None
        with q.llm_request() as add_usage:
            reply = self.llm.chat(messages, on_text=on_text, **kwargs)
            add_usage(reply.prompt_tokens, reply.completion_tokens)
        return reply

    def _continue(self, q: _Question, prefix: str, schema: dict | None = None, stream: bool = False,
                  stop: list[str] | None = None, history: list[dict] | None = None,
                  max_tokens: int | None = None) -> str:
        """What the model writes after `prefix` in its assistant message, optionally under a schema
        (`history`: other messages before it than the question's)."""
        return self._continue_reply(q, prefix, schema, stream, stop, history, max_tokens).content

    def _continue_reply(self, q: _Question, prefix: str, schema: dict | None = None, stream: bool = False,
                        stop: list[str] | None = None, history: list[dict] | None = None,
                        max_tokens: int | None = None, logprobs: bool = False, top_logprobs: int | None = None) -> Reply:
        """`_continue`'s whole reply, with how likely each of its tokens was when `logprobs` (and
        the server sends them), and the likeliest first tokens when `top_logprobs`."""
        messages = q.messages if history is None else history
        logprobs = (logprobs or bool(top_logprobs)) and self.token_probabilities
        if self.constraint is None:
            schema = None  # the server rejected grammars earlier: never send one again
        kwargs: dict[str, Any] = {}
        if prefix:
            kwargs = (self.constraint or self.prefill).params(schema)
            messages = [*messages, {"role": "assistant", "content": prefix}]
        if stop:
            kwargs["stop"] = stop
        if max_tokens:
            kwargs["max_tokens"] = max_tokens
        try:
            reply = self._chat(q, messages, stream=stream, logprobs=logprobs,
                               top_logprobs=top_logprobs if logprobs else None, **kwargs)
        except EndpointHTTPError as e:
            if e.status != 400:
                raise
            if logprobs:  # asked once more without them; accepted, the server is not asked for them again
                reply = self._continue_reply(q, prefix, schema, stream, stop, history, max_tokens)
                self.token_probabilities = False
                return reply
            if schema is None:
                raise
            # A server that rejects the grammar (llama.cpp built without llguidance): go on unconstrained.
            self.constraint = None
            return self._continue_reply(q, prefix, stream=stream, stop=stop or react.STOPS, history=history)
        if reply.content.startswith(prefix):
            reply.content = reply.content[len(prefix):]  # llama.cpp echoes the prefill
        return reply

    # --- ReAct ----------------------------------------------------------------------------

    def _react_turn(self, q: _Question) -> tuple[list[ParsedCall], str]:
        """The model's next step. When a tool may still need its relevance check, the reply stops
        where the arguments go: the check is asked then, before the arguments are written, so the
        server's cache still holds the reply when it continues (a check asked after them would make
        it evaluate the call again), and a tool found unrelated never gets arguments written. A
        reply the model wrote with near certainty needs no check (`SURE`)."""
        q.turn_start = q.scratchpad
        judging = self._checks_relevance() and any(name not in q.judged for name in self.toolbox.tools)
        if q.chosen:
            reply, q.chosen = Reply(content=f"{react.ACTION} {q.chosen}\n"), None
            if self.events.streams:
                self.events.on_text(reply.content)
        else:
            reply = self._continue_reply(q, q.scratchpad, stream=True, logprobs=judging,
                                         stop=[*react.STOPS, react.ACTION_INPUT] if judging else react.STOPS)
        text = reply.content
        if judging and (name := react.pending_action(text)):
            if (tool := self.toolbox.get(name)) is not None:
                if _certainty(reply) >= SURE:
                    q.judged.setdefault(tool.name, "")
                if not self.serves_request(q, tool):
                    return self._step(q, text)  # refused as unrelated when it is run
            if self.events.streams:
                self.events.on_text(react.ACTION_INPUT)  # the stop word the server left out
            text += react.ACTION_INPUT + self._continue(q, q.scratchpad + text + react.ACTION_INPUT,
                                                        stream=True, stop=react.STOPS)
        if self.constraint:
            text = self._complete_constrained(q, text)
        return self._step(q, text)

    def _step(self, q: _Question, text: str) -> tuple[list[ParsedCall], str]:
        """The reply's calls or answer; the reply becomes a step of the scratchpad."""
        parsed = parse_reply(text)
        q.scratchpad += text.strip() + "\n"
        q.trace.append(text.strip())
        return parsed.calls, parsed.answer

    def _complete_constrained(self, q: _Question, text: str) -> str:
        """Make a free reply's call valid: arguments that are missing, broken or do not fit the
        named tool's schema are written again under that schema; a reply with nothing in it (small
        models jump straight to an imagined Observation) gets its choice of tool asked for.
        Free arguments that already fit are kept: under a grammar the bundled 1.5B model fills
        optional keys it would rightly leave out (measured in bench/: 71 % vs 76 % correct)."""
        if not text.strip():
            name = self._choose(q, f"{q.scratchpad}{react.ACTION} ", [*self.toolbox.names(), "none"], "none")
            if name not in self.toolbox.tools:
                answer = self._continue(q, f"{q.scratchpad}{react.ANSWER} ", stop=react.STOPS)
                return f"{react.ANSWER} {answer.strip()}"
            text = f"{react.ACTION} {name}\n"
        parsed = parse_reply(text)
        call = parsed.calls[-1] if parsed.calls else None
        tool = self.toolbox.get(call.name) if call else None
        if tool is None or _fits(tool, call):  # an answer, a valid call, or an unknown tool to report
            return text
        head = text[:react.last_action_start(text)].rstrip()
        step = f"{head}\n{react.action_step(tool.name)}".lstrip()
        return step + self._continue(q, q.scratchpad + step, arguments_schema(tool.parameters)).strip()

    def confirm_choice(self, q: _Question, tool: str, name: str, value: Any, spec: dict,
                       arguments: dict[str, Any] | None = None) -> bool:
        """Whether the model, asked afresh from the conversation, names `value` as the option the
        user asked for. Each question is a short request on the cached prompt (on a server that
        continues a prefill; elsewhere an option not found as written is not given):
        - for a required option, first the user's own words for it, chosen from the phrases they
          said, or "not said" (`_users_words`). Asked only which option, with the options in
          view, the bundled 1.5B names the one it would pick for "把温度调到22度" ("living room")
          or "交85块钱的账单" ("电费"); asked for words the user said, it answers "not said"
          (bench/README.md, "Options the user did not name");
        - the options listed (and those words), up to 8 tokens of free text, the option named
          counts (a reply that names several, "front/back/all", repeats the list: it names none).
          Free text, not a grammar: under one the bundled 1.5B picked "kids room" for "Set the
          bedroom to 21.5 degrees" (bench/README.md, "Which option the user named"). The first
          option does not count: it is what the 1.5B names when the user named none (`2D` for
          a film's format, `checkup` for "She's due for her shots", `debit` for "my credit card";
          bench/README.md, "The first option, named by default");
        - unless that says "not said": the option the user's own words name (for an optional
          option, quoted in free text, `_quoted_words`), by spelling or as the model reads them
          under a grammar over the options. With the options in another language than the
          question, the 1.5B answers the way before with the first option ("二等座" for
          "business-class", "电费" for "water bill");
        - words that name nothing of the option (only the tool, another parameter or another of
          the call's `arguments`: "account" in "Pay 120 yuan on account 0101 3386 2290") count as
          "not said" (`names_nothing_of`): made to quote a phrase, the 1.5B quotes one of those.
        An optional flag switched on that the user's words do not touch as the tool writes it is
        looked for by its Chinese name instead (`Question.flag_said`). One left off is kept where
        the model quotes the user's own words for it, in free text, and they are words the user said:
        "black and white" for `color` (彩色打印); it wrote "not said" for `automatic` (a manual car)
        where the user named only the car's class (bench/README.md, "Flags left off")."""
        if value is True:  # an optional flag switched on: a plain request, on any server
            return q.flag_said(self.toolbox.get(tool), name, spec, self.names, functools.partial(self._chat_aside, q))
        if not self.prefill:
            return value is False  # the questions below continue the conversation's prompt
        described = f"{name} ({d})" if (d := str(spec.get("description") or "").strip()) else name
        thought = f"Thought: {tool} takes {described}."
        parameters = self.toolbox.get(tool).parameters
        others = [tool, *(p for p in parameters.get("properties", {}) if p != name),
                  *(str(v) for k, v in (arguments or {}).items() if k != name)]
        if value is False:  # an optional flag left off: kept where the user has words for it ("black and white")
            with Stopwatch(q.result.timings, "checks_s"), self._aside():
                return self._quoted_words(q, thought, [True, False], others, again=False) is not None
        listed = (f"Thought: {tool} takes {described}, one of {', '.join(map(str, spec['enum']))}, "
                  f'or "{NOT_SAID}" if the user did not say.')
        required = name in parameters.get("required", [])
        with Stopwatch(q.result.timings, "checks_s"), self._aside():
            words = self._users_words(q, thought, spec["enum"], others) if required else ""
            if words is None:
                return False  # a required option the user never named: the model's own pick
            said = f'The user said "{words}", so the' if words else "The"
            reply = self._continue(q, f"{listed} {said} user asked for {name}: ", stop=[". ", "\n", "。"],
                                   max_tokens=8, history=q.messages[:q.asked])
            named = options_named(reply, spec["enum"])
            if named == [value] and value != spec["enum"][0]:
                return True  # the first option is what the model names when the user named none
            if not named and NOT_SAID in reply.casefold():
                return False  # with the options in view the model says the user named none
            words = words or self._quoted_words(q, thought, spec["enum"], others)
            return words is not None and self._option_named_by(q, thought, words, spec["enum"]) == value

    def _chat_aside(self, q: _Question, messages: list[dict], **kwargs: Any) -> Reply:
        """A request that leaves the question's prompt, its state kept meanwhile (`_aside`): a name
        put into Chinese (translation.py), after which the question goes on from its prompt."""
        with self._aside():
            return self._chat(q, messages, **kwargs)

    def _aside(self) -> contextlib.AbstractContextManager[prompt_cache.SavedSlot | None]:
        """For requests that leave the question's prompt (checks), which would make the server
        evaluate the question's last tokens again afterwards: its state kept on disk meanwhile,
        where the server can save it."""
        return prompt_cache.SavedSlot(self.slot_server, self._kept_file) if self.slot_server else contextlib.nullcontext()

    def _users_words(self, q: _Question, thought: str, options: list[Any], others: list[str]) -> str | None:
        """The user's own words for an option as the model quotes them, chosen under a grammar from
        the phrases of what was said (`phrases`); None when it says "not said" or they name only
        `others` of the call (`names_nothing_of`). Free, the 1.5B puts the words in the options'
        language ("living room" for "客厅"), so they could not be told apart from words it made up."""
        said = phrases(q.evidence)
        words = self._choose(q, f'{thought} {OWN_WORDS}', [NOT_SAID, *said], NOT_SAID, history=q.messages[:q.asked])
        return words if words in said and not names_nothing_of(words, options, others) else None

    def _quoted_words(self, q: _Question, thought: str, options: list[Any], others: list[str],
                      again: bool = True) -> str | None:
        """The user's own words for an optional option as the model quotes them in free text, when
        they are found in what was said and name more than `others` of the call. Free, a close
        paraphrase still counts ("business class" for "business-class"); under the grammar of
        `_users_words` the 1.5B quoted "class", and an optional option it cannot read is dropped
        from the call (bench/README.md, "Options the user did not name"). Words it quotes that the
        user did not say ("all" for "the whole garden") are asked for `again`, from what was said."""
        words = self._continue(q, f'{thought} {OWN_WORDS}"', stop=['"', "\n"], max_tokens=12,
                               history=q.messages[:q.asked]).strip()
        if not words or NOT_SAID in words.casefold():
            return None
        if found(words, {}, q.given()) and not names_nothing_of(words, options, others):
            return words
        return self._users_words(q, thought, options, others) if again else None

    def _option_named_by(self, q: _Question, thought: str, words: str, options: list[Any]) -> Any | None:
        """The option the user's words name: by spelling, or else as the model reads them under a
        grammar over the options; None when it reads none."""
        if (named := first_named(words, options)) is not None:
            return named
        chosen = self._choose(q, f'{thought} {OWN_WORDS}"{words}". Of {", ".join(map(str, options))}, that is: ',
                              [*map(str, options), NOT_SAID], NOT_SAID, history=q.messages[:q.asked])
        return next((o for o in options if str(o) == chosen), None)

    def serves_request(self, q: _Question, tool: Tool) -> bool:
        """Whether the model, asked after the conversation so far, says the tool does what the user
        asked: a short request on the cached prompt, yes against no read from how likely each is. Small
        models reach for the nearest tool (a stock quote for a sum, a velocity for a film); asked
        outright, the bundled 1.5B tells most of them apart (bench/README.md, "relevance")."""
        if tool.name not in q.judged:
            self._judge(q, tool, self._unrelated_check)
        return not q.judged[tool.name]

    def wanted_before_asking(self, q: _Question, name: str) -> bool:
        """Before the user is asked for values a call lacked: whether the model, having put the
        request in its own words, says the tool does what the user wants (`_restated_check`),
        unless it said so already. A tool that passed the first question, or none (`SURE`), is
        asked again here: the bundled 1.5B reaches for a utility bill's payment for "What's 15%
        of 240?" and then asked the user for an account number (bench/README.md, "Asked before
        asking")."""
        tool = self.toolbox.get(name)
        if tool is None or not self._checks_relevance() or name in q.wanted:
            return True
        self._judge(q, tool, self._restated_check)
        return not q.judged[name]

    def _judge(self, q: _Question, tool: Tool, check: Callable[[_Question, Tool], str]) -> None:
        """q.judged[tool] from `check`, asked aside from the question's state (`_aside`)."""
        with Stopwatch(q.result.timings, "checks_s"), self._aside() as saved:
            q.judged[tool.name] = check(q, tool)
            if q.judged[tool.name] and saved:
                saved.drop()  # the question goes on from the check that said no

    def _unrelated_check(self, q: _Question, tool: Tool) -> str:
        """The check as the model continues it when it said no, else "". A "no" is asked again
        after the model has put the request in its own words: the bundled 1.5B says no to a Chinese
        question for a tool described in English (a flight's status for "MU5101 有没有延误"), and
        yes once it has written "The user wants to check the flight status of MU5101". The second
        time a yes must be the clearer answer (bench/README.md, "relevance"): put in its own words,
        a near miss (sunrise for "when is sunset") looks like a match to it too. In one language
        too: mcp-server-time's get_current_time got 0.48 for "What time is it in Tokyo right now?"
        (bench/README.md, "Asked again only across languages (tried, then taken back)")."""
        check = f"Thought: {_does(tool)} Is that what the user asked for? Answer: "
        if self._yes_probability(q, q.turn_start + check) >= YES:
            return ""
        return self._restated_check(q, tool)

    def _restated_check(self, q: _Question, tool: Tool) -> str:
        """The relevance check asked after the model has put the request in its own words, as it
        continues it when the answer is no, else ""."""
        wants = "Thought: The user wants to"
        wants += self._continue(q, q.turn_start + wants, stop=[".", "\n", "。"], max_tokens=32).rstrip(". ")
        check = f"{wants}. {_does(tool)} Is that what the user wants? Answer: "
        if self._yes_probability(q, q.turn_start + check) < YES_AGAIN:
            return check + "no\n"
        q.wanted.add(tool.name)
        return ""

    def _yes_probability(self, q: _Question, prefix: str) -> float:
        """How likely the model's answer after `prefix` is yes rather than no, read from the
        probabilities of its first token (any case); one token of work. From a server that sends
        none, 1 or 0: its choice under a grammar of the two."""
        yes = no = 0.0
        if self.token_probabilities:
            first = self._continue_reply(q, f'{prefix}"', max_tokens=1, top_logprobs=20).first_token
            yes, no = (sum(p for token, p in first.items() if token.strip().casefold() == word)
                       for word in ("yes", "no"))
        if yes + no == 0:
            return float(self._choose(q, prefix, ["yes", "no"], "yes").lower() != "no")
        return yes / (yes + no)

    def _choose(self, q: _Question, prefix: str, options: list[str], default: str,
                history: list[dict] | None = None) -> str:
        """The option the model writes after `prefix` under a grammar that allows only `options`:
        `default` for an empty reply, the text as it is from a server that ignored the grammar."""
        reply = self._continue(q, prefix, {"type": "string", "enum": options}, history=history)
        try:
            return str(loads_lenient(reply)) if reply.strip() else default
        except ValueError:
            return reply.strip().strip("\"'")

    # --- OpenAI function calling ----------------------------------------------------------

    def _fc_turn(self, q: _Question) -> tuple[list[ParsedCall], str]:
        reply = self._chat(q, q.messages, stream=True, tools=self.toolbox.schemas() or None)
        if not reply.tool_calls:
            parsed = parse_reply(reply.content)  # e.g. a ```json {"name", "arguments"}``` block
            q.messages.append({"role": "assistant", "content": reply.content})
            return parsed.calls, parsed.answer
        calls = []
        for i, tc in enumerate(reply.tool_calls):
            tc.id = tc.id or f"call_{i}"
            try:
                calls.append(ParsedCall(tc.name, loads_lenient(tc.arguments or "{}"), id=tc.id))
            except ValueError as e:
                calls.append(ParsedCall(tc.name, tc.arguments, error=f"arguments are not JSON ({e})", id=tc.id))
        # "" rather than None: some servers (api-for-open-llm) answer HTTP 500 to a null content.
        q.messages.append({"role": "assistant", "content": reply.content or "", "tool_calls": [
            {"id": tc.id, "type": "function", "function": {"name": tc.name, "arguments": tc.arguments}}
            for tc in reply.tool_calls]})
        return calls, ""

    # --- tools ----------------------------------------------------------------------------

    def _run_calls(self, q: _Question, calls: list[ParsedCall]) -> list[ToolCallRecord]:
        """The calls of one reply in order, up to one that is refused for a value not given."""
        records = []
        for call in calls:
            records.append(self._run_call(q, call))
            if records[-1].status == "refused":
                break
        return records

    def _checks_relevance(self) -> bool:
        """Whether a tool's first call in a question waits for the model to say the tool serves the
        request: in ReAct mode, on a server that continues a prefill under a grammar."""
        return self.constraint is not None and not self.function_calling

    def _run_call(self, q: _Question, call: ParsedCall) -> ToolCallRecord:
        return q.run_call(call.name, call.arguments, parse_error=call.error,
                          confirm=lambda *a: self.confirm_choice(q, call.name, *a, arguments=call.arguments),
                          serves=(lambda t: self.serves_request(q, t)) if self._checks_relevance() else None)

    def _add_observations(self, q: _Question, calls: list[ParsedCall], records: list[ToolCallRecord]) -> None:
        texts = [react.observation_text(r) for r in records]
        q.trace.append(react.observation_message(texts))
        if all(c.id for c in calls):  # answers to the server's own tool_calls
            q.messages += [{"role": "tool", "tool_call_id": c.id, "content": t} for c, t in zip(calls, texts)]
        elif self.function_calling or not self.prefill:
            if q.scratchpad:  # no prefill: the steps so far become an assistant turn of their own
                q.messages.append({"role": "assistant", "content": q.scratchpad.strip()})
                q.scratchpad = ""
            q.messages.append({"role": "user", "content": react.observation_message(texts)})
        else:
            q.scratchpad += react.observation_message(texts) + "\n"


def _unseen(text: str) -> None:
    """Where a streamed reply that is not shown goes."""


def _does(tool: Tool) -> str:
    return f"{tool.name} does: {tool.description.strip()}"


def _certainty(reply: Reply) -> float:
    """How likely the model found the whole reply as it wrote it; 0 from a server that sent no
    token probabilities."""
    return math.prod(reply.token_probabilities) if reply.token_probabilities else 0.0


def _fits(tool: Tool, call: ParsedCall) -> bool:
    if call.error:
        return False
    try:
        tool.validate(call.arguments)
        return True
    except ToolArgumentError:
        return False
