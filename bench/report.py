"""Rich tables of a results dict."""
from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

RATES = [("correct_call_rate", "correct"), ("parsable_rate", "parsable"), ("wrong_tool_rate", "wrong tool"),
         ("no_call_when_needed_rate", "no call\n(needed)"), ("call_when_not_needed_rate", "call\n(not needed)"),
         ("right_no_call_rate", "right\nno call"), ("language_rate", "answer\nlanguage")]


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _num(v: Any, fmt: str = "{:.2f}") -> str:
    return "-" if v is None else fmt.format(v)


def accuracy_tables(acc: dict[str, Any]) -> list[Table]:
    tables = []
    for suite, modes in acc.items():
        t = Table(title=f"accuracy: {suite}", title_justify="left")
        t.add_column("mode")
        t.add_column("n", justify="right")
        for _, label in RATES:
            t.add_column(label, justify="right")
        t.add_column("refused\n(need/no)", justify="right")
        t.add_column("internal\ntext", justify="right")
        t.add_column("errors", justify="right")
        t.add_column("s/case", justify="right")
        t.add_column("checks'\ntime (need)", justify="right")
        t.add_column("time vs\nunchecked\n(need)", justify="right")
        for mode, data in modes.items():
            s = data["score"]
            t.add_row(mode, f"{s['n']} ({s['n_need_call']}+{s['n_no_call']})", *(_pct(s[k]) for k, _ in RATES),
                      f"{s['refused_need_call']}/{s['refused_no_call']}", str(s.get("internal_text_count", "-")),
                      str(s["error_count"]),
                      _num(s["wall_s"] / s["n"] if s["n"] else None, "{:.1f}"),
                      _pct(s.get("checks_share_need_call")),
                      _num(s.get("time_vs_unchecked_need_call"), "{:.2f}x"))
        tables.append(t)
        cats = sorted({c for d in modes.values() for c in d["score"]["by_category"]})
        if len(cats) > 1:
            c = Table(title=f"{suite}: handled right, by category", title_justify="left")
            c.add_column("mode")
            for cat in cats:
                c.add_column(cat, justify="right")
            for mode, data in modes.items():
                c.add_row(mode, *(_pct(data["score"]["by_category"].get(cat)) for cat in cats))
            tables.append(c)
    return tables


def speed_tables(speed: dict[str, Any]) -> list[Table]:
    t = Table(title=f"speed: ECS prompt, medians of {speed['repeat']}", title_justify="left")
    for col in ("mode", "correct", "wall s", "model s", "agent s", "tools s", "wall/model", "raw wall s",
                "raw/model", "wall/raw", "vs native", "requests", "prompt tok"):
        t.add_column(col, justify="left" if col == "mode" else "right")
    for mode, s in speed["modes"].items():
        t.add_row(mode, s["correct"], _num(s["wall_s"]), _num(s["model_s"]), _num(s["agent_s"]),
                  _num(s["tools_s"], "{:.3f}"), _num(s["overhead_ratio"], "{:.2f}x"), _num(s.get("replay_wall_s")),
                  _num(s.get("replay_ratio"), "{:.2f}x"), _num(s.get("wall_vs_raw"), "{:.2f}x"),
                  _num(s.get("wall_vs_native"), "{:.2f}x"), _num(s["requests"], "{:g}"),
                  _num(s["prompt_tokens"], "{:g}"))
    tables = [t]
    p = Table(title="prompt economy: per request (medians)", title_justify="left")
    for col in ("mode", "#", "prompt tok", "cached", "evaluated", "prefill ms", "saved ms", "gen tok", "gen ms"):
        p.add_column(col, justify="left" if col == "mode" else "right")
    for mode, s in speed["modes"].items():
        for i, r in enumerate(s["per_request"], 1):
            p.add_row(mode if i == 1 else "", str(i), _num(r["prompt_tokens"], "{:g}"),
                      _num(r["cached_tokens"] if r["cached_tokens"] is not None else r["cache_n"], "{:g}"),
                      _num(r["prompt_n"], "{:g}"), _num(r["prompt_ms"], "{:.0f}"), _num(r["saved_ms"], "{:.0f}"),
                      _num(r["completion_tokens"], "{:g}"), _num(r["predicted_ms"], "{:.0f}"))
    tables.append(p)
    tp = speed["throughput"]
    th = Table(title="model throughput (tokens/s)", title_justify="left")
    for col in ("source", "prompt", "generation"):
        th.add_column(col, justify="left" if col == "source" else "right")
    if tp.get("raw"):
        th.add_row(f"raw llama.cpp ({_num(tp['raw']['prompt_n'], '{:g}')} uncached prompt tok, "
                   f"{_num(tp['raw']['predicted_n'], '{:g}')} gen)",
                   _num(tp["raw"]["prompt_per_second"], "{:.1f}"), _num(tp["raw"]["predicted_per_second"], "{:.1f}"))
    th.add_row("in the agent runs", _num(tp["in_agent"]["prompt_per_second"], "{:.1f}"),
               _num(tp["in_agent"]["predicted_per_second"], "{:.1f}"))
    tables.append(th)
    return tables


