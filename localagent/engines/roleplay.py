"""The roleplay engine: modelscope-agent 0.7.2's RolePlay, with the fixes a local model needs.

Each fix is an override in a subclass, marked `fix:`. Tool calls go through the native engine's
CallRunner, so validation, grounding, the loop guard, approval and dry-run behave the same.
modelscope_agent is imported on first use: the import takes seconds.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import io
import json
import os
from datetime import date
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx

from ..config import AgentConfig
from ..errors import AgentError
from ..endpoint import (Endpoint, ToolCallDelta, add_tool_call_delta, endpoint_error, openai_client, redactor,
                        stream_cut_off, stream_failure)
from .. import react
from ..lenient_json import loads_lenient
from ..llm import LLMClient
from ..parsing import parse_reply
from ..tools import Tool, Toolbox
from ..prompts import dated
from ..repetition import LoopWatch, loop_cut
from ..replies import in_language
from ..translation import Chat, ParameterNames
from .base import Approver, Events, History, RunResult, ToolCallRecord, approve_all
from .execution import would_have_run
from .question import Question

LLM_NAME = "localagent-openai"  # the model_server name our LLM class is registered under


class _TurnLimit(Exception):
    """The LLM was asked for one turn more than agent.max_turns allows."""


class _AskUser(Exception):
    """A call was refused for values the user did not give: the agent asks for them itself."""

    def __init__(self, record: ToolCallRecord):
        self.record = record


@dataclass
class _State(Question):
    """One question, with what RolePlay's LLM and tools share while it is answered."""

    reply: str = ""  # the text of the latest LLM reply, a loop cut from it (repetition.py)
    written: str = ""  # the same as the model wrote it
    pending: dict | None = field(default=None, repr=False)  # function calling: the calls awaiting their results
    observations: list[str] = field(default_factory=list)  # one per call of the latest reply
    called_in: int = 0  # the turn whose reply last called a tool
    names: ParameterNames = field(default_factory=ParameterNames)  # the engine's, kept across questions
    chat: Chat | None = None  # the model, for parameters' names in the user's language

    def start_turn(self) -> None:
        if not self.next_turn():
            raise _TurnLimit

    def call_tool(self, name: str, arguments: Any) -> str:
        parse_error = None
        if isinstance(arguments, str):
            try:
                arguments = loads_lenient(arguments)
            except ValueError as e:
                parse_error = f"Action Input is not a JSON object ({e})"
        tool = self.toolbox.get(name.strip())
        record = self.run_call(name.strip(), arguments, parse_error=parse_error,
                               confirm=(lambda flag, value, spec: value is False or (
                                   value is True and self.chat is not None
                                   and self.flag_said(tool, flag, spec, self.names, self.chat))))
        if record.status == "refused":
            raise _AskUser(record)
        self.called_in = self.result.turns
        text = react.observation_text(record)
        self.observations.append(text)
        return text


# --- the overrides; combined with the modelscope_agent classes in _modelscope() -----------------

