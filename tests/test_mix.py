"""Commentary mixed over a chunk's original sound, verified by measuring the output with real ffmpeg.

The original is a 300 Hz tone and the "voice" a 3 kHz tone, so band levels of the output show each on its
own: the voice from ~1 s, the original about −14 dB (20 %) under it and back to full after, and the video
stream bit-identical to the source's where it is copied.
"""

from __future__ import annotations

import subprocess
import wave

import numpy as np
import pytest

from media_pipeline.plan import Interval
from media_pipeline.probe import Limits, probe
from media_pipeline.render.chunk import render_chunk
from media_pipeline.render.final import concat_segments
from media_pipeline.render.mix import CommentaryMix, gated_level_db, measure_windows

from . import media, mix_media
from .mix_media import ORIGINAL_BAND, VOICE_BAND

DUCK_DB = -13.98  # 20·log10(0.2)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("mix")


@pytest.fixture(scope="module")
def stereo_source(folder):
    return mix_media.tone_source(folder / "stereo.mp4", seconds=12, channels=2)


@pytest.fixture(scope="module")
def voice(folder):
    return mix_media.tone_wav(folder / "voice.wav", seconds=4)


def render(src, out_dir, interval, commentary):
    info = probe(src, limits=Limits())
    chunk = render_chunk(src, info, interval, out=out_dir / "c.ts", thumbnail=out_dir / "c.jpg", commentary=commentary)
    return info, chunk


def test_it_ducks_the_original_under_the_commentary_and_copies_the_video(stereo_source, voice, tmp_path):
    interval = Interval(index=1, start=3.0, end=11.0, starts_on_keyframe=True)
    info, chunk = render(stereo_source, tmp_path, interval, CommentaryMix(speech=voice, speech_duration=4.0))
    # Segment times: the ramp down is 0.75–1 s, the duck 1–5 s, the ramp up 5–5.25 s.
    before, during, after = (0.1, 0.7), (1.3, 4.7), (5.5, 7.8)
    reference = measure_windows(stereo_source, windows=[(3.1, 3.7)], band=ORIGINAL_BAND)[0]
    original = measure_windows(chunk.path, windows=[before, during, after], band=ORIGINAL_BAND)
    voice_levels = measure_windows(chunk.path, windows=[(0.1, 0.9), (1.1, 4.9), (5.3, 7.8)], band=VOICE_BAND)
    depth = original[1] - original[0]
    print(f"\noriginal before/during/after: {original} (reference {reference:.2f}); duck depth {depth:.2f} dB")
    print(f"voice before/during/after: {voice_levels}")

    assert original[0] == pytest.approx(reference, abs=1.0)
    assert depth == pytest.approx(DUCK_DB, abs=1.5)
    assert original[2] == pytest.approx(reference, abs=1.0)
    assert voice_levels[0] < -60 and voice_levels[2] < -60
    assert voice_levels[1] == pytest.approx(-16.0, abs=1.0)  # normalised: the WAV itself is at −29 dB
    # Window times count from the file's first audio sample, the AAC encoder's 1024-sample priming (23 ms).
    assert mix_media.onset(chunk.path, VOICE_BAND, threshold_db=-40) == pytest.approx(1.0, abs=0.1)

    # Video: copied, the same frames bit for bit; audio in the source's format, starting with the video.
    assert chunk.copied
    assert chunk.duration == pytest.approx(8.0, abs=0.1)
    streams = mix_media.stream_info(chunk.path)
    assert [s["codec_name"] for s in streams] == ["h264", "aac"]
    assert (streams[1]["sample_rate"], streams[1]["channels"]) == ("44100", "2")
    assert abs(float(streams[1]["start_time"]) - float(streams[0]["start_time"])) < 0.03
    hashes = mix_media.frame_hashes(chunk.path)
    assert len(hashes) == 200
    assert hashes == mix_media.frame_hashes(stereo_source, 3.0, 11.0)
    assert chunk.thumbnail.stat().st_size > 1000


def test_duck_1_leaves_the_original_at_full_level(stereo_source, voice, tmp_path):
    interval = Interval(index=0, start=0.0, end=7.0, starts_on_keyframe=True)
    _, chunk = render(stereo_source, tmp_path, interval, CommentaryMix(speech=voice, speech_duration=4.0, duck=1.0))
    before, during = measure_windows(chunk.path, windows=[(0.1, 0.7), (1.3, 4.7)], band=ORIGINAL_BAND)
    assert during == pytest.approx(before, abs=0.3)
    assert measure_windows(chunk.path, windows=[(1.3, 4.7)], band=VOICE_BAND)[0] == pytest.approx(-16, abs=1)


