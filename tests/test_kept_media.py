"""tests.media.kept: generated test media are made once per content and every caller gets its own copy."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from . import media

made: list[tuple] = []


@media.kept
def _numbers(path: Path, *, count: int = 3, fill: str = "x") -> tuple[Path, int]:
    made.append((count, fill))
    path.write_text(fill * count)
    (path.parent / "scratch.txt").write_text("left beside it: not kept")
    return path, count


@media.kept
def _doubled(src: Path, path: Path) -> Path:
    made.append(("doubled",))
    path.write_bytes(src.read_bytes() * 2)
    return path


@pytest.fixture
def kept_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(media, "KEPT_DIR", tmp_path / "kept")
    made.clear()
    return tmp_path / "kept"


def test_a_content_is_made_once_and_each_caller_gets_a_copy(kept_dir, tmp_path):
    first, n = _numbers(tmp_path / "a.txt", count=4)
    assert (first, n) == (tmp_path / "a.txt", 4) and first.read_text() == "xxxx"
    first.write_text("changed by a test")
    again, _ = _numbers(tmp_path / "b.txt", count=4)
    assert again == tmp_path / "b.txt" and again.read_text() == "xxxx", "a copy, not the file a test changed"
    assert made == [(4, "x")], "made once"
    assert not (tmp_path / "scratch.txt").exists()
    [entry] = [p for p in kept_dir.iterdir() if not p.name.startswith(".")]
    assert sorted(p.name for p in entry.iterdir()) == ["media.txt", "result.pickle"]


def test_defaults_and_keywords_are_one_key_other_arguments_another(kept_dir, tmp_path):
    _numbers(tmp_path / "a.txt")
    _numbers(tmp_path / "b.txt", count=3)
    assert made == [(3, "x")]
    assert _numbers(tmp_path / "c.txt", fill="y")[0].read_text() == "yyy"
    assert _numbers(tmp_path / "d.bin")[0].read_text() == "xxx"  # another suffix: another container, made again
    assert made == [(3, "x"), (3, "y"), (3, "x")]


def test_a_file_argument_is_keyed_by_its_content_not_its_place(kept_dir, tmp_path):
    one, other = tmp_path / "one.txt", tmp_path / "other.txt"
    one.write_text("ab")
    other.write_text("ab")
    assert _doubled(one, tmp_path / "out1.txt").read_text() == "abab"
    assert _doubled(other, tmp_path / "out2.txt").read_text() == "abab"
    assert made == [("doubled",)]
    other.write_text("cd")
    assert _doubled(other, tmp_path / "out3.txt").read_text() == "cdcd"
    assert made == [("doubled",), ("doubled",)]


def _make_in_another_process(kept: str, out: str, queue) -> None:
    media.KEPT_DIR = Path(kept)
    made.clear()
    _numbers(Path(out), count=7)
    queue.put(len(made))


def test_processes_making_the_same_content_at_once_make_it_once(kept_dir, tmp_path):
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [
        context.Process(target=_make_in_another_process, args=(str(kept_dir), str(tmp_path / f"{i}.txt"), queue))
        for i in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert sorted(queue.get(timeout=5) for _ in workers) == [0, 0, 1]
    assert all((tmp_path / f"{i}.txt").read_text() == "x" * 7 for i in range(3))
    assert list((kept_dir / ".tmp").iterdir()) == [], "no half-made entry left"
