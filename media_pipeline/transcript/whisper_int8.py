"""Whisper models kept as int8 files, made once from the pinned float16 ones.

The models we ship store their weights as float16 and CTranslate2 quantizes them to int8 each time a worker
loads one (compute_type "int8"): it reads the whole float16 file, holds it beside the int8 result and converts
every matrix. Measured here on a quiet machine (one process, 2 threads): tiny.en loads in 1.5–1.9 s with a
236 MB peak from the float16 file and in 0.5–0.9 s with a 135 MB peak from the int8 one, with the same
words (CTranslate2's load-time rounding differs a little: a word time may move by one 20 ms step). So each
bundled model is quantized once into the model cache and loaded from there.

The quantization is CTranslate2's own for int8 (`ctranslate2.specs.model_spec.ModelSpec._quantize`), done on
the file: every variable named `…/weight` (in Whisper these are the linear, convolution and embedding layers,
which are the ones that have a `weight_scale`; tests check that against CTranslate2's WhisperSpec) becomes int8
rows scaled by 127 / max |row|, with that scale beside it as `…/weight_scale` (float32); everything else is
copied as it is. The result is byte for byte deterministic, so its sha256 is pinned as the source's is, and a
copy that is anything else is made again. Reading the file format by hand (about 40 lines) instead of through
CTranslate2's spec classes keeps it streaming (one variable in memory at a time) and off private APIs.

The format (CTranslate2 binary version 6, models/model.cc): u32 version, string spec name, u32 spec revision,
u32 variable count, then per variable: string name, u8 rank, u32 × rank dims, u8 dtype, u32 byte count, bytes;
then u32 alias count and (alias, target) string pairs. A string is u16 length (with its NUL), bytes, NUL.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np

from .whisper_model import (
    BUNDLED_SHA256,
    FAST_SHA256,
    ModelError,
    ModelFolder,
    _atomic_write,
    _write_stamp,
    copy_if_changed,
    verify_model_file,
)

logger = logging.getLogger(__name__)

# CTranslate2's DataType enum order (include/ctranslate2/types.h).
DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
BINARY_VERSIONS = (4, 5, 6)  # the ones with the layout above (4 added the dtype byte)
# sha256 of the int8 model.bin made from each pinned float16 model.bin, keyed by the source's sha256: a new
# source model without its entry here gets no copy (and is loaded as it is) rather than an old copy.
INT8_SHA256 = {
    BUNDLED_SHA256: "ae52cba1cc2dd18975219cf7bd19dc44163978f679fe6c2e356804668eab3846",
    FAST_SHA256: "c0bbacb677a5a239485b20e999362cbf69e5c94f724049ff53540cf7b2d9bddc",
}
COMPANIONS = ("config.json", "tokenizer.json", "vocabulary.txt", "vocabulary.json", "preprocessor_config.json")
FOLDER = "int8"  # inside the model's cache folder


@dataclass(frozen=True)
class Variable:
    name: str
    shape: tuple[int, ...]
    dtype: str
    offset: int  # of its bytes in the file
    size: int


def _read(f: BinaryIO, fmt: str) -> tuple:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise ValueError("the file ends early")
    return struct.unpack(fmt, data)


def _read_string(f: BinaryIO) -> str:
    (length,) = _read(f, "<H")
    return f.read(length)[:-1].decode("utf-8")


def _write_string(out: IO[bytes], text: str) -> None:
    data = text.encode("utf-8")
    out.write(struct.pack("<H", len(data) + 1) + data + b"\0")


@dataclass(frozen=True)
class ModelFile:
    version: int
    spec: str
    revision: int
    variables: list[Variable]
    aliases: list[tuple[str, str]]


def read_layout(f: BinaryIO) -> ModelFile:
    """The header of every variable of a CTranslate2 model.bin, without reading their data."""
    (version,) = _read(f, "<I")
    if version not in BINARY_VERSIONS:
        raise ValueError(f"model.bin format version {version} is not one this reader knows")
    spec = _read_string(f)
    (revision,) = _read(f, "<I")
    (count,) = _read(f, "<I")
    variables = []
    for _ in range(count):
        name = _read_string(f)
        (rank,) = _read(f, "<B")
        shape = _read(f, f"<{rank}I") if rank else ()
        dtype_id, size = _read(f, "<BI")
        if dtype_id >= len(DTYPES):
            raise ValueError(f"unknown data type {dtype_id} for {name}")
        variables.append(Variable(name, tuple(shape), DTYPES[dtype_id], f.tell(), size))
        f.seek(size, 1)
    (count,) = _read(f, "<I")
    aliases = [(_read_string(f), _read_string(f)) for _ in range(count)]
    return ModelFile(version, spec, revision, variables, aliases)


def quantizable(variable: Variable) -> bool:
    """What CTranslate2's converter quantizes in a Whisper model: the weights of its linear, convolution
    and embedding layers (every `…/weight` of a float type)."""
    return variable.name.endswith("/weight") and variable.dtype in ("float16", "float32") and len(variable.shape) >= 2


# Rows quantized at a time: the float32 work stays a few MB (base's 51,865 × 512 embedding whole would be
# three ~106 MB temporaries in the process that makes the copy, a worker's first transcribing job).
BLOCK_ROWS = 2048


def quantize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 rows and their float32 scales, as ModelSpec._quantize does for "int8" (a 3-D convolution weight
    is taken as rows of its first dimension), BLOCK_ROWS rows at a time (each row's result is its own)."""
    source = values.reshape(values.shape[0], -1)
    weights = np.empty(source.shape, dtype=np.int8)
    scale = np.empty(source.shape[0], dtype=np.float32)
    for at in range(0, source.shape[0], BLOCK_ROWS):
        rows = source[at : at + BLOCK_ROWS].astype(np.float32)
        amax = np.amax(np.absolute(rows), axis=1)
        amax[amax == 0] = 127.0
        amax = np.maximum(amax, np.float32(127) / np.finfo(np.float32).max)
        block_scale = (np.float32(127.0) / amax).astype(np.float32)
        rows *= np.expand_dims(block_scale, 1)
        weights[at : at + BLOCK_ROWS] = np.rint(rows)
        scale[at : at + BLOCK_ROWS] = block_scale
    return weights.reshape(values.shape), scale