def test_a_video_without_sound_gets_the_commentary_as_its_sound(voice, tmp_path):
    src = media.video_only(tmp_path / "silent.mp4", seconds=8)
    interval = Interval(index=0, start=0.0, end=8.0, starts_on_keyframe=True)
    info, chunk = render(src, tmp_path, interval, CommentaryMix(speech=voice, speech_duration=4.0))
    assert not info.has_audio and chunk.copied
    streams = mix_media.stream_info(chunk.path)
    assert [s["codec_name"] for s in streams] == ["h264", "aac"]
    assert streams[1]["sample_rate"] == "48000"
    silence, speech, after = measure_windows(chunk.path, windows=[(0.1, 0.9), (1.2, 4.8), (5.2, 7.8)])
    assert silence < -90 and after < -90
    assert speech == pytest.approx(-16, abs=1)
    assert mix_media.frame_hashes(chunk.path) == mix_media.frame_hashes(src)


def test_speech_longer_than_the_interval_is_cut_at_its_end_with_a_fade(stereo_source, tmp_path):
    long_voice = mix_media.tone_wav(tmp_path / "long.wav", seconds=6)
    interval = Interval(index=1, start=3.0, end=7.0, starts_on_keyframe=True)
    _, chunk = render(stereo_source, tmp_path, interval, CommentaryMix(speech=long_voice, speech_duration=6.0))
    assert chunk.duration == pytest.approx(4.0, abs=0.1)
    assert media.duration(chunk.path) < 4.1  # the audio does not run on past the video
    steady, fading = measure_windows(chunk.path, windows=[(3.60, 3.75), (3.94, 3.99)], band=VOICE_BAND)
    assert steady == pytest.approx(-16, abs=1)
    assert fading < steady - 4  # fading out over the last 150 ms instead of stopping mid-word


def test_real_speech_from_espeak_ng_is_mixed_in_its_window(stereo_source, tmp_path):
    wav = mix_media.espeak_wav(tmp_path / "speech.wav", "The presenter turns to the chart and explains the result.")
    with wave.open(str(wav), "rb") as w:
        length = w.getnframes() / w.getframerate()
    interval = Interval(index=0, start=0.0, end=10.0, starts_on_keyframe=True)
    _, chunk = render(stereo_source, tmp_path, interval, CommentaryMix(speech=wav, speech_duration=length))
    speech_band = (600.0, 5000.0)  # above the 300 Hz original, where a voice's formants are
    before, during, after = measure_windows(
        chunk.path, windows=[(0.1, 0.9), (1.2, 1.0 + length - 0.2), (1.0 + length + 0.4, 9.9)], band=speech_band
    )
    print(f"\nespeak-ng {length:.2f} s; 0.6–5 kHz before/during/after: {before:.1f} {during:.1f} {after:.1f} dB")
    assert before < -60 and after < -60
    assert during > -30


def test_loud_sound_under_loud_speech_does_not_clip(tmp_path):
    src = mix_media.tone_source(tmp_path / "loud.mp4", seconds=6, channels=2, amplitude=0.9)
    voice = mix_media.tone_wav(tmp_path / "v.wav", seconds=3)
    interval = Interval(index=0, start=0.0, end=6.0, starts_on_keyframe=True)
    commentary = CommentaryMix(speech=voice, speech_duration=3.0, duck=1.0, speech_level_db=-3.0)
    _, chunk = render(src, tmp_path, interval, commentary)
    peak = mix_media.peak_db(chunk.path)
    print(f"\npeak of 0.9 + 0.7 full-scale tones after the limiter: {peak:.2f} dBFS")
    assert -3 < peak < -0.3  # limited at −1 dBFS (plus the AAC encoder's small overshoot)


def test_the_transcode_path_mixes_too(tmp_path, voice):
    src = mix_media.mpeg4_tone_source(tmp_path / "old.avi", seconds=8)
    interval = Interval(index=0, start=0.0, end=8.0, starts_on_keyframe=True)
    _, chunk = render(src, tmp_path, interval, CommentaryMix(speech=voice, speech_duration=4.0))
    assert not chunk.copied
    streams = mix_media.stream_info(chunk.path)
    assert [s["codec_name"] for s in streams] == ["h264", "aac"]
    assert streams[1]["channels"] == "2"
    before, during, after = measure_windows(
        chunk.path, windows=[(0.1, 0.7), (1.3, 4.7), (5.5, 7.8)], band=ORIGINAL_BAND
    )
    assert during - before == pytest.approx(DUCK_DB, abs=1.5)
    assert after == pytest.approx(before, abs=1.0)


