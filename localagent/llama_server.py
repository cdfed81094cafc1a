"""Run llama.cpp's own server (from the xllamacpp wheel) in this process until it is told to stop.

`python -m localagent.llama_server --model M.gguf --port 8012` is what the CLI spawns for the
embedded default and what `llamacpp/serve` runs in the foreground.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from .config import SPECULATIVE_SIZES


def serve(model: str, host: str, port: int, threads: int, ctx_size: int, alias: str | None,
          keep_alive: float = 0, state: str | None = None, slot_save_path: str | None = None,
          speculative: str = "ngram-mod", spec_params: dict[str, int] | None = None,
          draft_model: str | None = None) -> None:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = model
    params.hostnames = [host]
    params.port = port
    params.n_ctx = ctx_size
    params.use_jinja = True  # the model's own chat template, tools included
    params.cache_prompt = True  # turn 2 reuses turn 1's KV cache: prefill only the new tokens
    # Explicit threads: llama.cpp's default is half the cores.
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    if alias:
        params.model_alias = alias
    if slot_save_path:  # /slots/0?action=save|restore: a prompt's KV state in files there
        params.slot_save_path = os.path.join(slot_save_path, "")  # llama.cpp appends the file name as is
        params.endpoint_slots = True
    if speculative != "none":
        speculate(params, speculative, spec_params or {}, draft_model, threads)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = xllamacpp.Server(params)  # loads the model, then serves on its own threads
    print(f"llama.cpp server ready on http://{host}:{port}/v1", flush=True)
    if state and keep_alive > 0:  # kept by the CLI: exit by itself once unused for keep_alive
        from pathlib import Path

        from .kept_server import watch_idle

        watch_idle(Path(state), keep_alive, stop)
    stop.wait()
    del server


def speculate(params, kind: str, values: dict[str, int], draft_model: str | None, threads: int) -> None:
    """Speculative decoding: `kind` drafts tokens (n-grams of the context, or a small draft model)
    that the model then verifies in one batch; `values` set that kind's sizes by name."""
    import xllamacpp

    spec = params.speculative
    name = "DRAFT_SIMPLE" if kind == "draft" else kind.upper().replace("-", "_")
    spec.types = [getattr(xllamacpp.common_speculative_type, "COMMON_SPECULATIVE_TYPE_" + name)]
    section = getattr(spec, "draft" if kind == "draft" else kind.replace("-", "_"))
    for name, value in values.items():
        setattr(section, name, value)
    if kind == "draft":
        section.mparams.path = draft_model
        section.cpuparams.n_threads = threads
        section.cpuparams_batch.n_threads = threads


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="llama_server", description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF file (default: the bundled Qwen2.5-Coder-1.5B, qwen2.5-coder-1.5b)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8012)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--ctx-size", type=int, default=4096)
    parser.add_argument("--alias", default=None, help="model id reported by /v1/models")
    parser.add_argument("--keep-alive", type=float, default=0,
                        help="with --state: exit after this many seconds without a command using the server")
    parser.add_argument("--state", default=None, help="the kept server's state file (written by the CLI)")
    parser.add_argument("--slot-save-path", default=None, help="directory for /slots save and restore")
    parser.add_argument("--speculative", choices=list(SPECULATIVE_SIZES), default="ngram-mod",
                        help="speculative decoding (default ngram-mod: measured fastest here, bench/README.md)")
    parser.add_argument("--spec", action="append", default=[], metavar="NAME=N",
                        help="a size of the --speculative kind, e.g. size_n=3 (repeatable)")
    parser.add_argument("--draft-model", default=None, help="GGUF of the draft model for --speculative draft")
    args = parser.parse_args(argv)
    from .errors import AgentError
    from .weights import bundled_model_path, check_gguf
    from pathlib import Path

    try:
        model = Path(args.model) if args.model else bundled_model_path()
        check_gguf(model)
    except AgentError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    serve(str(model), args.host, args.port, args.threads, args.ctx_size, args.alias, args.keep_alive, args.state,
          args.slot_save_path, args.speculative,
          {k: int(v) for k, v in (item.split("=", 1) for item in args.spec)}, args.draft_model)


if __name__ == "__main__":
    main()
