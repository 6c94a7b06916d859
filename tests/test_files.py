"""Atomic outputs, and clearing what a killed run left half-written."""

from __future__ import annotations

from pathlib import Path

from media_pipeline.files import atomic_output, remove_temp_outputs


def left_behind(target: Path) -> Path:
    """A temp file under the name atomic_output gives it, as a run killed before the rename leaves it."""
    with atomic_output(target) as tmp:
        tmp.write_bytes(b"done")
    tmp.write_bytes(b"half")
    return tmp


def test_it_removes_exactly_the_temp_files_atomic_output_makes(tmp_path):
    targets = [tmp_path / "chunks/00002.ts", tmp_path / "pieces/01/reel.mp4", tmp_path / "transcript"]
    temps = sorted(left_behind(target) for target in targets)
    (tmp_path / "chunks/.hidden").write_bytes(b"keep")
    (tmp_path / "notes.tmp.txt").write_bytes(b"keep")

    assert remove_temp_outputs(tmp_path) == temps
    assert not any(tmp.exists() for tmp in temps)
    assert all(target.read_bytes() == b"done" for target in targets)
    assert (tmp_path / "chunks/.hidden").exists() and (tmp_path / "notes.tmp.txt").exists()
    assert remove_temp_outputs(tmp_path / "missing") == []