class _LLMFixes:
    """On top of modelscope_agent.llm.openai.OpenAi."""

    def __init__(self, model: str, model_server: str, *, api_base: str, api_key: str, timeout: float,
                 max_retries: int, generate_cfg: dict | None = None, **kwargs: Any):
        # fix: the package logs the key it is given, so it only ever sees a placeholder
        super().__init__(model, model_server, api_base=api_base, api_key="EMPTY", **kwargs)
        # fix: its client has no timeout; openai's max_retries is the only retry layer (see chat)
        self.client = openai_client(api_base, api_key, timeout, max_retries)
        self.endpoint, self.timeout = api_base.rstrip("/"), timeout
        self.generate_cfg = generate_cfg or {}
        self.state: _State | None = None  # set by the engine for each question
        self.stopped_at: int | None = None  # where the latest reply's stream was stopped at a loop (LoopWatch)

    def chat(self, prompt=None, messages=None, stop=None, stream=True, **kwargs):
        # fix: no @retry(3) here; the package's wraps another @retry(3) around openai's own
        # retries (27 requests for one HTTP 500). Also counts the turn: at most agent.max_turns.
        # Always a stream (the engine makes RolePlay with stream=True): a loop stops it.
        self.state.start_turn()
        kwargs = self._create_kwargs(kwargs)
        return self._reply(self._parsed(self._chat_stream(messages, stop=stop, **kwargs)))

    def _parsed(self, chunks):
        # fix: RolePlay finds calls with a one-line regex (`Action Input: (.+)`), so arguments written
        # over several lines reached the tool cut at the first line break; our parser reads the
        # reply (multi-line, fenced, JSON5, several calls) and RolePlay gets the calls as a message.
        text = ""
        for chunk in chunks:
            text += chunk
            yield chunk
        calls = parse_reply(text).calls
        if calls:
            yield {"content": text, "tool_calls": [{"type": "function", "function": {
                "name": c.name, "arguments": c.arguments if isinstance(c.arguments, str)
                else json.dumps(c.arguments, ensure_ascii=False)}} for c in calls]}

    def chat_with_functions(self, messages, functions=None, stream=True, **kwargs):
        # fix: the package's version sends `callbacks` to openai and returns a message object that
        # RolePlay cannot read: this yields the text, then the message as the dict RolePlay expects.
        self.state.start_turn()
        self._answer_pending_call(messages)
        params = {"model": self.model, "messages": messages, **self._create_kwargs(kwargs)}
        if functions:
            params["tools"] = [{"type": "function", "function": f} for f in functions]
        return self._reply(self._fc_stream(params))  # always a stream, as chat

    def _create_kwargs(self, kwargs: dict) -> dict:
        # fix: RolePlay passes its own kwargs (callbacks, uuid_str, append_files, ...) on to openai
        return {**self.generate_cfg, **{k: v for k, v in kwargs.items() if k in _create_params()}}

    def _reply(self, chunks):
        """Streams text to events.on_text and accounts time and tokens; a dict (a message) ends it."""
        state, text, message = self.state, "", None
        self.last_call_usage_info, self.stopped_at = {}, None
        # After a dry-run call the model's words are not what the user reads (user_answer): not
        # shown while written either, as in the native engine.
        shown = state.events.streams and not would_have_run(state.result.tool_calls)
        with state.llm_request() as add_usage:
            for chunk in chunks:
                if isinstance(chunk, dict):
                    message = chunk
                    break
                text += chunk
                if shown:
                    state.events.on_text(chunk)
                yield chunk
            usage = self.last_call_usage_info or {}
            add_usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
        cut = loop_cut(text)  # a loop's rounds after the first are no part of the answer
        if cut is None:
            cut = self.stopped_at  # counting, stopped after its last whole round
        state.reply, state.written = (text if cut is None else text[:cut]), text
        if message is not None:
            yield message  # RolePlay stops reading here

    # fix: the package reads usage with pydantic v1's .dict() (a deprecation warning per call) and
    # fails on a reply without usage
    # fix: a stream that broke off was taken as the whole reply, and a failure midway surfaced as
    # a bare httpx error: both are an IncompleteReply with the text so far, as in llm.py
    # fix: a reply that falls into a loop ran on to max_tokens; the stream now stops where the loop
    # shows, as in llm.py
    def stat_last_call_token_info_stream(self, response):
        text, events, finished = LoopWatch(), 0, False
        try:
            for chunk in response:
                events += 1
                if chunk.usage:
                    self.last_call_usage_info = chunk.usage.model_dump()
                cut = None
                if chunk.choices:
                    finished = finished or bool(chunk.choices[0].finish_reason)
                    cut = text.add(chunk.choices[0].delta.content or "")
                yield chunk
                if cut is not None:
                    self.stopped_at = cut
                    response.close()  # the server stops writing; _reply cuts the text
                    return
        except (httpx.HTTPError, ValueError) as e:
            raise stream_failure(e, self.endpoint, self.timeout, response.response, text.text()) from None
        if not finished:
            raise stream_cut_off(self.endpoint, response.response, events, text.text())

    def _fc_stream(self, params: dict):
        text, calls, written = "", [], {}
        response = self.client.chat.completions.create(**params, stream=True, stream_options={"include_usage": True})
        chunks = self.stat_last_call_token_info_stream(response)
        for chunk in chunks:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            if delta.content:
                text += delta.content
                yield delta.content
            # fix (ours, as in llm.py): arguments that fall into a loop stop the stream
            if any([add_tool_call_delta(calls, part, written) for part in delta.tool_calls or []]):
                chunks.close()
                response.close()  # the server stops writing
                break
        yield self._message(text, calls)

    def _message(self, text: str | None, deltas: list[ToolCallDelta]) -> dict:
        """The reply as RolePlay's _detect_tool reads it; _RolePlayFixes._call_tool runs every call."""
        calls = [{"id": c.id or f"call_{i}", "type": "function",
                  "function": {"name": c.name, "arguments": c.arguments or "{}"}} for i, c in enumerate(deltas)]
        self.state.pending = {"role": "assistant", "content": text or "", "tool_calls": calls} if calls else None
        return {"content": text or "", "tool_calls": calls}

    def _answer_pending_call(self, messages: list[dict]) -> None:
        # fix: RolePlay appends {'role': 'tool'} with neither the assistant message that made the
        # call nor a tool_call_id; servers with tool-call templates reject that.
        # fix: RolePlay appends one tool message for all the calls of a reply: one per call instead.
        pending, self.state.pending = self.state.pending, None
        if pending and messages[-1]["role"] == "tool" and "tool_call_id" not in messages[-1]:
            calls, texts = pending["tool_calls"], self.state.observations
            if len(texts) != len(calls):
                texts = [messages[-1]["content"]] * len(calls)
            messages[-1:] = [pending, *({"role": "tool", "tool_call_id": c["id"], "content": t}
                                        for c, t in zip(calls, texts))]