def startup_tables(startup: dict[str, Any]) -> list[Table]:
    t = Table(title="start-up: CLI process start to ... (stub endpoint, medians)", title_justify="left")
    for col in ("mode", "first request s", "first chat request s", "exit s", "failures"):
        t.add_column(col, justify="left" if col == "mode" else "right")
    for mode, s in startup.get("cli", {}).get("modes", {}).items():
        t.add_row(mode, _num(s["first_request_s"]), _num(s["first_chat_s"]), _num(s["exit_s"]), str(s["failures"]))
    cold = startup.get("cold")
    if cold:
        t.caption = (f"cold start, embedded server autostarted (model load included), native: "
                     f"{cold['wall_s']:.1f} s to answer (exit {cold['returncode']}, stopped={cold.get('stopped')})")
    tables = [t]
    if startup.get("warm"):
        w = Table(title="a fresh CLI process to its answer, server already up (medians)", title_justify="left")
        for col in ("mode", "correct", "exit s", "vs native", "failures"):
            w.add_column(col, justify="left" if col == "mode" else "right")
        for mode, s in startup["warm"]["modes"].items():
            w.add_row(mode, s["correct"], _num(s["exit_s"]), f"{s['vs_native']:.2f}x" if s.get("vs_native") else "-",
                      str(s["failures"]))
        tables.append(w)
    if startup.get("embedded"):
        e = Table(title="the ECS prompt with the embedded server: a fresh CLI process to its answer", title_justify="left")
        for col in ("run", "s", "vs cold, features off", "vs server up, features off", "stopped", "calls"):
            e.add_column(col, justify="left" if col in ("run", "calls") else "right")
        for name, r in startup["embedded"].items():
            calls = ", ".join(f"{c['name']} {json.dumps(c['arguments'], ensure_ascii=False)}" for c in r.get("tool_calls", []))
            up = f"{r['vs_server_up']:.2f}x" if "vs_server_up" in r else "-"  # older results lack it
            e.add_row(name, _num(r["wall_s"]), f"{r['vs_off']:.2f}x", up, str(r.get("stopped")), calls or "-")
        tables.append(e)
    return tables


def speculative_table(spec: dict[str, Any]) -> Table:
    t = Table(title="speculative decoding: each variant on a server of its own", title_justify="left")
    for col in ("variant", "ECS s", "vs none", "cases s", "vs none", "tok/s", "drafted", "accepted",
                "same calls"):
        t.add_column(col, justify="left" if col == "variant" else "right")
    for name, r in spec.items():
        t.add_row(name, _num(r["ecs_s"]), f"{r['ecs_vs_none']:.2f}x", _num(r["cases_s"], "{:.1f}"),
                  f"{r['cases_vs_none']:.2f}x", _num(r["gen_tok_s"], "{:.1f}"), str(r["drafted"]),
                  _pct(r["accept_rate"]), r["same_calls"])
    return t


def print_results(results: dict[str, Any], console: Console | None = None) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal:  # piped: wide enough for the tables (rich assumes 80 columns)
            console = Console(width=180)
    tables = []
    if results.get("accuracy"):
        tables += accuracy_tables(results["accuracy"])
    if results.get("speed"):
        tables += speed_tables(results["speed"])
    if results.get("startup"):
        tables += startup_tables(results["startup"])
    if results.get("speculative"):
        tables.append(speculative_table(results["speculative"]))
    for t in tables:
        console.print(t)
