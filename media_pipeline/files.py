"""Outputs are written to a temporary name beside the target and renamed, so nobody sees half a file."""

from __future__ import annotations

import hashlib
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


# A file's content key is a two-level sha256: of the concatenated sha256 digests of its fixed 4 MiB blocks.
# Blocks sit at fixed offsets, whatever size the parts of an upload had, so the key can be built as parts
# arrive (each part hashes only its own bytes) and a classic upload of the same file gets the same key.
DIGEST_BLOCK = 4 * 1024 * 1024


def hash_blocks(path: Path, digests: Path, *, upto: int, final: bool = False) -> None:
    """Append to `digests` the sha256 of every whole block of `path` below byte `upto` not yet in it (and,
    with `final`, of the last partial block). Reads only the new blocks, which the caller just wrote."""
    done = digests.stat().st_size // 32 if digests.exists() else 0
    with open(path, "rb") as src, open(digests, "ab") as out:
        out.truncate(done * 32)  # a digest half-written by a process that died
        index = done
        while (index + 1) * DIGEST_BLOCK <= upto or (final and index * DIGEST_BLOCK < upto):
            src.seek(index * DIGEST_BLOCK)
            block = src.read(min(DIGEST_BLOCK, upto - index * DIGEST_BLOCK))
            out.write(hashlib.sha256(block).digest())  # hashlib lets go of the GIL on big buffers
            index += 1


def content_digest(digests: Path) -> str:
    return hashlib.sha256(digests.read_bytes()).hexdigest()


def file_content_digest(path: Path) -> str:
    """The same key as hash_blocks + content_digest, for a file already whole on disk."""
    block_digests = bytearray()
    with open(path, "rb") as fh:
        while block := fh.read(DIGEST_BLOCK):
            block_digests += hashlib.sha256(block).digest()
    return hashlib.sha256(bytes(block_digests)).hexdigest()
