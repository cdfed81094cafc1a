"""Files written whole (replaced.py): on real files in a temporary directory."""
from __future__ import annotations

import pytest

from localagent.replaced import replaced


def test_the_new_content_replaces_the_old_whole(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("old", encoding="utf-8")
    with replaced(path) as file:
        file.write("新的")
        assert path.read_text(encoding="utf-8") == "old"  # a reader meanwhile sees the old content
    assert path.read_text(encoding="utf-8") == "新的" and [p.name for p in tmp_path.iterdir()] == ["state.json"]


@pytest.mark.parametrize("durable", [False, True])
def test_an_error_while_writing_leaves_the_old_file_and_nothing_else(tmp_path, durable):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"old")
    with pytest.raises(ValueError), replaced(path, "wb", durable=durable) as file:
        file.write(b"half of it")
        raise ValueError("the parts do not add up")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.gguf"]


def test_a_directory_that_cannot_be_written_raises_and_leaves_nothing(tmp_path):
    (tmp_path / "blocked").write_text("")
    with pytest.raises(OSError), replaced(tmp_path / "blocked" / "names.json") as file:
        file.write("{}")
    assert [p.name for p in tmp_path.iterdir()] == ["blocked"]
