"""ts_duration (render/ts_span.py) says what ffprobe's format=duration says of the MPEG-TS files we write.

Each source is cut the way a job cuts it (plan on keyframes, one split pass), and every segment is measured
both ways; plus a segment cut off in the middle of a packet, a file large enough that only its ends are read,
timestamps that wrap past 2³³, and chunks our own muxer wrote (transcoded video, encoded audio).
"""

from __future__ import annotations

import pytest

from media_pipeline.plan import boundary_targets, keyframes_near, plan_intervals
from media_pipeline.probe import Limits, probe
from media_pipeline.process import NeverCancelled
from media_pipeline.render import ts_span
from media_pipeline.render.chunk import render_chunk
from media_pipeline.render.split import Splitter
from media_pipeline.render.ts_span import ts_duration

from . import media

AGREE = 0.05
BFRAMES = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
           "-x264-params", "bframes=3:b-pyramid=normal:keyint=30"]  # fmt: skip

SOURCES = {
    # name: (maker, options, interval)
    "25fps-h264-aac": (media.h264_aac, {"seconds": 8, "size": "160x120"}, 3),
    "29.97fps-bframes": (media.marked, {"seconds": 8, "size": "160x90", "rate": "30000/1001", "codec": BFRAMES}, 3),
    "audio-0.3s-late": (media.marked, {"seconds": 8, "size": "160x90", "audio_delay": 0.3, "codec": BFRAMES}, 3),
    "audio-0.6s-late": (media.marked, {"seconds": 8, "size": "160x90", "audio_delay": 0.6, "codec": BFRAMES}, 3),
    "44.1kHz": (media.marked, {"seconds": 8, "size": "160x90", "audio_rate": 44100, "codec": BFRAMES}, 3),
    "audio-3s-longer": (media.marked, {"seconds": 8, "size": "160x90", "audio_seconds": 11, "codec": BFRAMES}, 3),
    "one-interval-3s": (media.h264_aac, {"seconds": 3, "size": "160x120"}, 10),
}


def split_segments(src, folder, interval):
    """The segments of the job's one-pass split of `src`, copied out of the splitter's folder."""
    info = probe(src, limits=Limits())
    keyframes = keyframes_near(src, boundary_targets(info.duration, interval), info=info)
    plan = plan_intervals(info, interval=interval, keyframes=keyframes)
    splitter = Splitter(src, info, plan, workdir=folder, with_audio=info.audio_copyable, ffmpeg_bin="ffmpeg",
                        cancel=NeverCancelled(), timeout=120)  # fmt: skip
    segments = []
    try:
        for iv in plan:
            kept = folder / f"segment{iv.index}.ts"
            kept.write_bytes(splitter.segment(iv.index, cancel=NeverCancelled()).read_bytes())
            segments.append(kept)
    finally:
        splitter.close()
    return segments


def assert_agrees(path):
    expected = media.duration(path)
    got = ts_duration(path)
    print(f"{path.name}: ffprobe {expected:.6f}, ts_duration {got}")
    assert got == pytest.approx(expected, abs=AGREE)


@pytest.mark.parametrize("name", list(SOURCES))
def test_split_segments_measure_as_ffprobe_does(name, tmp_path):
    make, options, interval = SOURCES[name]
    segments = split_segments(make(tmp_path / "src.mp4", **options), tmp_path, interval)
    assert len(segments) == (1 if interval > 3 else 3 if "longer" not in name else 4)
    for segment in segments:
        assert_agrees(segment)


def test_a_segment_cut_off_in_the_middle_measures_as_ffprobe_does(tmp_path):
    (*_, last) = split_segments(media.h264_aac(tmp_path / "src.mp4", seconds=8, size="160x120"), tmp_path, 3)
    data = last.read_bytes()
    cut = tmp_path / "cut.ts"
    cut.write_bytes(data[: len(data) // 2 + 77])  # not on a packet boundary
    assert_agrees(cut)
    assert ts_duration(cut) < ts_duration(last) - 0.5


def test_a_large_file_is_read_at_its_ends_only(tmp_path, monkeypatch):
    """Video 10 s, audio 6 s, ~5 MB: only its first and last 256 KB are read. With a tail smaller than the
    last picture (no PES starts in it) it is read again, larger, until the video's last timestamps are in it."""
    big = tmp_path / "big.ts"
    media.ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-f", "lavfi", "-i", "sine=sample_rate=48000",
                 "-t", "10", "-filter_complex", "[1]atrim=end=6[a]", "-map", "0:v", "-map", "[a]", "-c:v", "libx264",
                 "-preset", "ultrafast", "-crf", "8", "-c:a", "aac", "-output_ts_offset", "10", "-f", "mpegts",
                 str(big))  # fmt: skip
    size = big.stat().st_size
    assert size > 8 * ts_span.TAIL_BYTES
    scanned = []
    real_scan = ts_span._scan
    monkeypatch.setattr(ts_span, "_scan", lambda data, *a: scanned.append(len(data)) or real_scan(data, *a))
    assert_agrees(big)
    assert scanned == [ts_span.HEAD_BYTES, ts_span.TAIL_BYTES]
    scanned.clear()
    monkeypatch.setattr(ts_span, "TAIL_BYTES", 1024)
    assert_agrees(big)
    assert len(scanned) >= 4 and max(scanned) < size // 10  # the head, then tails of 1, 2, 4 … KB
    # 33-bit wraparound: the same pictures with timestamps that cross 2^33 / 90 kHz ≈ 95443.7 s.
    wrap = tmp_path / "wrap.ts"
    media.ffmpeg("-i", str(big), "-c", "copy", "-t", "6", "-output_ts_offset", "95440", "-f", "mpegts", str(wrap))
    assert_agrees(wrap)


@pytest.mark.parametrize("kind", ["transcoded", "encoded-audio"])
def test_our_own_chunks_measure_as_ffprobe_does(kind, tmp_path):
    if kind == "transcoded":
        src = media.mpeg4_avi(tmp_path / "src.avi", seconds=7, size="160x120")
    else:  # 5.1 AAC: the video is copied, the audio converted to stereo and muxed beside it
        src = media.marked(tmp_path / "src.mp4", seconds=7, size="160x90", layout="5.1")
    info = probe(src, limits=Limits())
    keyframes = keyframes_near(src, boundary_targets(info.duration, 3), info=info) if info.video_copyable else None
    plan = plan_intervals(info, interval=3, keyframes=keyframes)
    for iv in plan:
        chunk = render_chunk(src, info, iv, out=tmp_path / f"{iv.index}.ts", thumbnail=None,
                             is_last=iv.index == len(plan) - 1)  # fmt: skip
        assert chunk.measured == pytest.approx(media.duration(chunk.path), abs=AGREE)


def test_what_is_not_ts_gives_none(tmp_path):
    empty = tmp_path / "empty.ts"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.ts"
    garbage.write_bytes(bytes(range(256)) * 2000)
    syncs_only = tmp_path / "syncs.ts"  # packets, but no PAT/PMT and no timestamps
    syncs_only.write_bytes((b"\x47\x1f\xff\x10" + b"\xff" * 184) * 50)
    mp4 = media.h264_aac(tmp_path / "src.mp4", seconds=1, size="160x120")
    for path in (empty, garbage, syncs_only, mp4, tmp_path / "missing.ts"):
        assert ts_duration(path) is None, path
