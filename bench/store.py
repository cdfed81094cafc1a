"""Results files: bench/results/<date>-<name>.json."""
from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def save(results: dict[str, Any], name: str, directory: Path = RESULTS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "bench"
    path = directory / f"{datetime.now():%Y-%m-%d-%H%M%S}-{safe}.json"
    path.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def latest_with(section: str, directory: Path = RESULTS) -> tuple[Path, dict] | None:
    """The newest results file that has `section` ("accuracy" or "speed")."""
    for path in sorted(directory.glob("*.json"), reverse=True):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        if data.get(section):
            return path, data
    return None
