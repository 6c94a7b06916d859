"""probe refuses what is not a real audio/video container, with a sentence, and never crashes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from media_pipeline.errors import MediaError
from media_pipeline.probe import Limits, probe

from . import media


def refused(path, limits=Limits()) -> str:
    with pytest.raises(MediaError) as info:
        probe(path, limits=limits)
    message = info.value.message
    assert message.endswith(".") and "Traceback" not in message
    return message


def test_it_describes_a_browser_playable_file(h264_file):
    info = probe(h264_file, limits=Limits())
    assert info.video_codec == "h264" and info.video_copyable
    assert info.audio_codec == "aac"
    assert (info.width, info.height) == (320, 240)
    assert abs(info.duration - 25) < 0.2


def test_it_marks_mpeg4_part2_as_not_copyable(mpeg4_file):
    info = probe(mpeg4_file, limits=Limits())
    assert info.video_codec == "mpeg4" and not info.video_copyable


def test_it_refuses_an_hls_playlist_renamed_mp4_that_points_at_a_local_file(tmp_path, h264_file):
    playlist = tmp_path / "evil.mp4"
    playlist.write_text(
        f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{h264_file}\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
    )
    assert "not a video we can read" in refused(playlist)


def test_it_refuses_an_ffconcat_list(tmp_path, h264_file):
    listing = tmp_path / "list.mp4"
    listing.write_text(f"ffconcat version 1.0\nfile '{h264_file}'\nfile '/etc/passwd'\n")
    assert "not a video we can read" in refused(listing)


def test_it_refuses_zero_bytes(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert "empty" in refused(empty)


def test_it_refuses_random_bytes(tmp_path):
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(os.urandom(200_000))
    assert "not a video we can read" in refused(noise)


def test_it_refuses_a_truncated_mp4(tmp_path, h264_file):
    cut = tmp_path / "cut.mp4"
    data = h264_file.read_bytes()
    cut.write_bytes(data[: len(data) // 2])  # moov atom is at the end: it is gone
    assert "not a video we can read" in refused(cut)


def test_it_handles_a_hostile_file_name(tmp_path, h264_file):
    weird = tmp_path / "../../x;rm -rf ~.mp4"
    weird = tmp_path / "x;rm -rf ~ $(id).mp4"
    weird.write_bytes(h264_file.read_bytes())
    assert probe(weird, limits=Limits()).video_codec == "h264"


def test_it_refuses_audio_only(tmp_path):
    assert "no video track" in refused(media.audio_only(tmp_path / "a.m4a"))


@pytest.mark.parametrize(
    "limits, words",
    [
        (Limits(max_duration=10), "long; the limit is 0:10"),
        (Limits(max_width=160), "320×240; the largest we process is 160×2304"),
        (Limits(max_fps=10), "25 frames per second; the limit is 10"),
        (Limits(max_streams=1), "2 streams; the limit is 1"),
    ],
)
def test_it_enforces_limits(h264_file, limits, words):
    assert words in refused(h264_file, limits)


# Probes the file in a process of its own, so ru_maxrss of its children is ffprobe's alone.
PROBE_AND_MEASURE = """
import json, resource, sys
from pathlib import Path
from media_pipeline.errors import MediaError
from media_pipeline.probe import Limits, probe

try:
    probe(Path(sys.argv[1]), limits=Limits())
    message = None
except MediaError as exc:
    message = exc.message
print(json.dumps({"message": message, "peak_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


@pytest.mark.parametrize("declared", [None, 16], ids=["declared-in-the-header", "header-understates-it"])
def test_it_refuses_a_huge_picture_without_taking_the_memory_to_decode_it(tmp_path, declared):
    src = media.huge_png_mov(tmp_path / "huge.mov", declared=declared)  # 2 MB; 1.5 GB once decoded
    assert src.stat().st_size < 5_000_000
    out = subprocess.run(
        [sys.executable, "-c", PROBE_AND_MEASURE, str(src)],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        check=True,
        timeout=120,
    )
    result = json.loads(out.stdout)
    assert result["message"] == "The video is 16000×16000; the largest we process is 4096×2304."
    assert result["peak_kb"] < 300 * 1024, f"ffprobe peaked at {result['peak_kb'] // 1024} MB"


def counted_runs(monkeypatch, *, fail_full_pass: bool = False) -> list[list[str]]:
    """Record every ffprobe `probe` starts; with `fail_full_pass`, the full pass fails as if ffprobe had hit
    its memory cap (the header pass runs for real)."""
    import media_pipeline.probe as probe_module
    from media_pipeline.process import ProcessFailed

    real = probe_module.run
    calls: list[list[str]] = []

    def run(argv, **kwargs):
        calls.append(list(argv))
        if fail_full_pass and "-nofind_stream_info" not in argv:
            raise ProcessFailed("ffprobe", -9, "[png @ 0x0] get_buffer() failed")
        return real(argv, **kwargs)

    monkeypatch.setattr(probe_module, "run", run)
    return calls


def test_a_good_file_takes_one_ffprobe(h264_file, monkeypatch):
    calls = counted_runs(monkeypatch)
    assert probe(h264_file, limits=Limits()).video_copyable
    assert len(calls) == 1
    assert "-nofind_stream_info" not in calls[0] and "-analyzeduration" in calls[0]


def test_a_huge_picture_the_full_pass_reports_takes_one_ffprobe(tmp_path, monkeypatch):
    # The full pass runs under the memory cap and still reads the picture size: check() refuses it.
    src = media.huge_png_mov(tmp_path / "huge.mov")
    calls = counted_runs(monkeypatch)
    assert refused(src) == "The video is 16000×16000; the largest we process is 4096×2304."
    assert len(calls) == 1


def test_when_the_full_pass_fails_on_a_huge_picture_the_headers_say_why(tmp_path, monkeypatch):
    # A decompression bomb that makes the capped full pass fail outright: the header pass explains it.
    src = media.huge_png_mov(tmp_path / "huge.mov")
    calls = counted_runs(monkeypatch, fail_full_pass=True)
    with pytest.raises(MediaError) as info:
        probe(src, limits=Limits())
    assert info.value.message == "The video is 16000×16000; the largest we process is 4096×2304."
    assert "get_buffer() failed" in info.value.detail
    assert [("-nofind_stream_info" in argv) for argv in calls] == [False, True]


def test_when_the_headers_do_not_explain_the_failure_it_stands(tmp_path, monkeypatch):
    # Headers that understate the picture (16×16) explain nothing: the full pass's failure is what is said.
    src = media.huge_png_mov(tmp_path / "huge16.mov", declared=16)
    counted_runs(monkeypatch, fail_full_pass=True)
    assert "not a video we can read" in refused(src)


def test_an_unreadable_file_is_refused_after_both_passes(tmp_path, monkeypatch):
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(os.urandom(200_000))
    calls = counted_runs(monkeypatch)
    assert "not a video we can read" in refused(noise)
    assert len(calls) == 2


def test_a_cancel_during_the_full_pass_is_not_explained(h264_file, monkeypatch):
    import media_pipeline.probe as probe_module
    from media_pipeline.errors import Cancelled
    from media_pipeline.process import Signal

    stop = Signal()
    real = probe_module.run
    calls: list[list[str]] = []

    def run(argv, **kwargs):
        calls.append(list(argv))
        stop.set()  # the user cancels while ffprobe runs
        return real(argv, **kwargs)

    monkeypatch.setattr(probe_module, "run", run)
    with pytest.raises(Cancelled):
        probe(h264_file, limits=Limits(), cancel=stop)
    assert len(calls) == 1
