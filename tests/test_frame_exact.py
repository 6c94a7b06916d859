"""Every frame exactly once, in sync: chunks partition the source and join back into it.

Each source is generated with flash + beep markers (tests.media.marked) and cut the way a job cuts it:
plan on keyframes, one split pass for copied video, a chunk per interval, the final MP4 from the chunks'
bytes. bench.avsync then compares the final with the source, frame by frame and marker by marker.
"""

from __future__ import annotations

import subprocess

import pytest

from bench.avsync import compare
from media_pipeline.errors import MediaError
from media_pipeline.plan import boundary_targets, keyframes_near, plan_intervals
from media_pipeline.probe import Limits, probe
from media_pipeline.process import NeverCancelled
from media_pipeline.render.chunk import render_chunk
from media_pipeline.render.final import concat_segments
from media_pipeline.render.mix import CommentaryMix
from media_pipeline.render.split import Splitter

from . import media

X264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]

SOURCES = {
    # name: (marked() options, interval)
    "25fps-bframes": ({"rate": "25"}, 10),
    "29.97fps-pyramid-irregular-keyframes-44k-late-audio": (
        {
            "rate": "30000/1001",
            "audio_rate": 44100,
            "audio_delay": 0.5,
            "codec": [
                *X264,
                "-x264-params",
                "bframes=3:b-pyramid=normal:keyint=250:scenecut=40",
                "-force_key_frames",
                "0,2.3,5.1,9.8,11.2,17.7,21",
            ],
        },
        10,
    ),
    "60fps-mono": ({"rate": "60", "layout": "mono", "seconds": 14}, 10),
    "vfr": ({"vfr": True, "rate": "30"}, 10),
    "open-gop": ({"codec": [*X264, "-x264-params", "open_gop=1:keyint=50:bframes=3"]}, 10),
    "5.1-audio": ({"layout": "5.1"}, 10),  # AAC 5.1 is converted to stereo: video copied, audio encoded
    "audio-longer": ({"audio_seconds": 21.5}, 10),
    "audio-shorter": ({"audio_seconds": 17.0}, 10),
    "no-audio": ({"audio": None}, 10),
    "mpegts-source": ({"rate": "30000/1001"}, 10),  # a TS file starts at 1.4 s, not 0
    "mpeg4-transcode": ({"codec": ["-c:v", "mpeg4", "-q:v", "5", "-bf", "2"], "audio": "mp3", "audio_rate": 44100}, 10),
    "interval-30": ({"seconds": 70, "size": "160x90"}, 30),
    "interval-120": ({"seconds": 160, "size": "160x90", "codec": [*X264, "-g", "75"]}, 120),
}


def cut_and_join(src, folder, interval, *, commentary=None):
    """The job's chunk path on its own: returns (info, plan, chunks, final)."""
    info = probe(src, limits=Limits())
    keyframes = (
        keyframes_near(src, boundary_targets(info.duration, interval), info=info) if info.video_copyable else None
    )
    plan = plan_intervals(info, interval=interval, keyframes=keyframes)
    splitter = None
    if info.video_copyable:
        splitter = Splitter(
            src,
            info,
            plan,
            workdir=folder,
            with_audio=info.audio_copyable and commentary is None,
            ffmpeg_bin="ffmpeg",
            cancel=NeverCancelled(),
            timeout=600,
        )
    chunks = []
    try:
        for iv in plan:
            segment = splitter.segment(iv.index, cancel=NeverCancelled()) if splitter else None
            chunks.append(
                render_chunk(
                    src,
                    info,
                    iv,
                    out=folder / f"{iv.index:05d}.ts",
                    thumbnail=folder / f"{iv.index:05d}.jpg",
                    is_last=iv.index == len(plan) - 1,
                    segment=segment,
                    commentary=commentary,
                )
            )
    finally:
        if splitter:
            splitter.close()
    final = folder / "final.mp4"
    concat_segments([c.path for c in chunks], out=final, start_time=info.start_time)
    return info, plan, chunks, final


def frame_count(path):
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return int(out.split()[0].strip(","))


