"""The bundled Whisper models' int8 copies (media_pipeline/transcript/whisper_int8.py): made once, pinned by
hash, quantized exactly where CTranslate2 quantizes, and transcribing as the float16 files do."""

from __future__ import annotations

import logging
import os
import re
import subprocess

import numpy as np
import pytest
from ctranslate2.specs import model_spec
from ctranslate2.specs.whisper_spec import WhisperSpec

from media_pipeline.transcript import whisper, whisper_int8, whisper_model
from media_pipeline.transcript.asr import SAMPLE_RATE
from media_pipeline.transcript.whisper import WhisperEngine

from . import asr_data, media

TEXT = "The river was high that spring, and the ferry waited three days before it could cross again."


@pytest.fixture(scope="module")
def fast(tmp_path_factory) -> whisper_model.ModelFolder:
    return whisper_model.fast_model(tmp_path_factory.mktemp("stamps"))


@pytest.fixture(scope="module")
def spoken(tmp_path_factory) -> np.ndarray:
    folder = tmp_path_factory.mktemp("speech")
    wav, pcm = folder / "speech.wav", folder / "speech16.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), TEXT], check=True, timeout=60)
    media.ffmpeg("-i", str(wav), "-ac", "1", "-ar", str(SAMPLE_RATE), "-c:a", "pcm_s16le", str(pcm))
    return asr_data.load_wav(pcm)


def words(folder: whisper_model.ModelFolder, pcm: np.ndarray) -> list[tuple[str, float, float]]:
    engine = WhisperEngine(folder, cpu_threads=2, vad=False)
    try:
        return [
            (w.text, round(w.start, 2), round(w.end, 2)) for s in engine.transcribe(pcm, offset=0.0) for w in s.words
        ]
    finally:
        engine.release()


def test_the_int8_copy_is_the_pinned_file_and_transcribes_as_the_original(fast, spoken, tmp_path):
    copy = whisper_int8.int8_copy(fast, tmp_path)
    assert copy.path == tmp_path / "int8" and copy.name == fast.name and copy.english_only
    assert whisper_model._sha256(copy.path / "model.bin") == whisper_int8.INT8_SHA256[whisper_model.FAST_SHA256]
    assert (copy.path / "model.bin").stat().st_size < 0.55 * (fast.path / "model.bin").stat().st_size
    for name in ("tokenizer.json", "config.json", "vocabulary.txt"):
        assert (copy.path / name).read_bytes() == (fast.path / name).read_bytes()
    original, quantized = words(fast, spoken), words(copy, spoken)
    assert len(original) >= 12
    # CTranslate2's own quantization at load time rounds a little differently: the same words, and word times
    # that differ by a frame of Whisper's 20 ms grid at most.
    assert [w for w, _, _ in quantized] == [w for w, _, _ in original]
    for (_, start, end), (_, start0, end0) in zip(quantized, original, strict=True):
        assert abs(start - start0) <= 0.021 and abs(end - end0) <= 0.021


def test_the_base_model_copy_is_pinned_too():
    folder = whisper_model.bundled_model(asr_data.CACHE / "whisper-base", int8=True)
    assert folder.path == asr_data.CACHE / "whisper-base" / "int8" and folder.name == whisper_model.BUNDLED_NAME
    assert folder.sha256 == whisper_int8.INT8_SHA256[whisper_model.BUNDLED_SHA256]
    assert whisper_model._sha256(folder.path / "model.bin") == folder.sha256


def test_the_quantized_variables_are_those_ctranslate2_quantizes(fast):
    """Every variable CTranslate2's WhisperSpec gives a `<name>_scale` is quantized, and no other."""
    with (fast.path / "model.bin").open("rb") as f:
        layout = whisper_int8.read_layout(f)
    names = [v.name for v in layout.variables]
    layers = {
        part: len({m for n in names if (m := re.match(rf"{part}/layer_(\d+)/", n))}) for part in ("encoder", "decoder")
    }
    spec = WhisperSpec(layers["encoder"], 6, layers["decoder"], 6)
    checked = 0
    for var in layout.variables:
        scope, key = var.name.rsplit("/", 1)
        owner = model_spec.index_spec(spec, scope)
        has_scale = hasattr(owner, f"{key}_scale")
        assert whisper_int8.quantizable(var) == (has_scale and var.dtype in ("float16", "float32")), var.name
        checked += has_scale
    assert checked >= 30


def test_a_damaged_copy_is_made_again(fast, tmp_path):
    copy = whisper_int8.int8_copy(fast, tmp_path)
    target = copy.path / "model.bin"
    with target.open("r+b") as f:
        f.seek(1_000_000)
        byte = f.read(1)
        f.seek(1_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(target, ns=(1, 1))  # the stamp no longer matches: the file is hashed and refused
    again = whisper_int8.int8_copy(fast, tmp_path)
    assert whisper_model._sha256(again.path / "model.bin") == whisper_int8.INT8_SHA256[whisper_model.FAST_SHA256]


def test_without_a_copy_the_float16_model_is_loaded(fast, tmp_path, caplog):
    (tmp_path / "int8").write_text("a file where the folder would go")
    with caplog.at_level(logging.WARNING):
        assert whisper_int8.prepared(fast, tmp_path) is fast
    assert "float16" in caplog.text
    unknown = whisper_model.ModelFolder(path=fast.path, name="whisper:mine")
    assert whisper_int8.prepared(unknown, tmp_path / "other") is unknown  # an operator's own model: as it is


def test_a_wrong_result_is_not_kept(fast, tmp_path, monkeypatch):
    monkeypatch.setitem(whisper_int8.INT8_SHA256, whisper_model.FAST_SHA256, "0" * 64)
    with pytest.raises(whisper_model.ModelError, match="did not come out"):
        whisper_int8.int8_copy(fast, tmp_path)
    assert not (tmp_path / "int8" / "model.bin").exists()
    assert not [p for p in (tmp_path / "int8").iterdir() if p.suffix == ".tmp"]


def test_jobs_load_the_int8_copies(settings, tmp_path):
    from jobs.transcribe import asr_engine, fast_engine

    settings.MODEL_CACHE_DIR = asr_data.CACHE
    settings.ASR_INT8_FILES = True
    assert asr_engine().model.path == asr_data.CACHE / "whisper-base" / "int8"  # type: ignore[union-attr]
    assert fast_engine().model.path == asr_data.CACHE / "whisper-tiny.en" / "int8"  # type: ignore[union-attr]
    settings.ASR_INT8_FILES = False
    assert asr_engine().model.path == asr_data.CACHE / "whisper-base"  # type: ignore[union-attr]
    whisper.release_models()
