"""Outputs are written to a temporary name beside the target and renamed, so nobody sees half a file."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# The names atomic_output gives its temp files: .NAME.<8 hex digits>.tmp.EXT, or without .EXT.
TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{8}\.tmp(\.[^.]+)?")


@contextmanager
def atomic_output(target: Path) -> Iterator[Path]:
    """Yield a temp path in the target's folder; on success rename it over the target, on error delete it.

    The temp name keeps the target's suffix so tools that pick a format by extension still work.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.{uuid.uuid4().hex[:8]}.tmp{target.suffix}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_temp_outputs(folder: Path) -> list[Path]:
    """Delete the temp files atomic_output left anywhere under `folder`, and return them.

    A run killed mid-write (SIGKILL, a lost machine) leaves them behind; nothing will ever rename them, so
    the next run of the same work removes them before it starts.
    """
    removed = []
    for path in sorted(folder.rglob(".*.tmp*")):
        if not TEMP_NAME.fullmatch(path.name) or not path.exists():
            continue
        if path.is_dir():  # a work folder (temp_folder), with whatever it held
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


@contextmanager
def temp_folder(parent: Path, label: str) -> Iterator[Path]:
    """A private work folder under `parent`, named like atomic_output's temp files (so a takeover after a
    crash removes it too), deleted with its contents on the way out."""
    folder = parent / f".{label}.{uuid.uuid4().hex[:8]}.tmp"
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
