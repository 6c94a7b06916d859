"""plan and chunk on real generated media: stream copy and transcode paths, final MP4."""

from __future__ import annotations

import subprocess

import pytest

from media_pipeline.errors import MediaError
from media_pipeline.plan import boundary_targets, keyframes_near, plan_intervals
from media_pipeline.probe import Limits, probe
from media_pipeline.render.chunk import render_chunk
from media_pipeline.render.final import concat_segments

from . import media


def cut_all(src, out_dir, interval):
    info = probe(src, limits=Limits())
    keyframes = (
        keyframes_near(src, boundary_targets(info.duration, interval), info=info) if info.video_copyable else None
    )
    plan = plan_intervals(info, interval=interval, keyframes=keyframes)
    chunks = [
        render_chunk(
            src,
            info,
            iv,
            out=out_dir / f"{iv.index:05d}.ts",
            thumbnail=out_dir / f"{iv.index:05d}.jpg",
            is_last=iv.index == len(plan) - 1,
        )
        for iv in plan
    ]
    return info, plan, chunks


def frame_hashes(path, start=None, end=None):
    """MD5 of every decoded video frame (in [start, end) of the file when given)."""
    args = ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0"]
    if start is not None:
        args += ["-vf", f"select='between(t,{start - 0.001},{end - 0.001})'"]
    args += ["-fps_mode", "passthrough", "-f", "framemd5", "-"]
    out = subprocess.run(args, capture_output=True, check=True, timeout=60, text=True).stdout
    return [line.rsplit(",", 1)[-1].strip() for line in out.splitlines() if line and not line.startswith("#")]


def test_it_plans_intervals_on_keyframes(h264_file):
    info = probe(h264_file, limits=Limits())
    keyframes = keyframes_near(h264_file, [7.0, 14.0, 21.0], info=info)
    # A keyframe every 25 frames at 25 fps: each target snaps back to the whole second at or before it.
    assert keyframes == {7.0: 7.0, 14.0: 14.0, 21.0: 21.0}
    plan = plan_intervals(info, interval=7, keyframes=keyframes)
    assert [iv.start for iv in plan] == [0, 7, 14, 21]
    assert plan[-1].end == pytest.approx(25, abs=0.1)


def test_a_long_gop_source_is_still_copied_in_every_chunk(tmp_path):
    # A keyframe only every 10 s, 4 s intervals: chunks run from keyframe to keyframe, never a mix of
    # copied and re-encoded chunks (different encoders in one HLS stream break players).
    src = media.h264_aac(tmp_path / "gop.mp4", seconds=30, gop=250)
    info, plan, chunks = cut_all(src, tmp_path / "out", 4)
    assert [iv.start for iv in plan] == [0, 10, 20]
    assert all(c.copied for c in chunks)
    assert sum(c.duration for c in chunks) == pytest.approx(30, abs=0.5)


def test_it_folds_a_tiny_last_chunk_into_the_one_before(h264_file):
    info = probe(h264_file, limits=Limits())
    plan = plan_intervals(info, interval=12, keyframes=None)  # 12, 24 → the last 1 s is folded in
    assert [round(iv.start) for iv in plan] == [0, 12]
    assert plan[-1].end == pytest.approx(25, abs=0.1)


def test_it_copies_h264_video_and_the_chunks_add_up(h264_file, tmp_path):
    info, plan, chunks = cut_all(h264_file, tmp_path, 10)
    assert all(c.copied for c in chunks)
    assert sum(c.duration for c in chunks) == pytest.approx(info.duration, abs=0.5)
    for c in chunks:
        assert media.codecs(c.path) == ["h264", "aac"]
        assert c.thumbnail.stat().st_size > 1000
    # Stream copy: chunk 1 holds exactly the source's frames for its interval, decoded bit for bit the same.
    second = chunks[1]
    hashes = frame_hashes(second.path)
    assert len(hashes) == 250
    assert hashes == frame_hashes(h264_file, second.start, second.end)


def test_it_transcodes_mpeg4_and_the_chunks_add_up(mpeg4_file, tmp_path):
    info, plan, chunks = cut_all(mpeg4_file, tmp_path, 10)
    assert not any(c.copied for c in chunks)
    assert sum(c.duration for c in chunks) == pytest.approx(info.duration, abs=0.5)
    assert media.codecs(chunks[0].path) == ["h264", "aac"]


@pytest.mark.parametrize("source", ["h264_file", "mpeg4_file"])
def test_the_final_mp4_plays(source, request, tmp_path):
    src = request.getfixturevalue(source)
    info, plan, chunks = cut_all(src, tmp_path, 10)
    final = tmp_path / "final.mp4"
    concat_segments([c.path for c in chunks], out=final)
    assert media.duration(final) == pytest.approx(info.duration, abs=0.5)
    # Decode every frame: errors would make ffmpeg exit non-zero.
    subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-xerror", "-i", str(final), "-f", "null", "-"], check=True, timeout=120
    )
    # faststart: the moov atom comes before mdat.
    head = final.read_bytes()[:4096]
    assert head.find(b"moov") != -1


def test_a_second_run_keeps_finished_chunks(h264_file, tmp_path):
    _, _, first = cut_all(h264_file, tmp_path, 10)
    stamps = [c.path.stat().st_mtime_ns for c in first]
    _, _, again = cut_all(h264_file, tmp_path, 10)
    assert [c.path.stat().st_mtime_ns for c in again] == stamps
    assert not list(tmp_path.glob(".*tmp*"))


def test_it_notices_a_file_whose_data_stops_early(tmp_path):
    # moov first (faststart), then cut the data in half: the header still says 20 s.
    src = tmp_path / "fast.mp4"
    media.ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine",
        "-t",
        "20",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "25",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-movflags",
        "+faststart",
        "-shortest",
        str(src),
    )
    cut = tmp_path / "cut.mp4"
    data = src.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.45)])
    with pytest.raises(MediaError) as info:
        cut_all(cut, tmp_path / "out", 5)
    assert "ends early" in info.value.message or "could not read the video between" in info.value.message


def test_a_video_without_sound_is_cut_without_an_audio_track(tmp_path):
    src = media.video_only(tmp_path / "silent.mp4", seconds=12)
    info, plan, chunks = cut_all(src, tmp_path / "out", 10)
    assert not info.has_audio
    assert all(media.codecs(c.path) == ["h264"] for c in chunks)
    final = tmp_path / "final.mp4"
    concat_segments([c.path for c in chunks], out=final)
    assert media.duration(final) == pytest.approx(12, abs=0.5)


def test_a_copied_chunks_thumbnail_is_its_first_picture(tmp_path):
    # The thumbnail of a copied chunk is taken from the source beside the cut (so the chunk is not kept
    # waiting for it): it must be the chunk's own first picture, here with B-frames, 29.97 fps and a late audio
    # start (a non-zero start time).
    from media_pipeline.render.chunk import _thumbnail

    src = media.marked(tmp_path / "b.mp4", seconds=12, rate="30000/1001", audio_delay=0.3)
    info, plan, chunks = cut_all(src, tmp_path / "out", 4)
    assert len(chunks) >= 2 and all(c.copied for c in chunks)
    for chunk in chunks:
        own = tmp_path / f"own-{chunk.index}.jpg"
        _thumbnail(chunk.path, own, at=None, ffmpeg_bin="ffmpeg", cancel=None)
        assert frame_hashes(chunk.thumbnail) == frame_hashes(own)