def _variables(f: BinaryIO, layout: ModelFile) -> Iterator[tuple[str, tuple[int, ...], str, bytes]]:
    """Each output variable (name, shape, dtype, bytes), one source variable read at a time."""
    for var in layout.variables:
        f.seek(var.offset)
        data = f.read(var.size)
        if len(data) != var.size:
            raise ValueError(f"the file ends inside {var.name}")
        if not quantizable(var):
            yield var.name, var.shape, var.dtype, data
            continue
        weights, scale = quantize(np.frombuffer(data, dtype=var.dtype).reshape(var.shape))
        yield var.name, var.shape, "int8", weights.tobytes()
        yield f"{var.name}_scale", scale.shape, "float32", scale.tobytes()


def write_int8(source: Path, out: IO[bytes]) -> None:
    """Write the int8 version of the model.bin `source` to `out`."""
    with source.open("rb") as f:
        layout = read_layout(f)
        if any(var.name.endswith("/weight_scale") for var in layout.variables):
            raise ValueError("the model is quantized already")
        count = len(layout.variables) + sum(quantizable(v) for v in layout.variables)
        out.write(struct.pack("<I", layout.version))
        _write_string(out, layout.spec)
        out.write(struct.pack("<II", layout.revision, count))
        for name, shape, dtype, data in _variables(f, layout):
            _write_string(out, name)
            out.write(struct.pack(f"<B{len(shape)}I", len(shape), *shape))
            out.write(struct.pack("<BI", DTYPES.index(dtype), len(data)))
            out.write(data)
        out.write(struct.pack("<I", len(layout.aliases)))
        for alias, target in layout.aliases:
            _write_string(out, alias)
            _write_string(out, target)


class _Hashing:
    """A file object that hashes what goes through it."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out, self.digest = out, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.out.write(data)


def int8_copy(model: ModelFolder, cache_dir: Path) -> ModelFolder:
    """`model` (a bundled, verified float16 model) as an int8 folder in `cache_dir`/int8, made on first use
    (under a lock: two workers starting at once make it once) and checked against its pinned hash like the
    source. Raises ModelError when it cannot be made; the caller then loads the float16 model."""
    expected = INT8_SHA256.get(model.sha256 or "")
    if not expected:
        raise ModelError(f"No int8 copy is known for {model.name}.")
    folder = Path(cache_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "model.bin"
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            verify_model_file(target, expected=expected, name=model.name)
        except ModelError:
            try:
                with _atomic_write(target) as out:
                    hashing = _Hashing(out)
                    write_int8(model.path / "model.bin", hashing)  # type: ignore[arg-type]
                    digest = hashing.digest.hexdigest()
                    if digest != expected:  # raised inside: the temp file goes, nothing is renamed
                        raise ModelError(
                            f"The int8 copy of {model.name} did not come out as expected.",
                            detail=f"sha256 {digest}, expected {expected}",
                        )
            except (OSError, ValueError, struct.error, MemoryError) as exc:
                raise ModelError(
                    f"The int8 copy of {model.name} could not be written.", detail=f"{type(exc).__name__}: {exc}"
                ) from exc
            _write_stamp(target, expected)
            logger.info("Wrote the int8 copy of %s to %s", model.name, folder)
        for name in COMPANIONS:
            if (model.path / name).is_file():
                copy_if_changed(model.path / name, folder / name)
    copy_folder = ModelFolder(path=folder, name=model.name, sha256=expected, english_only=model.english_only)
    copy_folder.check()
    return copy_folder


def prepared(model: ModelFolder, cache_dir: Path) -> ModelFolder:
    """The int8 copy of `model` when one can be had, else `model` itself (logged): the copy only makes the
    load faster and lighter, the transcript never depends on it."""
    try:
        return int8_copy(model, cache_dir)
    except ModelError as exc:
        logger.warning("Loading %s from its float16 file: %s (%s)", model.name, exc.message, exc.detail)
    except Exception:  # anything else: a bug here must not cost the transcript
        logger.exception("Loading %s from its float16 file: its int8 copy could not be had", model.name)
    return model