class _ToolFixes:
    """A localagent Tool as a modelscope_agent BaseTool whose call goes through the CallRunner."""

    def __init__(self, tool: Tool, state: _State):
        self.name, self.description, self.state = tool.name, tool.description, state
        required = set(tool.parameters.get("required", []))
        self.parameters = [{"name": k, "type": s.get("type", "string"), "description": s.get("description", ""),
                            "required": k in required, **({"enum": s["enum"]} if "enum" in s else {})}
                           for k, s in tool.parameters.get("properties", {}).items()]
        super().__init__()
        self.function = tool.openai_schema()["function"]  # the full JSON Schema, nested types and all
        self.function_plain_text = self._parser_function()

    def call(self, params: str, **kwargs: Any) -> str:
        return self.state.call_tool(self.name, params)


class _RolePlayFixes:
    """On top of modelscope_agent.agents.role_play.RolePlay."""

    def __init__(self, tools: list, state: _State, **kwargs: Any):
        super().__init__(**kwargs)
        # fix: 0.7.2 takes tools only by name from its global TOOL_REGISTRY; ours are instances
        self.function_map = {t.name: t for t in tools}
        self.function_list = list(self.function_map)
        self.state = state

    def _call_tool(self, tool_list: list, **kwargs: Any) -> str:
        # fix: the package catches BaseException (Ctrl-C at the approval prompt too) and prints a
        # traceback; an unknown or misspelt name now gets the runner's "unknown tool" observation.
        # fix: it ran only tool_list[0]; the other calls of the reply vanished unreported.
        self.state.observations = []
        texts = []
        for item in tool_list:
            name, arguments = item["name"], item["arguments"]
            tool = self.function_map.get(name.strip())
            texts.append(tool.call(arguments) if tool else self.state.call_tool(name, arguments))
        return "\n".join(texts)


@functools.cache
def _modelscope() -> SimpleNamespace:
    """Import modelscope_agent once, quietly and outside the cwd, and build the fixed classes."""
    # fix: at INFO it logs every message (and the key it is given); LOG_ENABLE_FILE writes ./logs/*.log
    os.environ.update(LOG_LEVEL="WARNING", LOG_ENABLE_FILE="off")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")  # no "PyTorch was not found" line
    import platformdirs

    cache = platformdirs.user_cache_dir("localagent")
    os.makedirs(cache, exist_ok=True)
    cwd = os.getcwd()
    # fix: the import unzips nltk data into os.getcwd()/tmp/nltk_data (utils/nltk_utils.py) and prints
    # about it: import from inside the cache dir, so the data lands there, with stdout swallowed.
    os.chdir(cache)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import openai
            from modelscope_agent.agents.role_play import RolePlay
            from modelscope_agent.llm.base import register_llm
            from modelscope_agent.llm.openai import OpenAi
            from modelscope_agent.tools.base import BaseTool
    except ImportError as e:
        raise AgentError(f"the roleplay engine needs modelscope-agent==0.7.2 and langchain<1 ({e})") from None
    finally:
        os.chdir(cwd)
    return SimpleNamespace(
        openai=openai,
        LLM=register_llm(LLM_NAME)(type("LocalOpenAi", (_LLMFixes, OpenAi), {})),
        Tool=type("LocalTool", (_ToolFixes, BaseTool), {}),
        RolePlay=type("LocalRolePlay", (_RolePlayFixes, RolePlay), {}),
    )