def check_exact(src, info, plan, chunks, final, *, copied: bool):
    report = compare(final, src, joins=[iv.start for iv in plan[1:]])
    print("\n" + "\n".join(report.lines()))
    frame = report.frame_duration
    # 1. Every frame once, in order: the same decoded frames (copy) or the same number of them (transcode).
    if copied:
        assert report.identical, (report.repeated, report.missing, report.changed)
    else:
        assert report.final_frames == report.source_frames
    assert sum(frame_count(c.path) for c in chunks) == report.source_frames
    # 2. The final's duration, and the playlist's, within one frame of the source's.
    assert abs(report.duration_error) <= frame
    assert abs(sum(round(c.duration, 3) for c in chunks) - info.duration) <= frame
    # 3. Audio continuous across joins and in sync everywhere: within a frame and within an AAC frame.
    if info.has_audio:
        assert report.audio_gaps == 0
        assert report.markers >= len(plan)  # markers on both sides of every join were measured
        assert report.max_offset_shift <= min(frame, 1024 / 44100)
    return report


@pytest.mark.parametrize("name", list(SOURCES))
def test_chunks_join_back_into_the_source(name, tmp_path):
    options, interval = SOURCES[name]
    suffix = ".avi" if "mpeg4" in name else ".ts" if "mpegts" in name else ".mp4"
    src = media.marked(tmp_path / f"src{suffix}", **options)
    info, plan, chunks, final = cut_and_join(src, tmp_path / "out", interval)
    # A TS file cannot be seek-probed for keyframes (the demuxer lands on any packet), so its plan may be one
    # interval; every other source here is cut in several.
    assert len(plan) >= (1 if "mpegts" in name else 2)
    assert all(c.copied == info.video_copyable for c in chunks)
    check_exact(src, info, plan, chunks, final, copied=info.video_copyable)


@pytest.mark.parametrize("name", ["29.97fps-pyramid-irregular-keyframes-44k-late-audio", "mpegts-source"])
def test_commentary_chunks_join_back_into_the_source(name, tmp_path):
    """The commentary path: every chunk's audio is mixed and encoded, the video still copied exactly (and a
    TS source, whose timestamps start at 1.4 s, lands on the same timeline)."""
    options, interval = SOURCES[name]
    src = media.marked(tmp_path / ("src.ts" if "mpegts" in name else "src.mp4"), **options)
    # Silence as the voice, no duck: the markers stay measurable under the mix.
    silence = tmp_path / "silence.wav"
    media.ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=24000:cl=mono",
        "-t",
        "2",
        str(silence),
    )
    commentary = CommentaryMix(speech=silence, speech_duration=2.0, duck=1.0)
    info, plan, chunks, final = cut_and_join(src, tmp_path / "out", interval, commentary=commentary)
    check_exact(src, info, plan, chunks, final, copied=True)


def test_a_last_chunk_whose_sound_outlasts_the_picture_is_not_called_cut_off(tmp_path):
    """The file's length counts its sound too: a last segment whose audio runs 3 s past the picture is
    complete. (The split pass's list.csv times follow the video alone: 2 s here against 5 planned, so they
    cannot stand in for measuring the segment.)"""
    src = media.marked(tmp_path / "src.mp4", seconds=12, audio_seconds=15)
    info, plan, chunks, final = cut_and_join(src, tmp_path / "out", 5)
    assert len(plan) == 2 and all(c.copied for c in chunks)
    assert chunks[-1].measured == pytest.approx(plan[-1].duration, abs=0.1)


def test_a_truncated_uploads_last_split_segment_is_refused(tmp_path):
    """moov first (faststart), the data cut at 45 %: the split pass ends cleanly at the cut, and the last
    segment, far shorter than the header says, is refused."""
    src = media.h264_aac(tmp_path / "src.mp4", seconds=20)
    fast = tmp_path / "fast.mp4"
    media.ffmpeg("-i", str(src), "-c", "copy", "-movflags", "+faststart", str(fast))
    cut = tmp_path / "cut.mp4"
    data = fast.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.45)])
    with pytest.raises(MediaError) as info:
        cut_and_join(cut, tmp_path / "out", 5)
    assert "The file ends early" in info.value.message


def test_it_measures_a_join_that_is_off(tmp_path):
    """The measuring tool itself: a final whose audio is 40 ms late and that repeats frames is caught."""
    src = media.marked(tmp_path / "src.mp4", seconds=8)
    late = tmp_path / "late.mp4"
    media.ffmpeg(
        "-i",
        str(src),
        "-itsoffset",
        "0.04",
        "-i",
        str(src),
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c",
        "copy",
        str(late),
    )
    report = compare(late, src)
    assert report.max_offset_shift == pytest.approx(0.04, abs=0.002)
    doubled = tmp_path / "doubled.mp4"
    media.ffmpeg(
        "-i",
        str(src),
        "-vf",
        "setpts=N/25/TB,fps=30",
        "-an",
        *X264,
        str(doubled),
    )
    assert compare(doubled, src).final_frames > compare(src, src).final_frames
