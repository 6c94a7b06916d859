"""Speech engines: espeak-ng for real, ElevenLabs and OpenAI against loopback fakes that send real MP3/WAV."""

from __future__ import annotations

import threading
import wave
from pathlib import Path

import pytest

from media_pipeline.errors import MediaError
from media_pipeline.providers.http import CallRecord, ProviderError, RetryPolicy
from media_pipeline.providers.ratelimit import FileBucketStore, Slots
from media_pipeline.providers.registry import Calls
from media_pipeline.tts import EspeakEngine, speech_provider

from . import media
from .fake_providers import FakeProviders, garbage, status

KEY = "xi-SECRET-key-0123456789"
FAST = RetryPolicy(base=0.01, cap=0.05)
TEXT = "The cat walks to the piano and plays a short tune for the crowd."


@pytest.fixture
def out(tmp_path) -> Path:
    """A folder of its own (tmp_path also holds the test's media root)."""
    return tmp_path / "out"


@pytest.fixture
def fake():
    with FakeProviders(api_key=KEY) as fake:
        yield fake
    assert not fake.errors


def engine(fake, kind, *, records=None, key=KEY, model=None, slots=None):
    conf = fake.settings(api_key=key, PROVIDER_TIMEOUT=10, **({"TTS_MODEL": model} if model else {}))
    calls = Calls(retry=FAST, slots=slots, on_call=records.append if records is not None else None)
    return speech_provider(kind).build(conf, calls)


def files_in(folder: Path) -> list[str]:
    """What is left in `folder`: temp files must never be."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def assert_our_wav(path: Path) -> float:
    """pcm_s16le mono 24 kHz, and ffprobe agrees on its duration."""
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 24000)
        seconds = wav.getnframes() / wav.getframerate()
    assert media.codecs(path) == ["pcm_s16le"]
    assert media.duration(path) == pytest.approx(seconds, abs=0.01)
    return seconds


def test_espeak_speaks_into_our_wav(out):
    tts = EspeakEngine()
    short = tts.synthesize("Hello there.", voice="en-us", out=out / "short.wav")
    long = tts.synthesize(TEXT, voice="en-gb+f3", out=out / "long.wav")
    assert (short.provider, short.voice, long.voice) == ("espeak", "en-us", "en-gb+f3")
    assert assert_our_wav(short.path) == pytest.approx(short.duration)
    assert assert_our_wav(long.path) == pytest.approx(long.duration)
    assert 0.3 < short.duration < long.duration
    # Its pace is near what words_per_second promises (the planner budgets text with it).
    assert len(TEXT.split()) / long.duration == pytest.approx(tts.words_per_second("en-us"), rel=0.35)
    assert files_in(out) == ["long.wav", "short.wav"]
    assert ("en-us", "American English, male") in tts.voices()


@pytest.mark.parametrize("voice", ["--help", "en-us; rm -rf /", "nope-voice-that-does-not-exist"])
def test_espeak_refuses_voices_it_does_not_have(out, voice):
    with pytest.raises(MediaError) as caught:
        EspeakEngine().synthesize("Hello.", voice=voice, out=out / "x.wav")
    assert caught.value.message == f"The voice {voice!r} is not available."
    assert files_in(out) == []


def test_elevenlabs_posts_text_and_decodes_its_mp3_into_our_wav(fake, out):
    records: list[CallRecord] = []
    speech = engine(fake, "elevenlabs", records=records).synthesize(
        TEXT, voice="21m00Tcm4TlvDq8ikWAM", out=out / "a.wav"
    )
    (served,) = fake.requests_to("elevenlabs")
    assert served.path == "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM"
    assert served.query == {"output_format": ["mp3_44100_128"]}
    assert served.headers["xi-api-key"] == KEY
    assert served.json == {"text": TEXT, "model_id": "eleven_multilingual_v2"}
    assert (speech.provider, speech.voice) == ("elevenlabs", "21m00Tcm4TlvDq8ikWAM")
    assert assert_our_wav(speech.path) == pytest.approx(speech.duration)
    assert speech.duration == pytest.approx(len(TEXT) * fake.seconds_per_char, abs=0.1)
    assert records[0].path == "v1/text-to-speech/21m00Tcm4TlvDq8ikWAM" and records[0].ok
    assert files_in(out) == ["a.wav"]


def test_openai_speech_asks_for_wav_and_writes_our_wav(fake, out):
    tts = engine(fake, "openai", model="tts-1")
    short = tts.synthesize("Short line.", voice="alloy", out=out / "s.wav")
    long = tts.synthesize(TEXT * 2, voice="nova", out=out / "l.wav")
    first, _ = fake.requests_to("speech")
    assert first.json == {"model": "tts-1", "input": "Short line.", "voice": "alloy", "response_format": "wav"}
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert assert_our_wav(short.path) == pytest.approx(short.duration)
    assert long.duration == pytest.approx(len(TEXT * 2) * fake.seconds_per_char, abs=0.05)
    assert short.duration < long.duration


@pytest.mark.parametrize("kind", ["elevenlabs", "openai"])
def test_a_body_that_is_not_audio_is_a_sentence_and_leaves_no_file(fake, out, kind):
    fake.script("elevenlabs" if kind == "elevenlabs" else "speech", garbage())
    records: list[CallRecord] = []
    with pytest.raises(ProviderError) as caught:
        engine(fake, kind, records=records).synthesize(TEXT, voice="v1", out=out / "x.wav")
    label = "The speech service (ElevenLabs)" if kind == "elevenlabs" else "The speech service"
    assert caught.value.message == f"{label} sent an answer we could not read."
    assert (records[0].status, records[0].ok, records[0].error) == (200, False, "unreadable")
    assert files_in(out) == []


def test_a_refused_key_says_which_setting_to_check(fake, out):
    with pytest.raises(ProviderError) as caught:
        engine(fake, "elevenlabs", key="xi-wrong-0000000").synthesize(TEXT, voice="v1", out=out / "x.wav")
    assert (
        caught.value.message == "The speech service (ElevenLabs) refused our key (HTTP 401); check ELEVENLABS_API_KEY."
    )
    assert "xi-wrong-0000000" not in caught.value.detail


def test_speech_is_retried_through_a_429(fake, out):
    fake.script("elevenlabs", status(429, retry_after=0.05), status(500))
    speech = engine(fake, "elevenlabs").synthesize(TEXT, voice="v1", out=out / "x.wav")
    assert speech.duration > 0
    assert [r.status for r in fake.requests_to("elevenlabs")] == [429, 500, 200]


def test_empty_text_is_refused_before_any_request(fake, out):
    with pytest.raises(MediaError) as caught:
        engine(fake, "openai").synthesize("   ", voice="alloy", out=out / "x.wav")
    assert caught.value.message == "There is no text to speak."
    assert fake.requests == []


def test_at_most_five_speech_requests_are_in_flight(fake, out):
    fake.latency = 0.2
    slots = Slots("tts-test", 5, store=FileBucketStore(out.parent / "limits"))
    tts = engine(fake, "elevenlabs", slots=slots)
    errors: list[BaseException] = []

    def speak(i: int) -> None:
        try:
            tts.synthesize(f"Line number {i} of the commentary.", voice="v1", out=out / f"{i}.wav")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=speak, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert fake.max_in_flight_by_route["elevenlabs"] == 5
    assert len(list(out.glob("*.wav"))) == 12


def test_unknown_engines_are_refused():
    with pytest.raises(ValueError):
        speech_provider("polly")