def _remembered(steps: str, written: str, reply: str, said: str, answer: str) -> str:
    """The steps memory keeps: where the agent's words replace the model's answer (a dry run's
    account, "cannot") or a loop was cut from its reply, the last reply becomes the answer the user
    read, so the next question does not go on from a result the model made up (as in the native
    engine)."""
    if (answer == said and written == reply) or not steps.endswith(written):
        return steps.strip()
    return f"{steps[:len(steps) - len(written)]}{react.final_answer(answer)}".strip()


@functools.cache
def _create_params() -> frozenset[str]:
    """The keyword arguments chat.completions.create accepts, less those the package sets itself."""
    from openai.resources.chat.completions import Completions

    return frozenset(inspect.signature(Completions.create).parameters) - {"self", "model", "messages", "stream"}


class RolePlayEngine:
    def __init__(self, endpoint: Endpoint, toolbox: Toolbox, agent: AgentConfig, *,
                 approve: Approver = approve_all, dry_run: bool = False, events: Events | None = None):
        self.llm_config, self.api_base = endpoint.config, endpoint.api_base.rstrip("/")
        self.toolbox, self.agent = toolbox, agent
        self.approve, self.dry_run, self.events = approve, dry_run, events or Events()
        self.ms = _modelscope()
        self.names = ParameterNames()  # kept on disk for a server of ours (factory.py)

    @functools.cached_property
    def _names_llm(self) -> LLMClient:
        """Our own client of the endpoint, for the requests outside RolePlay's loop (a parameter's
        name in the user's language, translation.py)."""
        return LLMClient(self.llm_config, self.api_base)

    def system_prompt(self, today: date | None = None) -> str:
        """The instruction; RolePlay adds its own tool list and format to it."""
        return dated(self.agent.instruction, today or date.today(), self.toolbox)

    def run(self, question: str, history: History | None = None) -> RunResult:
        state = _State.start(question, history, self.toolbox, self.agent, approve=self.approve,
                             dry_run=self.dry_run, events=self.events)
        result, cfg, redact = state.result, self.llm_config, redactor(self.llm_config)
        state.names, state.chat = self.names, self._names_llm.chat
        llm = self.ms.LLM(cfg.model, LLM_NAME, api_base=self.api_base, api_key=cfg.api_key.get_secret_value(),
                          timeout=cfg.timeout, max_retries=cfg.max_retries,
                          generate_cfg={"temperature": cfg.temperature, "max_tokens": cfg.max_tokens},
                          is_chat=True, is_function_call=cfg.is_function_call)
        llm.state = state
        # Replies are read as streams, shown or not (events.on_text only when events stream): where the
        # model falls into a loop, the stream is stopped (repetition.py).
        agent = self.ms.RolePlay([self.ms.Tool(t, state) for t in self.toolbox.tools.values()], state, llm=llm,
                                 instruction=self.system_prompt(state.today), stream=True)
        steps: list[str] = []  # what RolePlay yields in ReAct mode: the model's text and the observations
        with state.ending():
            try:
                # RolePlay changes the messages it is given: copies
                for chunk in agent.run(in_language(question, state.language), history=[dict(m) for m in state.history]):
                    if isinstance(chunk, str):
                        steps.append(chunk)  # the LLM streams the text deltas to events.on_text itself
                if result.tool_calls and state.called_in == result.turns:
                    raise _TurnLimit  # RolePlay's own limit (10 turns) ended it after a call, without an answer
                state.answered(said := react.last_answer(state.reply), "")  # function calling: the answer itself
                if not cfg.is_function_call:
                    result.trace = _remembered("".join(steps), state.written, state.reply, said, result.answer)
            except _AskUser as ask:
                translate = functools.partial(self.names.get, state.chat)
                state.ask_for_missing(ask.record, translate, earlier=None if cfg.is_function_call else ())
            except _TurnLimit:
                state.at_turn_limit()
            except self.ms.openai.OpenAIError as e:
                raise endpoint_error(e, self.api_base, cfg.timeout).redacted(redact) from None
            except AgentError as e:
                raise e.redacted(redact) from None
            except Exception as e:  # a bug in the package must not end the session
                raise AgentError(redact(f"roleplay engine failed: {type(e).__name__}: {e}")) from None
        return result
