"""python -m bench [run|accuracy|speed|plot] [options]; see bench/README.md."""
from __future__ import annotations

import argparse
import contextlib
import platform
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console

COMMANDS = ("run", "accuracy", "speed", "speculative", "plot")
err = Console(stderr=True, highlight=False)


def cpu_model() -> str:
    """The processor's name: timings are compared only between runs on the same kind of machine."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def speculative_of(api_base: str) -> str | None:
    """The speculative decoding of the server this run started (it changes what a case costs:
    with n-grams the mode run second copies the first); None for a server found running."""
    from localagent.endpoint import embedded_server

    server = embedded_server(api_base)
    return server.server.speculative if server else None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=(
        "Tool-call accuracy (our cases, BFCL simple_python and multiple) and speed (the ECS prompt) "
        "per engine and mode. Commands: run (default: accuracy + speed), accuracy, speed, "
        "speculative (decoding variants, each on a server of its own), plot [RESULTS.json]."))
    p.add_argument("command", nargs="?", default="run", choices=COMMANDS)
    p.add_argument("results", nargs="?", type=Path, help="plot: the results file (default: the newest)")
    p.add_argument("--config", "-c", type=Path, default=None, help="YAML config (default: config/default.yaml)")
    p.add_argument("--engine", "-e", action="append", metavar="MODE", help=(
        "native, native-unconstrained, roleplay, native-fc; comma-separated or repeated "
        "(default: native,native-unconstrained,roleplay)"))
    p.add_argument("--suite", default="all", help=(
        "ours, everyday, errands, chores, bfcl_simple, bfcl_multiple, bfcl_irrelevance (comma-separated) or all"))
    p.add_argument("--limit", type=int, default=None, help="N cases per suite (default: every case)")
    p.add_argument("--seed", type=int, default=0, help="which N cases: a seeded sample (default 0)")
    p.add_argument("--first", action="store_true", help="take the first N cases instead of a sample")
    p.add_argument("--case", action="append", metavar="ID", help="only these case ids (comma-separated or repeated)")
    p.add_argument("--repeat", type=int, default=3, help="speed: runs per mode (default 3)")
    p.add_argument("--name", default=None, help="results file name: bench/results/<date>-<name>.json")
    p.add_argument("--out-dir", type=Path, default=None, help="where results and plots go (default bench/results)")
    p.add_argument("--no-startup", action="store_true", help="speed: skip the CLI start-up runs")
    p.add_argument("--no-cold", action="store_true", help="speed: skip the cold start (embedded server autostart)")
    p.add_argument("--no-replay", action="store_true", help="speed: skip the bare-client replay")
    p.add_argument("--per-suite", type=int, default=8, help="speculative: cases from each of ours and everyday")
    p.add_argument("--quiet", "-q", action="store_true", help="no per-case progress lines")
    return p


def default_config() -> Path:
    return Path(__file__).resolve().parent.parent / "config" / "default.yaml"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from .store import RESULTS

    out_dir = args.out_dir or RESULTS
    if args.command == "plot":
        from .plot import plot

        for path in plot(args.results, out_dir):
            print(path)
        return 0
    from localagent.endpoint import open_endpoint
    from localagent.config import load_config
    from localagent.errors import AgentError

    from .modes import parse_modes
    from .suites import parse_suites

    try:
        modes = parse_modes(args.engine)
        suites = parse_suites(args.suite)
        config_path = args.config or default_config()
        config = load_config(config_path)
    except (ValueError, AgentError) as e:
        err.print(f"[red]error:[/] {e}")
        return 2
    results: dict[str, Any] = {"meta": {
        "started": datetime.now().isoformat(timespec="seconds"), "argv": sys.argv[1:] if argv is None else argv,
        "config": str(config_path), "model": config.llm_config.model, "modes": modes,
        "host": platform.node(), "cpu": cpu_model(), "python": platform.python_version()}}
    started = time.perf_counter()
    try:
        if args.command == "speculative":
            results["speculative"] = speculative(config, args.per_suite, args.quiet)
        else:
            with open_endpoint(config, on_status=lambda s: err.print(f"[dim]{s}[/]")) as api_base:
                results["meta"]["api_base"] = api_base
                results["meta"]["speculative"] = speculative_of(api_base)
                on_endpoint(config, api_base, args, modes, suites, results)
    except AgentError as e:
        err.print(f"[red]error:[/] {e}")
        return 1
    except KeyboardInterrupt:
        err.print("[red]interrupted[/]: nothing saved")
        return 130
    results["meta"]["duration_s"] = round(time.perf_counter() - started, 1)
    from .report import print_results
    from .store import save

    print_results(results)
    name = args.name or (f"{args.command}" + (f"-limit{args.limit}" if args.limit else "-full"))
    path = save(results, name, out_dir)
    err.print(f"results: {path} ({results['meta']['duration_s']:.0f} s)")
    return 0


def on_endpoint(config, api_base: str, args, modes: list[str], suites: list[str], results: dict) -> None:
    """accuracy and speed: against the configured endpoint (started if the config says so)."""
    from .suites import load_suite, sample

    if args.command in ("run", "accuracy"):
        ids = {i.strip() for v in args.case or [] for i in v.split(",") if i.strip()}
        cases = {s: sample([c for c in load_suite(s) if not ids or c["id"] in ids], args.limit,
                           None if args.first else args.seed) for s in suites}
        cases = {s: cs for s, cs in cases.items() if cs}
        results["meta"]["cases"] = {s: [c["id"] for c in cs] for s, cs in cases.items()}
        if len(modes) > 1 and results["meta"]["speculative"] != "none":
            err.print("[yellow]note:[/] the modes' times are comparable only on a server started with "
                      "server.speculative: none (with n-grams the mode run second copies the first)")
        results["accuracy"] = accuracy(config, api_base, cases, modes, args.quiet)
    if args.command in ("run", "speed"):
        results["speed"], results["startup"] = speed(config, api_base, modes, args)


def speculative(config, per_suite: int, quiet: bool) -> dict:
    from .speculative import run_speculative

    def on_variant(name: str, result: dict) -> None:
        if not quiet:
            err.print(f"[dim]speculative[/] {name}: ECS {result['ecs_s']:.1f} s, cases {result['cases_s']:.1f} s, "
                      f"{result['gen_tok_s']} tok/s, accepted {result['accepted']}/{result['drafted']}")

    return run_speculative(config, per_suite, on_variant)


def accuracy(config, api_base: str, cases: dict, modes: list[str], quiet: bool) -> dict:
    from .accuracy import run_accuracy

    total = sum(len(c) for c in cases.values()) * len(modes)
    done = 0

    def on_case(suite: str, mode: str, rec: dict) -> None:
        nonlocal done
        done += 1
        if quiet:
            return
        calls = ", ".join(c["name"] for c in rec["calls"]) or ("refused" if rec["refused"] else "no call")
        err.print(f"[dim]{done}/{total}[/] {suite} {rec['case']['id']} {mode}: {calls} "
                  f"[dim]({rec['wall_s']:.1f} s{', ' + rec['error'] if rec['error'] else ''})[/]",
                  soft_wrap=True)

    return run_accuracy(config, api_base, cases, modes, on_case)


def speed(config, api_base: str, modes: list[str], args) -> tuple[dict, dict]:
    from .speed import run_speed
    from .startup import cli_startup, embedded_runs, warm_cli

    def on_run(run: dict) -> None:
        if not args.quiet:
            err.print(f"[dim]speed[/] {run['mode']}: {run['wall_s']:.1f} s wall, model "
                      f"{run['model_s'] if run['model_s'] is not None else '-'} s, correct={run['correct']}")

    result = run_speed(config, api_base, modes, args.repeat, do_replay=not args.no_replay, on_run=on_run)
    startup: dict[str, Any] = {}
    if not args.no_startup:
        startup["cli"] = cli_startup(config, modes, args.repeat)
        err.print("[dim]fresh CLI processes answering the ECS prompt, server up[/]")
        startup["warm"] = warm_cli(config, api_base, modes, args.repeat)
    if not args.no_cold:
        err.print("[dim]the CLI with the embedded server: cold, with the prompt cache, kept[/]")
        startup["embedded"] = embedded_runs(config)
        startup["cold"] = next(iter(startup["embedded"].values()))
    return result, startup


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
