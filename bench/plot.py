"""`python -m bench plot`: accuracy.png, time_split.png and start.png from the newest results."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .store import RESULTS, latest_with


def accuracy_png(acc: dict[str, Any], path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    suites = list(acc)
    modes = list(dict.fromkeys(m for s in suites for m in acc[s]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [max(len(suites), 1), 1.4]})
    width = 0.8 / max(len(modes), 1)
    ax = axes[0]
    for i, mode in enumerate(modes):
        vals = [acc[s].get(mode, {}).get("score", {}).get("correct_call_rate") or 0 for s in suites]
        bars = ax.bar([x + i * width for x in range(len(suites))], vals, width, label=mode)
        ax.bar_label(bars, labels=[f"{100 * v:.0f}" for v in vals], fontsize=7)
    ax.set_xticks([x + width * (len(modes) - 1) / 2 for x in range(len(suites))], suites)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("correct-call rate")
    ax.set_title("first call matches (cases that need a call)")
    ax.legend(fontsize=8)
    ax = axes[1]  # our suite's no-call cases: missing info and chit-chat
    ours = acc.get("ours", {})
    vals = [ours.get(m, {}).get("score", {}).get("right_no_call_rate") or 0 for m in modes]
    bars = ax.bar(range(len(modes)), vals, color=[f"C{i}" for i in range(len(modes))])
    ax.bar_label(bars, labels=[f"{100 * v:.0f}" for v in vals], fontsize=7)
    ax.set_xticks(range(len(modes)), modes, rotation=20, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_title("ours: right no-call rate")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def time_split_png(speed: dict[str, Any], path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = list(speed["modes"])
    parts = [("model_s", "model (llama.cpp)"), ("agent_s", "agent"), ("tools_s", "tools")]
    fig, ax = plt.subplots(figsize=(8, 1.8 + 0.6 * len(modes)))
    left = [0.0] * len(modes)
    for key, label in parts:
        vals = [speed["modes"][m].get(key) or 0 for m in modes]
        ax.barh(modes, vals, left=left, label=label)
        left = [a + b for a, b in zip(left, vals)]
    raw = [speed["modes"][m].get("replay_wall_s") for m in modes]
    if any(raw):
        ax.scatter([r or 0 for r in raw], modes, marker="|", s=400, color="black", label="raw llama.cpp replay", zorder=3)
    for y, m in enumerate(modes):
        ratio, agent = speed["modes"][m].get("overhead_ratio"), speed["modes"][m].get("agent_s")
        if ratio:
            ax.text(left[y], y, f"  {ratio:.2f}x, agent {1000 * (agent or 0):.0f} ms", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"seconds (median of {speed['repeat']}) for the ECS prompt")
    ax.set_title("where the time goes; label: wall / llama.cpp time")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=4, frameon=False)
    ax.set_xlim(0, max(left + [r or 0 for r in raw]) * 1.35 or 1)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def start_png(startup: dict[str, Any], path: Path) -> Path:
    """The ECS prompt from a fresh CLI process with the embedded server (bench.startup.EMBEDDED_RUNS);
    labels: the ratio to the cold run with the features off."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {name: r["wall_s"] for name, r in startup.get("embedded", {}).items()}
    names, secs = list(runs), list(runs.values())
    fig, ax = plt.subplots(figsize=(8, 1.4 + 0.5 * len(names)))
    ax.barh(names, secs, color=[f"C{i}" for i in range(len(names))])
    for y, v in enumerate(secs):
        ax.text(v, y, f"  {v:.1f} s, {v / secs[0]:.2f}x", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, max(secs) * 1.3)
    ax.set_xlabel("seconds from the command to its answer (ECS prompt)")
    ax.set_title("a fresh command with the embedded server")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot(results_file: Path | None = None, out_dir: Path = RESULTS) -> list[Path]:
    """PNGs from `results_file`, or from the newest results that have each section."""
    out_dir.mkdir(parents=True, exist_ok=True)
    given = json.loads(results_file.read_text(encoding="utf-8")) if results_file else None
    written = []
    for section, name, draw in (("accuracy", "accuracy.png", accuracy_png), ("speed", "time_split.png", time_split_png),
                                ("startup", "start.png", start_png)):
        data = given.get(section) if given else (latest_with(section, out_dir) or (None, {}))[1].get(section)
        if data:
            written.append(draw(data, out_dir / name))
    return written