def test_commented_and_plain_chunks_join_into_one_playable_file(tmp_path, voice):
    # A mono 44.1 kHz source: the plain chunk copies its AAC, so the commented one must match it.
    src = mix_media.tone_source(tmp_path / "mono.mp4", seconds=12, channels=1)
    info = probe(src, limits=Limits())
    plain, commented = Interval(0, 0.0, 6.0, True), Interval(1, 6.0, 12.0, True)
    chunks = [
        render_chunk(src, info, plain, out=tmp_path / "0.ts", thumbnail=tmp_path / "0.jpg"),
        render_chunk(
            src,
            info,
            commented,
            out=tmp_path / "1.ts",
            thumbnail=tmp_path / "1.jpg",
            is_last=True,
            commentary=CommentaryMix(speech=voice, speech_duration=4.0),
        ),
    ]
    formats = [mix_media.stream_info(c.path)[1] for c in chunks]
    assert [(f["codec_name"], f["sample_rate"], f["channels"]) for f in formats] == [("aac", "44100", "1")] * 2
    final = tmp_path / "final.mp4"
    concat_segments([c.path for c in chunks], out=final)
    assert media.duration(final) == pytest.approx(12, abs=0.2)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-xerror", "-i", str(final), "-f", "null", "-"], check=True, timeout=60
    )
    # In the joined file: full tone in chunk 0, ducked under the voice in chunk 1, the voice only there.
    levels = measure_windows(final, windows=[(1.0, 5.0), (7.3, 10.7)], band=ORIGINAL_BAND)
    assert levels[1] - levels[0] == pytest.approx(DUCK_DB, abs=1.5)
    voice_levels = measure_windows(final, windows=[(0.5, 6.5), (7.3, 10.7)], band=VOICE_BAND)
    assert voice_levels[0] < -60
    assert voice_levels[1] == pytest.approx(-16, abs=1)  # mono: no upmix, the same target level


def test_the_video_is_the_same_with_and_without_commentary(stereo_source, voice, tmp_path):
    info = probe(stereo_source, limits=Limits())
    interval = Interval(index=1, start=3.0, end=11.0, starts_on_keyframe=True)
    plain = render_chunk(stereo_source, info, interval, out=tmp_path / "a.ts", thumbnail=tmp_path / "a.jpg")
    mixed = render_chunk(
        stereo_source,
        info,
        interval,
        out=tmp_path / "b.ts",
        thumbnail=tmp_path / "b.jpg",
        commentary=CommentaryMix(speech=voice, speech_duration=4.0),
    )
    assert plain.copied and mixed.copied
    packets = [_video_packets(c.path) for c in (plain, mixed)]
    assert packets[0] == packets[1] and len(packets[0]) > 100


def _video_packets(path):
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "framemd5", "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [
        line.split(",")[2].strip() + line.rsplit(",", 1)[-1] for line in out.splitlines() if not line.startswith("#")
    ]


def test_measure_windows_reads_levels_and_bands(tmp_path):
    wav = mix_media.tone_wav(tmp_path / "half.wav", seconds=2, hz=1000, amplitude=0.5)
    whole, in_band, off_band = (
        measure_windows(wav, windows=[(0.5, 1.5)])[0],
        measure_windows(wav, windows=[(0.5, 1.5)], band=(900, 1100))[0],
        measure_windows(wav, windows=[(0.5, 1.5)], band=(2000, 4000))[0],
    )
    assert whole == pytest.approx(-9.03, abs=0.1)  # a sine of amplitude 0.5: 20·log10(0.5/√2)
    assert in_band == pytest.approx(-9.03, abs=0.2)
    assert off_band < -60
    assert measure_windows(wav, windows=[(3.0, 4.0)]) == [-120.0]  # past the end: nothing there


def test_it_mixes_a_30_s_720p_chunk_with_the_video_copied(folder, voice):
    src = mix_media.tone_source(folder / "720p.mp4", seconds=31, size="1280x720", rate=30, gop=60)
    info = probe(src, limits=Limits())
    interval = Interval(index=0, start=0.0, end=30.0, starts_on_keyframe=True)
    out = folder / "720p.ts"
    chunk = render_chunk(
        src,
        info,
        interval,
        out=out,
        thumbnail=folder / "720p.jpg",
        commentary=CommentaryMix(speech=voice, speech_duration=4.0),
    )
    print(f"\nmixing a 30 s 720p chunk (video copied): {chunk.seconds:.2f} s of ffmpeg")
    assert media.codecs(out) == ["h264", "aac"]
    assert chunk.copied


def test_the_speech_level_ignores_pauses():
    rate = 24000
    t = np.arange(rate) / rate
    tone = 0.1 * np.sin(2 * np.pi * 440 * t)  # RMS −23.0 dBFS
    with_pauses = np.concatenate([tone, np.zeros(rate), tone, np.zeros(2 * rate)])
    assert gated_level_db(tone, rate) == pytest.approx(-23.0, abs=0.05)
    # Plain RMS would say −27 dB (3 s of 5 are silent); the gate keeps only blocks with sound in them, and
    # the blocks straddling a pause's edge pull it a little lower.
    assert gated_level_db(with_pauses, rate) == pytest.approx(-23.0, abs=1.2)
    assert gated_level_db(np.zeros(rate), rate) == -120.0
